"""Many poll loops on a few threads: one scheduler and a small pool of workers, on one clock.

A poll loop (``polling.watch_steps``) asks for a ``Pause`` wherever it would sleep. Watching 200
generations with a thread each meant 200 threads taking turns at the one GIL, each sleep and
each socket wait a hand-over: the app's threads switched about four times as often per
generation as a bare Gradio app's (measured in ``benchmarks/RESULTS.md``, "CPU per generation").
Here the pauses wait in one heap: the scheduler hands each loop whose pause is over to a worker,
which runs it to its next pause. A worker blocks only for an exchange with the API, which the
client's timeouts and the loop's deadline bound, so a loop waits for a worker no longer than
another's exchange takes; a download (which the loop announces with ``Apart``) runs on a thread
of its own, so a slow video link never holds the others' polls.

Pauses are measured on the pollers' clock (``clock.py``), the loops' own: every loop, in tests
and in production, runs on this one driver. On a real clock the scheduler waits for the next due
time; on a manual clock (a test's ``ManualClock``), time moves only when slept on, so once no
step is running the scheduler sleeps on the clock to the next due time: a test never really
waits, and never hangs on a time that nobody would make pass. The threads are daemons: a process
that exits (Ctrl-C, a closed app) does not wait for its jobs, which stay in the ledger to be
resumed. They leave when there is nothing to do, and come back with the next loop.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .clock import REAL_CLOCK, Clock
from .intervals import IDLE_CHECK, STOP_CHECK, WORKER_LINGER

log = logging.getLogger(__name__)

#: Workers running loops' steps at once: enough for the exchanges in flight with a slow API
#: (200 jobs polled every 2 s at 0.3 s an exchange keep about 30 busy).
WORKERS = 32

T = TypeVar("T")


@dataclass(frozen=True)
class Pause:
    """A wait the poll loop asks for between two steps (see ``polling.watch_steps``)."""

    seconds: float


@dataclass(frozen=True)
class Apart:
    """Said by the poll loop before a step that may hold its thread long (the download): the
    driver runs it on a thread of its own, so other loops' polls do not wait."""


@dataclass(eq=False)
class _Loop(Generic[T]):
    steps: Iterator[T | Pause | Apart]
    on_update: Callable[[T], None]
    on_end: Callable[[BaseException | None], None]
    #: A loop followed one step at a time (``Pollers.follow``) rests after each update until
    #: its follower asks for the next.
    paced: bool = False


@dataclass(order=True)
class _Due:
    at: float
    order: int
    loop: _Loop = field(compare=False)
    #: The pause asked for, and when (a manual clock lets exactly this pass when it can).
    seconds: float = field(compare=False, default=0.0)
    asked_at: float = field(compare=False, default=0.0)


@dataclass(frozen=True)
class _End:
    error: BaseException | None


