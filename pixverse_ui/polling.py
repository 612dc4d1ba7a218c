"""The one poll loop: ``watch()`` yields ``Update``s from a generation id to a video on disk.

It never builds an HTTP request (the client does) and never waits without a bound: one overall
deadline, on the clock's monotonic time, bounds the polls, the transport's retries and their
waits, and the download itself; transient faults are absorbed and shown until then, and at the
deadline the job is kept in the ledger to be resumed, never thrown away.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import errors
from .client import LAST_LOOK, Client, JobState
from .clock import Clock
from .estimates import Estimate, estimate_for
from .intervals import MIN_REAL_INTERVAL
from .lifecycle import READY, STOPPED, Status, describe
from .names import safe_name
from .outcome import Generation
from .params import (
    FAILURE_STATUSES,
    RUNNING_STATUSES,
    SUCCESS_STATUSES,
    TERMINAL_STATUSES,
    Params,
    seed_named_in,
)
from .pollers import Apart, Pause, pollers
from .pricing import Cost, is_simulated
from .store import JobRecord, Ledger, Recorder

log = logging.getLogger(__name__)

#: Our overall deadline for one watch, well past the provider's example (1000 s).
DEFAULT_TIMEOUT = 1200.0
#: Attempts at the download itself (an expired link is fetched anew from the API each time).
DOWNLOAD_ATTEMPTS = 3


@dataclass(frozen=True)
class LearntPolls:
    """How ``PollSchedule`` asks once the estimate is learnt (``source == "history"``): its median
    and spread then come from this endpoint's own finished jobs, so the window can be as wide as
    the endings really scatter and the polls dense where most of them fall.

    Inside the ``core`` quantiles of the estimate a wait is ``core_wait``; in the rest of the
    ``band`` quantiles, ``band_wait`` (short enough that a job ending there is seen within 2 s,
    whatever the jitter draws). Before the band each wait reaches for its start, at most ``reach``
    at a time; after it the waits stretch toward the schedule's ceiling.
    """

    # measured in benchmarks/RESULTS.md ("Polls dense where a learnt estimate says the job ends"):
    # p50 0.76 s, p90 1.77 s at 0.34x the GETs of a 2 s loop with ten finished jobs of history
    core: tuple[float, float] = (0.33, 0.67)
    core_wait: float = 1.05
    band: tuple[float, float] = (0.09, 0.91)
    band_wait: float = 1.7
    reach: float = 20.0

    def scaled(self, time_scale: float) -> LearntPolls:
        """The same waits for an endpoint that runs ``time_scale`` times faster."""
        return replace(
            self,
            core_wait=max(MIN_REAL_INTERVAL, self.core_wait / time_scale),
            band_wait=max(MIN_REAL_INTERVAL, self.band_wait / time_scale),
            reach=max(MIN_REAL_INTERVAL, self.reach / time_scale),
        )


@dataclass(frozen=True)
class PollSchedule:
    """When to ask next: sparse while the job cannot be done yet, dense around its likely end.

    With no history (a ``prior`` estimate, which may be far off): before the likely window (the
    estimate's ``window`` quantiles), each wait covers ``approach`` of the gap to the window
    (capped by the ceiling); inside it the wait is ``dense``; past it the waits stretch again
    toward the ceiling. One more rule holds over it all: a job that ends between ``early_from``
    and 1x its expected time is seen within max(``early_min``, ``early`` x its running time),
    whatever the jitter draws.

    With history the estimate has been learnt from this endpoint's own jobs and its spread
    measured, so the window alone is trusted and ``learnt`` shapes it (see ``LearntPolls``).
    Jitter keeps many clients apart in both.
    """

    floor: float = 1.0
    ceiling: float = 15.0
    # dense, window and approach: measured in benchmarks/RESULTS.md ("Polling that notices early
    # finishes"): p50 0.58 s at 0.61x the GETs of a 2 s loop with no history (the early rule
    # included)
    dense: float = 1.05
    window: tuple[float, float] = (0.25, 0.75)
    approach: float = 0.65
    stretch: float = 0.25
    jitter: float = 0.1
    early: float = 0.15
    early_min: float = 1.5
    early_from: float = 0.1
    learnt: LearntPolls = LearntPolls()

    def scaled(self, time_scale: float) -> PollSchedule:
        """The same schedule for an endpoint that runs ``time_scale`` times faster."""
        if time_scale == 1.0:
            return self
        return replace(
            self,
            floor=max(MIN_REAL_INTERVAL, self.floor / time_scale),
            ceiling=max(MIN_REAL_INTERVAL, self.ceiling / time_scale),
            dense=max(MIN_REAL_INTERVAL, self.dense / time_scale),
            early_min=self.early_min / time_scale,
            learnt=self.learnt.scaled(time_scale),
        )

    def interval(self, elapsed: float, estimate: Estimate, rng: random.Random) -> float:
        """Seconds to wait after a poll at ``elapsed`` seconds since the job was created."""
        if estimate.source != "prior":
            return self._learnt_wait(elapsed, estimate, rng)
        start, end = (estimate.quantile(q) for q in self.window)
        if elapsed < start:
            wait = min(self.ceiling, max(self.dense, (start - elapsed) * self.approach))
        elif elapsed <= end:
            wait = self.dense
        else:
            wait = self.dense + (elapsed - end) * self.stretch
        # divided by the widest jitter, so no draw can carry the next poll past the bound
        wait = min(wait, self.early_bound(elapsed, estimate.median) / (1.0 + self.jitter))
        wait *= 1.0 + rng.uniform(-self.jitter, self.jitter)
        return min(self.ceiling, max(self.floor, wait))

    def _learnt_wait(self, elapsed: float, estimate: Estimate, rng: random.Random) -> float:
        """``interval`` with a learnt estimate (see ``LearntPolls``)."""
        learnt = self.learnt
        band_start, band_end = (estimate.quantile(q) for q in learnt.band)
        core_start, core_end = (estimate.quantile(q) for q in learnt.core)
        jitter = 1.0 + rng.uniform(-self.jitter, self.jitter)
        longest = self.ceiling
        if elapsed < band_start:  # one reach at a time, landing on the band's start
            wait = min(learnt.reach, max(learnt.band_wait, band_start - elapsed)) * jitter
            longest = max(self.ceiling, learnt.reach)
        elif elapsed < core_start:  # never a band wait reaching further into the core than its own
            wait = min(learnt.band_wait * jitter, core_start - elapsed + learnt.core_wait * jitter)
        elif elapsed <= core_end:
            wait = learnt.core_wait * jitter
        elif elapsed <= band_end:
            wait = learnt.band_wait * jitter
        else:
            wait = (learnt.band_wait + (elapsed - band_end) * self.stretch) * jitter
        return min(longest, max(self.floor, wait))

    def early_bound(self, elapsed: float, expected: float) -> float:
        """The longest wait after a poll at ``elapsed`` that still sees any job ending from
        ``early_from`` to 1x ``expected`` within max(``early_min``, ``early`` x its time)."""
        if elapsed >= expected:
            return float("inf")
        first = self.early_from * expected
        # before ``first`` the next poll may land no later than the bound of a job ending at it
        return max(0.0, first - elapsed) + max(self.early_min, self.early * max(elapsed, first))


@dataclass(frozen=True)
class Update:
    """One step of a generation as a person would follow it: the :class:`Generation` it is
    about as the step saw it, and what only a step has (elapsed, ETA, message, polls, a passing
    fault). The generation's id, the provider's word, its cost and its video are read from it
    (``generation_id``, ``status``, ``credits_used``... stay as properties), so a step's cost is
    worded as the generation's. ``status`` is what the API said (its provider status, as it
    said it; ``""`` before it has said one: never a word of ours); :attr:`state` is where the job
    is in its lifecycle."""

    generation: Generation
    elapsed: float
    eta: float | None
    message: str
    polls: int
    done: bool = False
    transient: bool = False
    stopped: bool = False

    @classmethod
    def step(
        cls,
        generation_id: str,
        status: str,
        elapsed: float,
        eta: float | None,
        credits_used: float | None,
        message: str,
        polls: int,
        video_url: str | None = None,
        video_path: Path | None = None,
        *,
        done: bool = False,
        transient: bool = False,
        stopped: bool = False,
        usd_spent: float | None = None,
        simulated: bool = False,
    ) -> Update:
        """A step of a job known by its id and what the API has said of it (a test's, or a
        watch's before it knows more)."""
        made = Generation(
            id=generation_id,
            client_request_id="",
            status=Status.DONE if done else Status.RUNNING,
            provider_status=status or None,
            params=None,
            video_path=video_path,
            video_url=video_url,
            credits_used=credits_used,
            seconds=None,
            usd_spent=usd_spent,
            simulated=simulated,
        )
        return cls(made, elapsed, eta, message, polls, done, transient, stopped)

    @property
    def generation_id(self) -> str:
        """The id the job is followed by (:attr:`Generation.id`)."""
        return self.generation.id

    @property
    def status(self) -> str:
        """The provider's word as it said it; ``""`` before it has said one."""
        return self.generation.provider_status or ""

    @property
    def credits_used(self) -> float | None:
        return self.generation.credits_used

    @property
    def usd_spent(self) -> float | None:
        """The dollars the API said the job cost, when it said them."""
        return self.generation.usd_spent

    @property
    def video_url(self) -> str | None:
        return self.generation.video_url

    @property
    def video_path(self) -> Path | None:
        return self.generation.video_path

    @property
    def simulated(self) -> bool:
        """The job runs on the built-in simulator: its money is pretend."""
        return self.generation.simulated

    @property
    def cost(self) -> Cost | None:
        """What the API has said the job costs so far (None while it has said nothing)."""
        return self.generation.cost

    def cost_words(self) -> str:
        """What the job costs so far, in the words every face uses: the generation's own
        (``Generation.cost_words``, worded by ``pricing.cost_words``)."""
        return self.generation.cost_words()

    @property
    def word(self) -> str:
        """The status a face shows: the provider's word as it said it, and before it has said
        one the state's own word (``running``), never stored as the provider's."""
        return self.status or self.state.word

    @property
    def state(self) -> Status:
        """``done`` once the video is on disk; until then ``running`` (a job that fails ends
        its updates with an error, not with an update)."""
        return Status.DONE if self.done else Status.RUNNING

    @classmethod
    def of(cls, generation: Generation, message: str, **step: Any) -> Update:
        """A step told of ``generation`` as the ledger has it (a job over already, a note before
        its watcher's first update); ``step`` the rest (``elapsed``, ``done``...)."""
        fields: dict[str, Any] = {"elapsed": generation.seconds or 0.0, "eta": None, "polls": 0}
        return cls(generation, message=message, **{**fields, **step})

    @property
    def progress(self) -> float:
        """A rough 0..1 for a progress bar: time spent over time expected."""
        if self.done:
            return 1.0
        if self.eta is None:
            return 0.99 if self.elapsed > 0 else 0.0
        total = self.elapsed + self.eta
        return min(0.99, self.elapsed / total) if total > 0 else 0.0


def video_filename(generation_id: str) -> str:
    """The file name of a generation's video: its id made a plain name (``names.safe_name``)."""
    return safe_name(generation_id) + ".mp4"


@dataclass(frozen=True)
class Known:
    """What the caller knows of a job as its watch starts, so the loop reads none of it back
    from the ledger: its shape (``params``; None for a job known by its id alone), when the API
    took it, its credits so far, and ``created``, the create request's answer when the job was
    made just now (its status is the first update, and its ``poll_after``, if it said one, the
    first wait)."""

    params: Params | None = None
    created_at: float | None = None
    credits_used: float | None = None
    created: JobState | None = None
    #: The dollars the API said the job cost, when it said them.
    usd_spent: float | None = None
    #: The name the ledger knows the job by ("" for a job it never saw).
    client_request_id: str = ""

    @classmethod
    def of(cls, record: JobRecord | None) -> Known:
        """What the ledger knows of a job (nothing, for a job it never saw)."""
        if record is None:
            return cls()
        made = Generation.from_record(record)
        return cls(
            made.params,
            made.submitted_at or made.created_at,
            made.credits_used,
            usd_spent=made.usd_spent,
            client_request_id=made.client_request_id,
        )


def watch(
    generation_id: str,
    *,
    client: Client,
    download_dir: str | Path,
    ledger: Ledger | None = None,
    known: Known | None = None,
    estimate: Estimate | None = None,
    created_at: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    schedule: PollSchedule = PollSchedule(),
    clock: Clock | None = None,
    rng: random.Random | None = None,
    stop: threading.Event | None = None,
    on_update: Callable[[Update], None] | None = None,
    created: JobState | None = None,
) -> Iterator[Update]:
    """Poll a generation until its video is on disk, yielding an ``Update`` at every step.

    Raises ``GenerationFailedError`` when the provider fails the job, ``GenerationTimeoutError``
    at the deadline (after one last look, so a finished job is never thrown away), and the
    client's non-transient errors (a bad key, an unknown id). With ``stop`` set, the watching
    ends with a ``stopped`` update; the job itself goes on and stays resumable.

    ``known``: what the caller knows of the job (see ``Known``); without it, it is read from the
    ledger. ``created`` (the create request's answer, when the job was made just now) and
    ``created_at`` stand for theirs in it.

    The loop runs on the pollers of its clock (``pollers.Pollers.follow``), as every watched job
    does, one step each time the next update is asked for.
    """
    known = known or Known.of(ledger.find(generation_id) if ledger is not None else None)
    if created is not None:
        known = replace(known, created=created, credits_used=created.credits_used)
    if created_at is not None:
        known = replace(known, created_at=created_at)
    loop = _Loop.start(
        generation_id, client, ledger, known, estimate=estimate, timeout=timeout, clock=clock
    )
    loop.stop = stop
    steps = loop.steps(Path(download_dir), schedule, rng or random.Random())
    for update in pollers(loop.clock).follow(steps, stop=stop):
        if on_update:
            on_update(update)
        yield update


def watch_steps(
    generation_id: str,
    *,
    client: Client,
    download_dir: str | Path,
    known: Known,
    ledger: Ledger | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    schedule: PollSchedule = PollSchedule(),
    rng: random.Random | None = None,
    stop: threading.Event | None = None,
) -> Iterator[Update | Pause | Apart]:
    """``watch`` as steps, for the driver of many loops (``pollers.Pollers``): the ``Update``s,
    a ``Pause`` wherever it waits, and ``Apart`` before the download. Its driver lets each pause
    pass on the client's clock before asking for the next step, from whichever thread; nothing
    is read or sent before the first step, and what ``known`` says is not read again. ``stop``:
    once set, the watch ends at its next step with a ``stopped`` update (the job goes on)."""
    loop = _Loop.start(generation_id, client, ledger, known, timeout=timeout)
    loop.stop = stop
    yield from loop.steps(Path(download_dir), schedule, rng or random.Random())


class _Loop:
    """The state of one watch; its two phases are the poll loop and the download."""

    def __init__(
        self,
        generation_id: str,
        client: Client,
        *,
        recorder: Recorder,
        known: Known,
        estimate: Estimate,
        clock: Clock,
        deadline: float,
    ) -> None:
        self.gid = generation_id
        self.client = client
        #: What the watch writes to the ledger goes through it (``store.Recorder``).
        self.recorder = recorder
        self.estimate = estimate
        self.clock = clock
        self.created_at = known.created_at if known.created_at is not None else clock.now()
        #: The create request's answer, when the job was made just now.
        self.created = known.created
        self.params = known.params
        self.crid = known.client_request_id
        self.stop: threading.Event | None = None
        #: When the watch gives up, on ``clock.monotonic()``.
        self.deadline = deadline
        self.polls = 0
        self.faults = 0
        self.state: JobState | None = None
        #: The last credits figure the API gave, on create or on any poll, and its dollars.
        self.credits = known.credits_used
        self.usd = known.created.usd_spent if known.created is not None else known.usd_spent

    @classmethod
    def start(
        cls,
        generation_id: str,
        client: Client,
        ledger: Ledger | None,
        known: Known,
        *,
        estimate: Estimate | None = None,
        timeout: float,
        clock: Clock | None = None,
    ) -> _Loop:
        """A watch of ``generation_id`` from now, of a job as ``known`` says."""
        clock = clock or client.clock
        if estimate is None:
            shape = known.params or Params("")  # a job known by its id alone: a typical shape
            estimate = estimate_for(
                shape.resolution,
                shape.duration,
                ledger,
                endpoint=client.label,
                time_scale=client.time_scale,
                aspect_ratio=shape.frame_ratio,
            )
        return cls(
            generation_id,
            client,
            recorder=Recorder(ledger, generation_id),
            known=known,
            estimate=estimate,
            clock=clock,
            deadline=clock.monotonic() + timeout,
        )

    def steps(
        self,
        folder: Path,
        schedule: PollSchedule,
        rng: random.Random,
    ) -> Iterator[Update | Pause | Apart]:
        """The whole watch: poll to a terminal status, then download; a stop ends it early.

        With the create request's answer (just now), its status is the first update and the
        first GET waits for its ``poll_after`` or the schedule: asking at once would only hear
        it again.
        """
        schedule = schedule.scaled(self.client.time_scale)
        created = self.created
        if created is not None:
            self.state = created
        if created is not None and created.kind in TERMINAL_STATUSES:
            self._terminal()  # raises for a failure; a video made at once is fetched
        else:
            if created is not None:
                yield self._update(describe(created.status))
                hint = created.poll_after
                yield Pause(
                    hint if hint else schedule.interval(self._elapsed(), self.estimate, rng)
                )
            for step in self.poll_until_terminal(schedule, rng):
                yield step
                if isinstance(step, Update) and step.stopped:
                    return
        yield from self.fetch_video(folder, schedule, rng)

    # --- phase 1: poll until a terminal status --------------------------------------------------

    def poll_until_terminal(
        self, schedule: PollSchedule, rng: random.Random
    ) -> Iterator[Update | Pause | Apart]:
        while True:
            if self._stopped():
                self.recorder.write()
                yield self._update(STOPPED, stopped=True)
                return
            fault = self._poll()
            if fault is None and self.state is not None and self._terminal():
                return
            if fault is not None:
                yield self._update(f"{_sentence(fault)} Still watching.", transient=True)
                wait = _fault_wait(self.faults, fault, rng, schedule.ceiling)
            else:
                yield self._update(describe(self.state.status if self.state else None))
                hint = self.state.poll_after if self.state else None
                wait = hint if hint else schedule.interval(self._elapsed(), self.estimate, rng)
            remaining = self._left()
            if remaining <= 0:  # the last poll was at the deadline: the job is still running
                self.recorder.write()
                raise errors.GenerationTimeoutError(
                    f"Stopped waiting after {self._elapsed():.0f} s; the job was still "
                    f"{_word(self.state)}.",
                    generation_id=self.gid,
                )
            # sleeping no further than the deadline makes the next poll a last look at it
            yield Pause(min(wait, remaining))

    def _poll(self) -> errors.PixVerseError | None:
        """One GET. Returns a transient fault to report, or None; raises what is not transient."""
        self.polls += 1
        self.recorder.count_poll()  # counted in the ledger with the next write, not one write each
        try:
            state = self.client.retrieve(self.gid, deadline=self.deadline)
        except errors.TRANSIENT_ERRORS as exc:
            self.faults += 1
            return exc
        except errors.BadRequestError as exc:
            if exc.status_code == 404:
                self.recorder.write(
                    state=Status.FAILED, finding="not_found", error=exc.user_message
                )
            raise
        self.faults = 0
        previous = self.state.status if self.state else None
        self.state = state
        changes: dict[str, object] = {}
        if state.credits_used is not None and state.credits_used != self.credits:
            self.credits = changes["credits_used"] = state.credits_used
        if state.usd_spent is not None:
            self.usd = state.usd_spent
        if state.status != previous:
            changes["status"] = state.status
            if state.kind in RUNNING_STATUSES - {"queued", "waiting"}:
                changes["started_at"] = self.clock.now()
        if state.kind in TERMINAL_STATUSES:
            self.recorder.later(**changes)  # written with the job's end, which comes next
        elif changes:
            self.recorder.write(**changes)
        return None

    def _terminal(self) -> bool:
        assert self.state is not None
        if self.state.kind in FAILURE_STATUSES:
            words = self.state.error_message
            self.recorder.write(
                state=Status.FAILED, finished_at=self.clock.now(), error=words or "failed"
            )
            raise errors.GenerationFailedError(
                "The provider could not make this video",
                generation_id=self.gid,
                provider_message=words,
            )
        if self.state.kind in SUCCESS_STATUSES:
            url = self.state.video_url
            self.recorder.write(
                finished_at=self.clock.now(), video_url=url, provider_seed=seed_named_in(url)
            )
            return True
        return False

    # --- phase 2: download -----------------------------------------------------------------------

    def fetch_video(
        self, folder: Path, schedule: PollSchedule, rng: random.Random
    ) -> Iterator[Update | Pause | Apart]:
        dest = folder / video_filename(self.gid)
        attempt = 0
        while True:
            assert self.state is not None
            url = self.state.video_url
            attempt += 1
            if url:
                yield self._update("Downloading the video")
                yield Apart()
                try:
                    # a video that is ready at the deadline still gets the last look's moment
                    until = max(self.deadline, self.clock.monotonic() + LAST_LOOK)
                    path = self.client.download(url, dest, deadline=until)
                except errors.DownloadError as exc:
                    exc.generation_id = self.gid
                    self.recorder.write(error=exc.user_message)
                    out_of_time = self._left() <= 0
                    if not exc.retryable or attempt >= DOWNLOAD_ATTEMPTS or out_of_time:
                        raise
                    yield self._update(
                        f"{exc.message} Asking the API for a fresh link.", transient=True
                    )
                else:
                    self.recorder.write(state=Status.DONE, video_path=str(path), error=None)
                    yield self._update(READY, video_path=path, done=True)
                    return
            elif attempt >= DOWNLOAD_ATTEMPTS or self._left() <= 0:
                raise errors.ServerError(
                    "The job finished but the API gave no link to the video",
                    generation_id=self.gid,
                    hint="It is kept in the ledger; `pixverse-ui resume` asks again.",
                )
            pause = schedule.floor * (1.0 + rng.random())
            yield Pause(min(pause, max(0.0, self._left())))
            fault = self._poll()
            if fault is not None:
                yield self._update(f"{_sentence(fault)} Still trying.", transient=True)

    # --- helpers -----------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return max(0.0, self.clock.now() - self.created_at)

    def _left(self) -> float:
        """Seconds to the deadline (negative past it)."""
        return self.deadline - self.clock.monotonic()

    def _stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def _update(
        self, message: str, *, video_path: Path | None = None, done: bool = False, **extra: Any
    ) -> Update:
        state = self.state
        elapsed = self._elapsed()
        eta = self.estimate.median - elapsed
        made = Generation(
            id=self.gid,
            client_request_id=self.crid,
            status=Status.DONE if done else Status.RUNNING,
            provider_status=(state.status or None) if state else None,
            params=self.params,
            video_path=video_path,
            video_url=state.video_url if state else None,
            credits_used=self.credits,
            seconds=None,
            usd_spent=self.usd,
            simulated=is_simulated(self.client.label),
            submitted_at=self.created_at,
        )
        return Update(
            made,
            elapsed=elapsed,
            eta=eta if eta > 0 else None,
            message=message,
            polls=self.polls,
            done=done,
            **extra,
        )


def _word(state: JobState | None) -> str:
    """How a job was last heard of, for a sentence: the provider's word as it said it."""
    if state is None:
        return "unreachable"
    return state.status or "without a status from the API"


def _fault_wait(faults: int, fault: errors.PixVerseError, rng: random.Random, cap: float) -> float:
    after = getattr(fault, "retry_after", None)
    if after:
        return min(float(after), 4 * cap)
    return min(cap, 2.0 ** min(faults, 6)) * (0.5 + rng.random() / 2)


def _sentence(fault: errors.PixVerseError) -> str:
    """What went wrong, in the provider's words where it gave some, without the generic hint."""
    text = fault.message.rstrip(".") + "."
    if fault.provider_message and fault.provider_message not in text:
        text += f" The API said: “{fault.provider_message}”."
    return text
