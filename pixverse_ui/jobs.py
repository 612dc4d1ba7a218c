"""Generations watched in the background: one watcher per generation id in the process.

``Watchers`` (the process's one is :func:`watchers`) runs each generation's poll loop on the
process's pollers (``pollers.py``: one scheduler and a few workers for every job, not a thread
each; a loop on an injected clock runs ``polling.watch`` in a thread of its own) and keeps every
``Update`` in a ``Job``. Whoever asks
for the same id, the page, a history refresh, ``resume``, an MCP agent or a notebook, gets that
``Job`` instead of a second loop: looking an id up and registering it happen under one lock, and a
new generation is registered under its id *before* the ledger marks it running, so nothing that
reads the ledger can start a watcher in between. Closing a tab or pressing Stop ends the
following, never the job, whose video still lands on disk and in the ledger.

A ``Job`` is also the handle the library hands out (``pixverse_ui.submit``, ``pixverse_ui.job``),
as fal's and replicate's clients do: ``.id``, ``.status``, ``.updates()``, ``.wait()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import errors
from .budget import Budget
from .client import Client, JobState
from .clock import RealClock
from .outcome import Generation
from .params import Params, validate
from .pollers import pollers
from .polling import DEFAULT_TIMEOUT, Update, watch, watch_steps
from .store import DONE, FAILED, JobRecord, Ledger
from .submission import create_job

log = logging.getLogger(__name__)

#: The longest an event-loop follower waits before looking again (it is woken on news anyway).
FOLLOW_STEP = 5.0
#: How often a follower with a stop event looks at it.
STOP_CHECK = 0.25
#: Finished jobs remembered for late followers, beyond which the oldest are forgotten.
KEEP_FINISHED = 2000


@dataclass(eq=False)
class Job:
    """One generation as its watcher reports it: every ``Update`` so far, then its end."""

    params: Params | None
    owner: str
    ledger: Ledger
    batch: str | None = None
    client_request_id: str | None = None
    generation_id: str | None = None
    history: list[Update] = field(default_factory=list)
    error: errors.PixVerseError | None = None
    finished: bool = False
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    #: The event loops following in ``aupdates``.
    _waiters: list[_Waiter] = field(default_factory=list, repr=False)

    @property
    def id(self) -> str | None:
        """The generation id, once the API has given it."""
        return self.generation_id

    @property
    def last(self) -> Update | None:
        """The latest update, if any."""
        return self.history[-1] if self.history else None

    @property
    def status(self) -> str:
        """The latest status word: ``submitting`` until the API answers, then the provider's."""
        if self.error is not None and self.last is None:
            return "refused"
        return self.last.status if self.last else "submitting"

    def updates(
        self, *, timeout: float | None = None, stop: threading.Event | None = None
    ) -> Iterator[Update]:
        """Every update, from the first, as it comes; raises the job's error at the end.

        ``timeout`` bounds the wait for each next update (``TimeoutError`` past it; the job's
        own deadline bounds the whole). With ``stop`` set, the following ends with a ``stopped``
        update; the job goes on.
        """
        seen = 0
        while True:
            give_up = None if timeout is None else time.monotonic() + timeout
            with self._changed:
                while len(self.history) == seen and not self.finished:
                    if stop is not None and stop.is_set():
                        break
                    left = None if give_up is None else give_up - time.monotonic()
                    if left is not None and left <= 0:
                        raise TimeoutError("no news from the job in time")
                    if stop is not None:
                        left = STOP_CHECK if left is None else min(left, STOP_CHECK)
                    self._changed.wait(left)
                fresh, finished, error = self.history[seen:], self.finished, self.error
            seen += len(fresh)
            yield from fresh
            if finished and seen == len(self.history):
                if error is not None:
                    raise error
                return
            if stop is not None and stop.is_set():
                yield self._stopped()
                return

    async def aupdates(
        self, step: float = FOLLOW_STEP, *, news: Callable[[Update], object] | None = None
    ) -> AsyncIterator[Update]:
        """``updates`` for event loops: no thread is held while waiting, and the loop is woken
        when news comes (``step`` bounds each wait all the same).

        ``news``: what the follower shows of an update. The loop is then woken only when that
        changes (and at the end); the updates in between still come, with the next.
        """
        seen = 0
        waiter = _Waiter(asyncio.get_running_loop(), asyncio.Event(), news)
        with self._changed:
            self._waiters.append(waiter)
        try:
            while True:
                waiter.event.clear()
                fresh, finished, error = self.history[seen:], self.finished, self.error
                seen += len(fresh)
                for update in fresh:
                    yield update
                if finished and seen == len(self.history):
                    if error is not None:
                        raise error
                    return
                if not fresh:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(waiter.event.wait(), step)
        finally:
            with self._changed:
                self._waiters.remove(waiter)

    def wait(
        self,
        timeout: float | None = None,
        *,
        on_update: Callable[[Update], None] | None = None,
    ) -> Generation:
        """Follow the job to its end and return its ``Generation``; raises what ended it.

        ``timeout`` bounds the wait for each next update, as in :meth:`updates`.
        """
        for update in self.updates(timeout=timeout):
            if on_update:
                on_update(update)
        return self.outcome()

    def outcome(self) -> Generation:
        """What the ledger says of the job now, with the video the watcher saved, if any."""
        ident = self.generation_id or self.client_request_id
        record = self.ledger.find(ident) if ident else None
        last = self.last
        if record is None:
            return Generation(
                id=self.generation_id,
                client_request_id=self.client_request_id or "",
                state="unknown",
                status=last.status if last else "unknown",
                params=self.params,
                video_path=last.video_path if last else None,
                video_url=last.video_url if last else None,
                credits_used=last.credits_used if last else None,
                seconds=None,
                error=self.error.user_message if self.error else None,
            )
        generation = Generation.from_record(record)
        if last is not None and last.done and generation.video_path is None:
            generation = replace(generation, video_path=last.video_path, state="done")
        return generation

    def _stopped(self) -> Update:
        base = self.last or Update(
            generation_id=self.generation_id or "",
            status="submitting",
            elapsed=0.0,
            eta=None,
            credits_used=None,
            message="",
            polls=0,
        )
        return replace(
            base, message="Stopped watching. The job goes on; resume it any time.", stopped=True
        )

    def _settle(self, record: JobRecord) -> None:
        """End this job as the ledger says it ended (done or failed), with no watcher."""
        if record.state == DONE:
            self._push(
                Update(
                    generation_id=record.generation_id or "",
                    status=record.status,
                    elapsed=record.render_seconds or 0.0,
                    eta=None,
                    credits_used=record.credits_used,
                    message="Your video is ready.",
                    polls=record.polls,
                    video_url=record.video_url,
                    video_path=Path(record.video_path) if record.video_path else None,
                    done=True,
                )
            )
            self._finish()
        else:
            self._finish(
                errors.GenerationFailedError(
                    "The provider could not make this video",
                    generation_id=record.generation_id,
                    provider_message=record.error,
                )
            )

    def _push(self, update: Update) -> None:
        with self._changed:
            self.history.append(update)
            self._notify()

    def _finish(self, error: errors.PixVerseError | None = None) -> None:
        with self._changed:
            self.error = error
            self.finished = True
            self._notify()

    def _notify(self) -> None:
        """Wake the followers: threads on the condition, event loops through their events (only
        for news: each wake-up of a loop is a system call and a turn of it)."""
        self._changed.notify_all()
        for waiter in self._waiters:
            if waiter.news is not None and not self.finished and self.history:
                shown = waiter.news(self.history[-1])
                if shown == waiter.shown:
                    continue
                waiter.shown = shown
            with contextlib.suppress(RuntimeError):  # that loop has closed
                waiter.loop.call_soon_threadsafe(waiter.event.set)