class Pollers:
    """Drives poll loops on ``clock``: ``run`` hands one over, its updates and its end come by
    callback; ``follow`` hands one over and yields its updates to the caller as it asks."""

    def __init__(self, clock: Clock = REAL_CLOCK, *, workers: int = WORKERS) -> None:
        self.clock = clock
        self._due: list[_Due] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._scheduler: threading.Thread | None = None
        #: Steps submitted or running (a download's thread included): on a manual clock, time is
        #: let pass only when none is.
        self._busy = 0
        self._work: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._most = workers
        self._workers = 0
        self._idle = 0
        self._count = threading.Lock()

    def run(
        self,
        steps: Iterator[T | Pause | Apart],
        on_update: Callable[[T], None],
        on_end: Callable[[BaseException | None], None],
    ) -> None:
        """Start driving ``steps`` now. ``on_update`` gets every update (in a worker);
        ``on_end`` is called once, with the exception that ended the loop or None."""
        loop = _Loop(steps, on_update, on_end)
        self._submit(lambda: self._step(loop))

    def follow(
        self, steps: Iterator[T | Pause | Apart], *, stop: threading.Event | None = None
    ) -> Iterator[T]:
        """Drive ``steps`` and yield their updates here, one at a time: the loop goes on only
        when the next is asked for, as a plain generator would, and closing this closes it.
        Raises what ended the loop. ``stop``: once set, a pause in course ends at once (the
        loop sees the stop at its next step)."""
        box: queue.SimpleQueue[T | _End] = queue.SimpleQueue()
        loop = _Loop(steps, box.put, lambda exc: box.put(_End(exc)), paced=True)
        ended = False
        try:
            self._submit(lambda: self._step(loop))
            while True:
                item = self._take(box, loop, stop)
                if isinstance(item, _End):
                    ended = True
                    if item.error is not None:
                        raise item.error
                    return
                yield item
                self._submit(lambda: self._step(loop))
        finally:
            if not ended:  # the follower left early: the loop rests, so it can be closed here
                self._drop(loop)
                loop.steps.close()  # type: ignore[attr-defined]

    def call(self, work: Callable[[], object]) -> None:
        """Run ``work`` in a worker (a create request, before its loop is handed over)."""
        self._submit(work)

    # --- the scheduler ------------------------------------------------------------------------

    def _later(self, seconds: float, loop: _Loop) -> None:
        with self._changed:
            now = self.clock.monotonic()
            due = _Due(now + seconds, next(self._order), loop, seconds, now)
            heapq.heappush(self._due, due)
            if self._scheduler is None:
                self._scheduler = threading.Thread(
                    target=self._schedule, name="pixverse-poll-scheduler", daemon=True
                )
                self._scheduler.start()
            self._changed.notify_all()

    def _schedule(self) -> None:
        while True:
            with self._changed:
                loop = self._next_due()
                if loop is None:  # nothing waits: the next pause starts a scheduler again
                    self._scheduler = None
                    return
            self._submit(lambda loop=loop: self._step(loop))

    def _next_due(self) -> _Loop | None:
        """The next loop whose pause is over, once one is (called holding ``_changed``)."""
        while self._due:
            head = self._due[0]
            now = self.clock.monotonic()
            if head.at <= now:
                return heapq.heappop(self._due).loop
            if not self.clock.manual:
                self._changed.wait(min(head.at - now, IDLE_CHECK))
            elif self._busy == 0:  # every loop waits: let the clock's time pass to the next
                self.clock.sleep(head.seconds if now == head.asked_at else head.at - now)
            else:  # a step is running; it says when it ends
                self._changed.wait(IDLE_CHECK)
        return None

    def _wake(self, loop: _Loop) -> None:
        """End ``loop``'s pause now, if it is pausing."""
        with self._changed:
            for due in self._due:
                if due.loop is loop:
                    due.at = -1.0
                    heapq.heapify(self._due)
                    self._changed.notify_all()
                    return

    def _drop(self, loop: _Loop) -> None:
        """Forget ``loop``'s pause, if it is pausing (its follower has left)."""
        with self._changed:
            self._due = [due for due in self._due if due.loop is not loop]
            heapq.heapify(self._due)

    def _take(
        self, box: queue.SimpleQueue[T | _End], loop: _Loop, stop: threading.Event | None
    ) -> T | _End:
        """The loop's next update or end, waking its pause once ``stop`` is set."""
        if stop is None:
            return box.get()
        while True:
            try:
                return box.get(timeout=STOP_CHECK)
            except queue.Empty:
                if stop.is_set():
                    self._wake(loop)

    # --- the workers --------------------------------------------------------------------------

    def _submit(self, work: Callable[[], object]) -> None:
        """Queue ``work`` for a worker; start one more when none is idle, up to the most."""
        with self._changed:
            self._busy += 1
        with self._count:
            if self._idle == 0 and self._workers < self._most:
                self._workers += 1
                threading.Thread(
                    target=self._serve, name=f"pixverse-poll-{self._workers}", daemon=True
                ).start()
        self._work.put(work)

    def _done(self) -> None:
        with self._changed:
            self._busy -= 1
            self._changed.notify_all()

    def _serve(self) -> None:
        while True:
            with self._count:
                self._idle += 1
            try:
                work = self._work.get(timeout=WORKER_LINGER)
            except queue.Empty:
                with self._count:
                    self._idle -= 1
                    if self._work.empty():  # nothing came: leave (``_submit`` starts another)
                        self._workers -= 1
                        return
                continue
            with self._count:
                self._idle -= 1
            try:
                work()
            except BaseException:  # noqa: BLE001 - a worker outlives whatever its work raised
                log.exception("a poller's work failed")
            finally:
                self._done()

    def _step(self, loop: _Loop) -> None:
        """Run ``loop`` to its next pause (then hand it back to the scheduler) or its end; a
        paced loop rests after each update, until its follower asks for the next."""
        try:
            for step in loop.steps:
                if isinstance(step, Pause):
                    self._later(step.seconds, loop)
                    return
                if isinstance(step, Apart):  # a download: its own thread, not a poll worker's
                    self._apart(loop)
                    return
                loop.on_update(step)
                if loop.paced:
                    return
        except BaseException as exc:  # noqa: BLE001 - the loop's end, whatever it is, is reported
            loop.on_end(exc)
            return
        loop.on_end(None)

    def _apart(self, loop: _Loop) -> None:
        with self._changed:
            self._busy += 1

        def download() -> None:
            try:
                self._step(loop)
            finally:
                self._done()

        threading.Thread(target=download, name="pixverse-download", daemon=True).start()


_pollers = Pollers()
#: Pollers of other clocks (a test's ``ManualClock`` each), while they have loops to drive.
_by_clock: weakref.WeakValueDictionary[int, Pollers] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def pollers(clock: Clock = REAL_CLOCK) -> Pollers:
    """The pollers of ``clock`` in this process: one for the real clock, one per other clock."""
    if not clock.manual:
        return _pollers
    with _lock:  # a pollers holds its clock, so a live entry's id is its clock's own
        found = _by_clock.get(id(clock))
        if found is None:
            found = _by_clock[id(clock)] = Pollers(clock)
        return found
