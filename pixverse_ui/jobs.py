"""Generations and their handles: one way in (``Jobs.submit``), one watcher per generation id.

``Jobs`` is the service under every way in (the module-level ``pixverse_ui.submit``, ``job``,
``generate`` and ``resume``, the page, the CLI, notebooks): its client, ledger, videos folder and
budget. ``submit`` records and POSTs a generation, has it watched in the background, and returns
its ``Job`` once the API has given it an id; ``get`` hands back the job of any id. A ``Job`` is a
read-only handle, as fal's and replicate's clients give one: ``.id``, ``.status`` (a
``lifecycle.Status``), ``.provider_status``, ``.updates()``, ``.wait(timeout=)``, ``.reload()``.

The process's watchers (:func:`watchers`) keep at most one watcher per generation id: whoever asks
for the same id, the page, a history refresh, ``resume``, an MCP agent or a notebook, gets that
``Job`` instead of a second loop. Looking an id up and registering it happen under one lock, and
a new generation is registered under its id *before* the ledger marks it running, so nothing that
reads the ledger can start a watcher in between. Each watcher runs its poll loop on the pollers
of its client's clock (``pollers.py``: one driver, whatever the clock) and writes what it sees
into its job's ``Feed``: nothing else writes there. Closing a tab or pressing Stop ends the
following, never the job, whose video still lands on disk and in the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import errors
from .budget import Budget
from .client import Client, JobState
from .clock import Clock
from .intervals import FOLLOW_STEP, STOP_CHECK
from .lifecycle import READY, STOPPED, Status
from .outcome import Generation
from .params import Params, pick_seed
from .pollers import pollers
from .polling import DEFAULT_TIMEOUT, Known, Update, watch_steps
from .store import JobRecord, Ledger
from .submission import create_job, with_kept_image

log = logging.getLogger(__name__)

#: Finished jobs remembered for late followers, beyond which the oldest are forgotten.
KEEP_FINISHED = 2000


# --- the feed: what a watcher tells of one job ----------------------------------------------------


@dataclass(frozen=True)
class _News:
    """What a feed holds past a follower's place: the updates (each with the moment it came, on
    the feed's clock), and its end if it has ended."""

    updates: tuple[tuple[Update, float], ...]
    ended_at: float | None
    error: errors.PixVerseError | None