@dataclass(eq=False)
class _Waiter:
    """An event loop following a job, and what it was last woken for."""

    loop: asyncio.AbstractEventLoop
    event: asyncio.Event
    news: Callable[[Update], object] | None = None
    shown: object = None


class Watchers:
    """The watchers of one process, by generation id: at most one running per id."""

    def __init__(self, *, keep: int = KEEP_FINISHED) -> None:
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        #: Watchers started per generation id, over the life of the process (tests count them).
        self.started: Counter[str] = Counter()

    def submit(
        self,
        params: Params,
        client: Client,
        ledger: Ledger,
        download_dir: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        owner: str | None = None,
        batch: str | None = None,
        client_request_id: str | None = None,
        budget: Budget | None = None,
    ) -> Job:
        """Record and POST ``params`` in this thread, then watch in the background.

        Returns once the API has answered with an id; its refusals (and ``budget``'s) raise here.
        """
        job = self._new_job(params, client, ledger, owner, batch, client_request_id)
        created = self._create(job, client, budget)
        self._start_watching(job, client, download_dir, timeout, created)
        return job

    def start(
        self,
        params: Params,
        client: Client,
        ledger: Ledger,
        download_dir: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        owner: str | None = None,
        batch: str | None = None,
        budget: Budget | None = None,
    ) -> Job:
        """``submit`` in the background: returns at once; a refusal ends the ``Job``."""
        job = self._new_job(params, client, ledger, owner, batch, None)

        def run() -> None:
            try:
                created = self._create(job, client, budget)
            except Exception:  # noqa: BLE001 - the job has ended with a sentence; nothing to add
                return
            self._start_watching(job, client, download_dir, timeout, created)

        if _on_pollers(client):
            pollers().call(run)
        else:
            threading.Thread(target=run, name="pixverse-submit", daemon=True).start()
        return job

    def attach(
        self,
        generation_id: str,
        client: Client,
        ledger: Ledger,
        download_dir: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        again: bool = True,
    ) -> Job:
        """The watcher of ``generation_id``: the running one, else a new one.

        A watcher that has ended (a failure, a timeout) is started again when ``again``;
        otherwise its ``Job`` is returned as it ended.
        """
        record = ledger.find(generation_id)
        params = None
        if record is not None and not record.adopted:
            body = record.request
            params = validate(body.pop("prompt"), let_server_decide=True, **body)
        with self._lock:
            known = self._jobs.get(generation_id)
            if known is not None and not (again and known.finished and _unfinished(known)):
                return known
            job = Job(
                params=params,
                owner=record.owner if record else ledger.owner_of(client.owner_key),
                ledger=ledger,
                batch=record.batch if record else None,
                client_request_id=record.client_request_id if record else None,
                generation_id=generation_id,
            )
            if record is not None and record.state in (DONE, FAILED):
                job._settle(record)  # over already: its handle needs no watcher
                return job
            self._remember(generation_id, job)
        self._start_watching(job, client, download_dir, timeout)
        return job

    def get(self, generation_id: str) -> Job | None:
        """The job watched (or last watched) for ``generation_id`` in this process, if any."""
        with self._lock:
            return self._jobs.get(generation_id)

    def active(self) -> list[Job]:
        """Jobs still being watched."""
        with self._lock:
            return [job for job in self._jobs.values() if not job.finished]

    # --- internals --------------------------------------------------------------------------------

    def _new_job(
        self,
        params: Params,
        client: Client,
        ledger: Ledger,
        owner: str | None,
        batch: str | None,
        client_request_id: str | None,
    ) -> Job:
        return Job(
            params=params,
            owner=owner or ledger.owner_of(client.owner_key),
            ledger=ledger,
            batch=batch,
            client_request_id=client_request_id or client.new_request_id(),
        )

    def _create(self, job: Job, client: Client, budget: Budget | None = None) -> JobState:
        """Record and POST ``job``'s request; a failure ends the job (and is raised). Returns
        the create request's answer, as the ledger has it."""
        assert job.params is not None
        try:
            record = create_job(
                job.params,
                client=client,
                ledger=job.ledger,
                batch=job.batch,
                owner=job.owner,
                client_request_id=job.client_request_id,
                claim=lambda gid: self._claim(gid, job),
                budget=budget,
            )
        except errors.PixVerseError as exc:
            job._finish(exc)
            raise
        except BaseException as exc:
            job._finish(errors.PixVerseError(f"Unexpected failure: {type(exc).__name__}"))
            raise
        if record.error:  # the ledger could not take the id: say where it is kept
            job._push(_note(record, client, record.error))
        assert record.generation_id is not None
        return JobState(record.generation_id, record.status, credits_used=record.credits_used)

    def _claim(self, generation_id: str, job: Job) -> None:
        """Register a new generation under its id, before the ledger shows it as running."""
        with self._lock:
            job.generation_id = generation_id
            self._remember(generation_id, job)

    def _remember(self, generation_id: str, job: Job) -> None:
        self._jobs[generation_id] = job
        self.started[generation_id] += 1
        if len(self._jobs) > self.keep:
            finished = [k for k, j in self._jobs.items() if j.finished]
            for old in finished[: max(1, self.keep // 10)]:
                del self._jobs[old]

    def _start_watching(
        self,
        job: Job,
        client: Client,
        download_dir: str | Path,
        timeout: float,
        created: JobState | None = None,
    ) -> None:
        """Watch ``job``: on the process's pollers, or (an injected clock) in a thread.
        ``created``: the create request's answer, when the job was made just now."""
        assert job.generation_id is not None
        how: dict[str, Any] = {
            "client": client,
            "ledger": job.ledger,
            "download_dir": download_dir,
            "timeout": timeout,
            "created": created,
        }
        if _on_pollers(client):
            steps = watch_steps(job.generation_id, **how)
            pollers().run(steps, job._push, lambda exc: _ended(job, exc))
            return
        threading.Thread(
            target=self._follow_watch, args=(job, how), name="pixverse-watch", daemon=True
        ).start()

    def _follow_watch(self, job: Job, how: dict[str, Any]) -> None:
        """Run the poll loop for ``job`` in this thread (``how``: ``watch``'s arguments),
        keeping every update in it."""
        assert job.generation_id is not None
        try:
            for update in watch(job.generation_id, **how):
                job._push(update)
        except BaseException as exc:
            _ended(job, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            _ended(job, None)


def _on_pollers(client: Client) -> bool:
    """Whether ``client``'s jobs are watched on the shared pollers: those on the real clock."""
    return isinstance(client.clock, RealClock)


def _ended(job: Job, exc: BaseException | None) -> None:
    """End ``job`` as its poll loop ended: done, with its error, or with a sentence for a bug
    or an interrupt (followers must never wait for ever)."""
    if exc is None:
        job._finish()
    elif isinstance(exc, errors.PixVerseError):
        job._finish(exc)
    elif isinstance(exc, Exception):
        log.error("the watcher of %s failed", job.generation_id, exc_info=exc)
        job._finish(errors.PixVerseError(f"Unexpected failure: {type(exc).__name__}"))
    else:
        job._finish(
            errors.PixVerseError(
                "Stopped watching: the watcher was interrupted.",
                generation_id=job.generation_id,
                hint=f"The job goes on; `pixverse-ui resume {job.generation_id}` watches it again.",
            )
        )


_watchers = Watchers()


def watchers() -> Watchers:
    """The process's watchers: every generation id is watched by one of them at most."""
    return _watchers


class JobRunner:
    """What an app or a notebook batch needs of the watchers: its ledger, folder and timeout."""

    def __init__(
        self,
        ledger: Ledger,
        download_dir: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        hub: Watchers | None = None,
    ) -> None:
        self.ledger = ledger
        self.download_dir = Path(download_dir)
        self.timeout = timeout
        self.hub = hub or watchers()

    def start(
        self,
        params: Params,
        client: Client,
        *,
        batch: str | None = None,
        owner: str | None = None,
        budget: Budget | None = None,
    ) -> Job:
        """Submit and watch ``params`` in the background; returns at once.

        ``owner`` is whose history shows the job (default: the client's key's); a start over
        ``budget`` ends the job with a ``BudgetError`` before anything is sent.
        """
        return self.hub.start(
            params,
            client,
            self.ledger,
            self.download_dir,
            timeout=self.timeout,
            owner=owner,
            batch=batch,
            budget=budget,
        )

    def resume(self, generation_id: str, client: Client, *, again: bool = True) -> Job:
        """Watch an unfinished job in the background, attaching to its watcher if it has one."""
        return self.hub.attach(
            generation_id,
            client,
            self.ledger,
            self.download_dir,
            timeout=self.timeout,
            again=again,
        )

    def get(self, generation_id: str) -> Job | None:
        """The job watched for ``generation_id`` in this process, if any."""
        return self.hub.get(generation_id)

    def active(self) -> list[Job]:
        """Jobs still being watched."""
        return self.hub.active()


def _unfinished(job: Job) -> bool:
    """Whether a job whose watcher has ended is still running at the provider: its watcher gave
    up (a deadline, a download that never came), rather than seeing it done or failed."""
    return job.error is not None and not isinstance(job.error, errors.GenerationFailedError)


def _note(record: JobRecord, client: Client, message: str) -> Update:
    """An update that tells something before the watcher's first."""
    return Update(
        generation_id=record.generation_id or "",
        status=record.status,
        elapsed=max(0.0, client.clock.now() - (record.submitted_at or record.created_at)),
        eta=None,
        credits_used=record.credits_used,
        message=message,
        polls=0,
        transient=True,
    )