class Feed:
    """Every ``Update`` a watcher has seen of one job, then its end (with what ended it, if not a
    video). Written by the watcher machinery alone (``push``, ``end``); read by the job's
    followers, threads and event loops, each woken when news comes."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._updates: list[Update] = []
        #: When each update came, on ``clock.monotonic()``: a total wait is measured against it.
        self._stamps: list[float] = []
        self._ended_at: float | None = None
        self._error: errors.PixVerseError | None = None
        self._changed = threading.Condition()
        self._waiters: list[_Waiter] = []

    # --- written by the watcher -----------------------------------------------------------------

    def push(self, update: Update) -> None:
        with self._changed:
            self._updates.append(update)
            self._stamps.append(self._clock.monotonic())
            self._notify()

    def end(self, error: errors.PixVerseError | None = None) -> None:
        with self._changed:
            self._error = error
            self._ended_at = self._clock.monotonic()
            self._notify()

    # --- read by followers ------------------------------------------------------------------------

    @property
    def last(self) -> Update | None:
        with self._changed:
            return self._updates[-1] if self._updates else None

    @property
    def ended(self) -> bool:
        return self._ended_at is not None

    def mark(self) -> tuple[int, bool]:
        """Where the feed is now: how many updates, and whether it has ended."""
        with self._changed:
            return len(self._updates), self._ended_at is not None

    @property
    def error(self) -> errors.PixVerseError | None:
        return self._error

    def news(
        self, seen: int, *, until: float | None = None, stop: threading.Event | None = None
    ) -> _News:
        """What came after the first ``seen`` updates, once something has (or the feed has
        ended, ``stop`` is set, or the clock has passed ``until``)."""
        with self._changed:
            while len(self._updates) == seen and self._ended_at is None:
                if stop is not None and stop.is_set():
                    break
                wait = None if until is None else until - self._clock.monotonic()
                if wait is not None and wait <= 0:
                    break
                if stop is not None:
                    wait = STOP_CHECK if wait is None else min(wait, STOP_CHECK)
                self._changed.wait(wait)
            fresh = tuple(zip(self._updates[seen:], self._stamps[seen:], strict=True))
            return _News(fresh, self._ended_at, self._error)

    async def afollow(
        self, step: float, news: Callable[[Update], object] | None
    ) -> AsyncIterator[Update]:
        """Every update for an event loop (see :meth:`Job.aupdates`)."""
        seen = 0
        waiter = _Waiter(asyncio.get_running_loop(), asyncio.Event(), news)
        with self._changed:
            self._waiters.append(waiter)
        try:
            while True:
                waiter.event.clear()
                with self._changed:
                    fresh, ended, error = self._updates[seen:], self.ended, self._error
                seen += len(fresh)
                for update in fresh:
                    yield update
                if ended and not fresh:
                    if error is not None:
                        raise error
                    return
                if not fresh:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(waiter.event.wait(), step)
        finally:
            with self._changed:
                self._waiters.remove(waiter)

    def _notify(self) -> None:
        """Wake the followers: threads on the condition, event loops through their events (only
        for news: each wake-up of a loop is a system call and a turn of it)."""
        self._changed.notify_all()
        for waiter in self._waiters:
            if waiter.news is not None and self._ended_at is None and self._updates:
                shown = waiter.news(self._updates[-1])
                if shown == waiter.shown:
                    continue
                waiter.shown = shown
            with contextlib.suppress(RuntimeError):  # that loop has closed
                waiter.loop.call_soon_threadsafe(waiter.event.set)


async def any_news(jobs: Sequence[Job], since: Sequence[tuple[int, bool]], bound: float) -> None:
    """Return once one of ``jobs`` has news past ``since`` (their ``mark()`` taken before), or
    after ``bound`` seconds: how an event loop follows several jobs at once."""
    event = asyncio.Event()
    with _woken_by(jobs, _Waiter(asyncio.get_running_loop(), event)):
        if _moved(jobs, since):
            return  # news came before the waiter was in place
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), bound)


def wait_any_news(jobs: Sequence[Job], since: Sequence[tuple[int, bool]], bound: float) -> None:
    """:func:`any_news` for a thread (the notebook's and the terminal's batch tables)."""
    event = threading.Event()
    with _woken_by(jobs, _Waiter(_AtOnce(), event)):  # type: ignore[arg-type]
        if not _moved(jobs, since):
            event.wait(bound)


def _moved(jobs: Sequence[Job], since: Sequence[tuple[int, bool]]) -> bool:
    return any(job.mark() != mark for job, mark in zip(jobs, since, strict=True))


@contextlib.contextmanager
def _woken_by(jobs: Sequence[Job], waiter: _Waiter) -> Iterator[None]:
    """``waiter`` is woken by every news of every feed of ``jobs`` while the block runs."""
    feeds = [job._feed for job in jobs]
    for feed in feeds:
        with feed._changed:
            feed._waiters.append(waiter)
    try:
        yield
    finally:
        for feed in feeds:
            with feed._changed:
                feed._waiters.remove(waiter)


class _AtOnce:
    """Stands in for an event loop where a thread waits: news runs its callback at once."""

    def call_soon_threadsafe(self, callback: Callable[[], object]) -> None:
        callback()


@dataclass(eq=False)
class _Waiter:
    """An event loop following a job, and what it was last woken for."""

    loop: asyncio.AbstractEventLoop
    event: asyncio.Event
    news: Callable[[Update], object] | None = None
    shown: object = None


# --- the handle -----------------------------------------------------------------------------------


class Job:
    """One generation, as its watcher reports it and the ledger records it. Read-only: its
    watcher writes its feed, the poll loop the ledger.

    ``status`` is where the job is in its lifecycle, as the ledger says; ``provider_status``
    what the API last said of it. ``updates()`` and ``aupdates()`` follow it, ``wait()`` to its
    end, and ``reload()`` reads the ledger again.
    """

    __slots__ = (
        "_ledger", "_clock", "_params", "_crid", "_gid", "_feed", "_record", "_read", "_client",
        "_follow", "_cancel",
    )  # fmt: skip

    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        *,
        params: Params | None,
        client_request_id: str,
        generation_id: str | None = None,
        record: JobRecord | None = None,
        client: Client | None = None,
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._params = params
        self._crid = client_request_id
        self._gid = generation_id  # set by the watchers when the API gives it (``_claim``)
        self._feed = Feed(clock)
        self._record = record
        #: Whether ``_record`` was read after the feed ended (else it is read once more).
        self._read = False
        #: The client that asks the API of it (``reload``), when it has one.
        self._client = client
        #: For a handle ``Jobs.get`` made: what starts its watcher when it is first followed.
        self._follow: Callable[[], object] | None = None
        #: Set to stop its watcher (``cancel``).
        self._cancel = threading.Event()

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.status.value}>"

    @property
    def id(self) -> str:
        """The generation id: set on every job ``Jobs.submit`` and ``Jobs.get`` return (a
        handle made before the API answered is named by its client request id until then)."""
        return self._gid or self._crid

    @property
    def client_request_id(self) -> str:
        """The name the ledger knew the job by before the API gave it an id."""
        return self._crid

    @property
    def params(self) -> Params | None:
        """What was asked; None for a generation known by its id alone (started elsewhere)."""
        return self._params

    @property
    def status(self) -> Status:
        """Where the job is in its lifecycle, as the ledger says: read when the job was made,
        once more when its watcher ends, and at every :meth:`reload`."""
        record = self._current()
        return record.state if record is not None else Status.SUBMITTING

    @property
    def provider_status(self) -> str | None:
        """What the API last said of the job (``queued``, ``generating``, ``completed``...):
        its watcher's latest word while it runs, then the ledger's; None before it said any."""
        last = self._feed.last
        if last is not None and last.status and not self._feed.ended:
            return last.status
        record = self._current()
        if record is not None and record.status:
            return record.status
        return (last.status or None) if last is not None else None

    def mark(self) -> tuple[int, bool]:
        """Where its feed is now (updates so far, ended), for :func:`any_news`."""
        return self._feed.mark()

    @property
    def last(self) -> Update | None:
        """The latest update, if any."""
        return self._feed.last

    @property
    def finished(self) -> bool:
        """Its watcher has ended: the video is on disk, or ``error`` says why not."""
        return self._feed.ended

    @property
    def error(self) -> errors.PixVerseError | None:
        """What ended the watching without a video, if anything has (see :attr:`status` for
        whether the job itself goes on)."""
        return self._feed.error

    def reload(self) -> Job:
        """Ask the API how the job is now (one GET), record what it said in the ledger (its
        provider status, and the credits if it gave them), then read the job again from the
        ledger; returns it. A job with no generation id (still sending, or unconfirmed) is only
        read again. The API's errors raise (``APIConnectionError``...); nothing is recorded."""
        if self._gid is not None and self._client is not None:
            state = self._client.retrieve(self._gid)
            self._ledger.heard(self._gid, state.status, state.credits_used)
        return self._read_ledger()

    def _read_ledger(self) -> Job:
        ended = self._feed.ended
        record = self._ledger.find(self._gid or self._crid)
        if record is not None:
            self._record = record
        self._read = ended
        return self

    def _current(self) -> JobRecord | None:
        """The ledger's row as last read, read once more after the watcher has ended."""
        if self._feed.ended and not self._read:
            self._read_ledger()
        return self._record

    def updates(
        self, *, timeout: float | None = None, stop: threading.Event | None = None
    ) -> Iterator[Update]:
        """Every update, from the first, as it comes; raises the job's error at the end.

        ``timeout``: seconds for the whole following, on the job's clock; past them
        ``errors.WaitTimeoutError`` is raised and the job goes on. With ``stop`` set, the
        following ends with a ``stopped`` update; the job goes on.
        """
        self._start_following()
        until = None if timeout is None else self._clock.monotonic() + timeout
        seen = 0
        while True:
            news = self._feed.news(seen, until=until, stop=stop)
            for update, came in news.updates:
                if until is not None and came > until:
                    raise self._late(timeout)
                seen += 1
                yield update
            if news.ended_at is not None:
                if until is not None and news.ended_at > until:
                    raise self._late(timeout)
                if news.error is not None:
                    raise news.error
                return
            if stop is not None and stop.is_set():
                yield self._stopped()
                return
            if not news.updates and until is not None and self._clock.monotonic() >= until:
                raise self._late(timeout)

    async def aupdates(
        self, step: float = FOLLOW_STEP, *, news: Callable[[Update], object] | None = None
    ) -> AsyncIterator[Update]:
        """``updates`` for event loops: no thread is held while waiting, and the loop is woken
        when news comes (``step`` bounds each wait all the same).

        ``news``: what the follower shows of an update. The loop is then woken only when that
        changes (and at the end); the updates in between still come, with the next.
        """
        await asyncio.to_thread(self._start_following)
        async for update in self._feed.afollow(step, news):
            yield update

    def wait(
        self,
        timeout: float | None = None,
        *,
        on_update: Callable[[Update], None] | None = None,
    ) -> Generation:
        """Follow the job to its end and return its ``Generation``; raises what ended it.

        ``timeout``: seconds for the whole wait (not for each update), on the job's clock; past
        them ``errors.WaitTimeoutError`` says so, with the id, and the job goes on.
        """
        for update in self.updates(timeout=timeout):
            if on_update:
                on_update(update)
        return self.outcome()

    async def async_wait(
        self,
        timeout: float | None = None,
        *,
        on_update: Callable[[Update], None] | None = None,
    ) -> Generation:
        """:meth:`wait` for event loops: no thread is held while the job runs. ``timeout``
        bounds the whole wait (real seconds); past it ``errors.WaitTimeoutError``, and the job
        goes on."""

        async def follow() -> None:
            async for update in self.aupdates():
                if on_update:
                    on_update(update)

        try:
            await asyncio.wait_for(follow(), timeout)
        except TimeoutError:
            raise self._late(timeout) from None
        return await asyncio.to_thread(self.outcome)

    def cancel(self) -> str:
        """Stop watching the job in this process, and say what that means: the provider has no
        cancel (PixVerse's API offers none), so the job goes on there and is paid for. Its
        followers end with a "stopped" update at the watcher's next step; ``pixverse-ui resume``
        (or ``pixverse_ui.resume``) fetches its video later. Returns that sentence."""
        self._cancel.set()
        self._follow = None  # a handle nobody followed yet has nothing to stop
        gid = self._gid or self._crid
        return (
            f"Stopped watching {gid}. The API has no cancel: the job goes on at the provider and "
            f"is paid for; `pixverse-ui resume {gid}` fetches its video later."
        )

    def _start_following(self) -> None:
        """Start the watcher of a handle ``Jobs.get`` made, the first time it is followed."""
        follow = self._follow
        if follow is not None:
            follow()

    def outcome(self) -> Generation:
        """The generation as the ledger has it now, with the video the watcher saved, if any.

        Its state is the ledger's: a video saved that the ledger could not record yet stays
        ``running`` there, and here, until a resume records it.
        """
        record = self._read_ledger()._record
        last = self.last
        if record is None:
            return Generation(
                id=self._gid or self._crid,
                client_request_id=self._crid,
                status=Status.SUBMITTING,
                provider_status=(last.status or None) if last else None,
                params=self._params,
                video_path=last.video_path if last else None,
                video_url=last.video_url if last else None,
                credits_used=last.credits_used if last else None,
                seconds=None,
                error=self.error.user_message if self.error else None,
                usd_spent=last.usd_spent if last else None,
                simulated=last.simulated if last else False,
            )
        generation = Generation.from_record(record)
        if last is not None and last.done and generation.video_path is None:
            generation = replace(generation, video_path=last.video_path)
        return generation

    def _late(self, timeout: float | None) -> errors.WaitTimeoutError:
        return errors.WaitTimeoutError(
            f"Stopped waiting after {timeout:g} s; the job was still "
            f"{self.provider_status or self.status.value}",
            generation_id=self._gid,
            client_request_id=self._crid,
        )

    def _stopped(self) -> Update:
        base = self.last or Update.step(self.id, "", 0.0, None, None, "", 0)
        return replace(base, message=STOPPED, stopped=True)


# --- the watchers: one per generation id ----------------------------------------------------------


class Watchers:
    """The watchers of one process, by generation id: at most one running per id."""

    def __init__(self, *, keep: int = KEEP_FINISHED) -> None:
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        #: Watchers started per generation id, over the life of the process (tests count them).
        self.started: Counter[str] = Counter()

    def attach(
        self,
        generation_id: str,
        client: Client,
        ledger: Ledger,
        folder: Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        again: bool = True,
    ) -> Job:
        """The job of ``generation_id``: the one watched, else a new watcher's (a handle
        :meth:`handle` made and nobody followed yet is the one that gets it).

        A watcher that has ended (a failure, a timeout) is started again when ``again``;
        otherwise its ``Job`` is returned as it ended.
        """
        record = ledger.find(generation_id)
        known = Known.of(record)
        with self._lock:
            watched = self._jobs.get(generation_id)
            dormant = watched is not None and watched._follow is not None
            rewatch = watched is not None and again and watched.finished and _unfinished(watched)
            if watched is not None and not dormant and not rewatch:
                return watched
            if dormant:
                job = watched
                job._follow, job._record = None, record
            else:
                job = Job(
                    ledger,
                    client.clock,
                    params=known.params,
                    client_request_id=record.client_request_id if record else generation_id,
                    generation_id=generation_id,
                    record=record,
                    client=client,
                )
            if record is not None and record.state.final:
                _settle(job, record)  # over already: its handle needs no watcher
                return job
            self._remember(generation_id, job)
        self.watch(job, client, folder, timeout, known)
        return job

    def handle(
        self, generation_id: str, client: Client, ledger: Ledger, follow: Callable[[], object]
    ) -> Job:
        """A handle on ``generation_id`` with no side effects: the one watched if any, else one
        that calls ``follow`` (which watches it) the first time it is followed."""
        record = ledger.find(generation_id)
        with self._lock:
            watched = self._jobs.get(generation_id)
            if watched is not None:
                return watched
            job = Job(
                ledger,
                client.clock,
                params=Known.of(record).params,
                client_request_id=record.client_request_id if record else generation_id,
                generation_id=generation_id,
                record=record,
                client=client,
            )
            job._follow = follow
            self._remember(generation_id, job, watching=False)  # one handle per id
            return job

    def get(self, generation_id: str) -> Job | None:
        """The job watched (or last watched) for ``generation_id`` in this process, if any."""
        with self._lock:
            return self._jobs.get(generation_id)

    def claim(self, generation_id: str, job: Job) -> None:
        """Register a new generation under its id, before the ledger shows it as running."""
        with self._lock:
            job._gid = generation_id
            self._remember(generation_id, job)

    def watch(self, job: Job, client: Client, folder: Path, timeout: float, known: Known) -> None:
        """Watch ``job`` on the pollers of its client's clock, from what is ``known`` of it."""
        assert job._gid is not None, "a job is watched once the API has given it an id"
        job._client = job._client or client
        steps = watch_steps(
            job.id,
            client=client,
            ledger=job._ledger,
            known=known,
            download_dir=folder,
            timeout=timeout,
            stop=job._cancel,
        )
        pollers(client.clock).run(steps, job._feed.push, lambda exc: _ended(job, exc))

    def _remember(self, generation_id: str, job: Job, *, watching: bool = True) -> None:
        self._jobs[generation_id] = job
        if watching:
            self.started[generation_id] += 1
        if len(self._jobs) > self.keep:  # finished ones, and handles nobody followed, go first
            idle = [k for k, j in self._jobs.items() if j.finished or j._follow is not None]
            for old in idle[: max(1, self.keep // 10)]:
                del self._jobs[old]


def _ended(job: Job, exc: BaseException | None) -> None:
    """End ``job``'s feed as its poll loop ended: done, with its error, or with a sentence for a
    bug or an interrupt (followers must never wait for ever)."""
    feed = job._feed
    if exc is None:
        feed.end()
    elif isinstance(exc, errors.PixVerseError):
        feed.end(exc)
    elif isinstance(exc, Exception):
        log.error("the watcher of %s failed", job.id, exc_info=exc)
        feed.end(errors.PixVerseError(f"Unexpected failure: {type(exc).__name__}"))
    else:
        feed.end(
            errors.PixVerseError(
                "Stopped watching: the watcher was interrupted.",
                generation_id=job._gid,
                hint=f"The job goes on; `pixverse-ui resume {job.id}` watches it again.",
            )
        )


def _settle(job: Job, record: JobRecord) -> None:
    """End ``job``'s feed as the ledger says the job ended (done or failed), with no watcher."""
    if record.state is Status.DONE:
        made = Generation.from_record(record)
        job._feed.push(Update.of(made, READY, polls=record.polls, done=True))
        job._feed.end()
    else:
        job._feed.end(
            errors.GenerationFailedError(
                "The provider could not make this video",
                generation_id=record.generation_id,
                provider_message=record.error,
            )
        )


def _unfinished(job: Job) -> bool:
    """Whether a job whose watcher has ended is still running at the provider: its watcher gave
    up (a deadline, a download that never came) or was cancelled, rather than seeing it done or
    failed."""
    if job.error is None:
        last = job.last
        return last is not None and last.stopped
    return not isinstance(job.error, errors.GenerationFailedError)


_watchers = Watchers()


def watchers() -> Watchers:
    """The process's watchers: every generation id is watched by one of them at most."""
    return _watchers


# --- the service ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Jobs:
    """Generations on one client, ledger and videos folder, within one budget: the one way in.

    ``timeout`` bounds each watch (see ``polling.DEFAULT_TIMEOUT``); ``budget`` refuses a start
    that would take today's spending over its limit (``budget.py``), before anything is recorded
    or sent. ``seeds`` picks the seed of a request that names none (it is sent and recorded).
    """

    client: Client
    ledger: Ledger
    folder: Path
    budget: Budget | None = None
    timeout: float = DEFAULT_TIMEOUT
    hub: Watchers = field(default_factory=watchers, repr=False)
    seeds: random.Random = field(default_factory=random.Random, repr=False)

    def submit(
        self,
        params: Params,
        *,
        owner: str | None = None,
        batch: str | None = None,
        client_request_id: str | None = None,
    ) -> Job:
        """Record and POST ``params``, have the job watched, and return it once the API has
        given it an id (``Job.id`` is set). The API's refusals and the budget's raise here.

        ``owner`` is whose history shows the job (default: the client's key's). A request
        without a seed gets one from ``seeds``, so that the job can be made again exactly.
        """
        if params.seed is None:
            params = replace(params, seed=pick_seed(self.seeds))  # valid as it is: no re-check
        params = with_kept_image(params, self.ledger)  # the handle holds no image's bytes
        crid = client_request_id or self.client.new_request_id()
        job = Job(
            self.ledger,
            self.client.clock,
            params=params,
            client_request_id=crid,
            client=self.client,
        )
        answers: list[JobState] = []

        def claim(answer: JobState) -> None:
            answers.append(answer)
            self.hub.claim(answer.id, job)

        try:
            record = create_job(
                params,
                client=self.client,
                ledger=self.ledger,
                batch=batch,
                owner=owner,
                client_request_id=crid,
                claim=claim,
                budget=self.budget,
            )
        except BaseException as exc:  # a job claimed already must not leave followers waiting
            _ended(job, exc)
            raise
        if record.error:  # the ledger could not take the id: say where it is kept
            job._feed.push(_note(record, self.client, record.error))
        assert record.generation_id is not None
        job._record = record
        [answer] = answers  # the create answer as the API gave it, not read back
        known = Known(
            params, record.submitted_at, answer.credits_used, answer, client_request_id=crid
        )
        self.hub.watch(job, self.client, self.folder, self.timeout, known)
        return job

    def get(self, generation_id: str) -> Job:
        """A handle on any generation by id, with no side effects, as fal's ``get_handle`` and
        replicate's ``predictions.get`` give one: nothing is sent, recorded or watched until it
        is followed (``wait``, ``updates``), which then does what :meth:`watch` does. The one
        watched in this process, if any."""
        generation_id = checked_id(generation_id)
        return self.hub.handle(
            generation_id, self.client, self.ledger, lambda: self.watch(generation_id)
        )

    def watch(self, generation_id: str, *, again: bool = True) -> Job:
        """Watch any generation by id now: the one watcher of it in this process.

        A generation this ledger has never seen (started elsewhere) is asked of the API first,
        then recorded as this key's (adopted) and watched; an id the API does not know raises,
        and nothing is recorded. ``again``: start watching again a job whose watcher gave up (a
        deadline) or was cancelled.
        """
        generation_id = checked_id(generation_id)
        record = self.ledger.find(generation_id)
        if record is not None and record.generation_id is None:
            raise errors.SubmissionUnconfirmedError(
                f"This job never got a generation id (it is {record.state})",
                client_request_id=record.client_request_id,
            )
        if record is None:
            self.client.retrieve(generation_id)  # raises if the API does not know it
            owner = self.ledger.owner_of(self.client.owner_key)
            self.ledger.adopt(generation_id, owner=owner, endpoint=self.client.label)
        gid = record.generation_id if record is not None else generation_id
        assert gid is not None
        return self.hub.attach(
            gid, self.client, self.ledger, self.folder, timeout=self.timeout, again=again
        )

    async def asubmit(self, params: Params, **kwargs: Any) -> Job:
        """:meth:`submit` for event loops: the POST runs in a worker thread."""
        return await asyncio.to_thread(self.submit, params, **kwargs)

    def watched(self, generation_id: str) -> Job | None:
        """The job watched (or last watched) for ``generation_id`` in this process, if any;
        nothing is read or started."""
        return self.hub.get(generation_id)

    def unfinished(self, owner: str | None = None) -> list[JobRecord]:
        """What this client's key left unfinished on this endpoint (``owner``'s only, if given)."""
        payer = self.ledger.owner_of(self.client.owner_key)
        return self.ledger.unfinished(owner, self.client.label, payer=payer)


def checked_id(generation_id: object) -> str:
    """A generation id as given, stripped; a ``ValidationError`` for anything else."""
    if not isinstance(generation_id, str) or not generation_id.strip():
        raise errors.ValidationError("A generation id is needed.", field="generation_id")
    return generation_id.strip()


def default_jobs(
    *,
    client: Client | None = None,
    ledger: Ledger | None = None,
    folder: str | Path | None = None,
    budget: Budget | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Jobs:
    """The library's service: the parts given, and the defaults for the rest (the host key's
    client, else the simulator's; the ledger and the videos folder under ``PIXVERSE_UI_HOME``),
    read now."""
    from .defaults import default_client, default_ledger, videos_dir

    return Jobs(
        client or default_client(),
        ledger or default_ledger(),
        Path(folder) if folder is not None else videos_dir(),
        budget,
        timeout,
    )


def _note(record: JobRecord, client: Client, message: str) -> Update:
    """An update that tells something before the watcher's first."""
    elapsed = max(0.0, client.clock.now() - (record.submitted_at or record.created_at))
    return Update.of(Generation.from_record(record), message, elapsed=elapsed, transient=True)
