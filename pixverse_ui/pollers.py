"""Many poll loops on a few threads: one scheduler and a small pool of workers.

A poll loop (``polling.watch_steps``) asks for a ``Pause`` wherever it would sleep. Watching 200
generations with a thread each meant 200 threads taking turns at the one GIL, each sleep and
each socket wait a hand-over: the app's threads switched about four times as often per
generation as a bare Gradio app's (measured in ``benchmarks/RESULTS.md``, "CPU per generation").
Here the pauses wait in one heap: the scheduler hands each loop whose pause is over to a worker,
which runs it to its next pause. A worker blocks only for an exchange with the API, which the
client's timeouts and the loop's deadline bound, so a loop waits for a worker no longer than
another's exchange takes; a download (which the loop announces with ``Apart``) runs on a thread
of its own, so a slow video link never holds the others' polls.

Pauses are measured on the real monotonic clock: a loop on an injected clock (a test's
``ManualClock``) is driven by ``polling.watch`` in a thread of its own instead. The threads are
daemons, as the watchers' threads were: a process that exits (Ctrl-C, a closed app) does not wait
for its jobs, which stay in the ledger to be resumed.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .polling import Apart, Pause, Update

log = logging.getLogger(__name__)

#: Workers running loops' steps at once: enough for the exchanges in flight with a slow API
#: (200 jobs polled every 2 s at 0.3 s an exchange keep about 30 busy).
WORKERS = 32
#: The scheduler looks again at least this often, even with nothing due (every wait is bounded).
IDLE_CHECK = 60.0


@dataclass(eq=False)
class _Loop:
    steps: Iterator[Update | Pause | Apart]
    on_update: Callable[[Update], None]
    on_end: Callable[[BaseException | None], None]


@dataclass(order=True)
class _Due:
    at: float
    order: int
    loop: _Loop = field(compare=False)


class Pollers:
    """Drives poll loops: ``run`` hands one over; its updates and its end come by callback."""

    def __init__(self, *, workers: int = WORKERS) -> None:
        self._due: list[_Due] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._scheduler: threading.Thread | None = None
        self._work: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._most = workers
        self._workers = 0
        self._idle = 0
        self._count = threading.Lock()

    def run(
        self,
        steps: Iterator[Update | Pause | Apart],
        on_update: Callable[[Update], None],
        on_end: Callable[[BaseException | None], None],
    ) -> None:
        """Start driving ``steps`` now. ``on_update`` gets every ``Update`` (in a worker);
        ``on_end`` is called once, with the exception that ended the loop or None."""
        loop = _Loop(steps, on_update, on_end)
        self._submit(lambda: self._step(loop))

    def call(self, work: Callable[[], object]) -> None:
        """Run ``work`` in a worker (a create request, before its loop is handed over)."""
        self._submit(work)

    def _later(self, seconds: float, loop: _Loop) -> None:
        with self._changed:
            heapq.heappush(self._due, _Due(time.monotonic() + seconds, next(self._order), loop))
            if self._scheduler is None:
                self._scheduler = threading.Thread(
                    target=self._schedule, name="pixverse-poll-scheduler", daemon=True
                )
                self._scheduler.start()
            self._changed.notify()

    def _schedule(self) -> None:
        while True:
            with self._changed:
                while True:
                    now = time.monotonic()
                    if self._due and self._due[0].at <= now:
                        loop = heapq.heappop(self._due).loop
                        break
                    wait = self._due[0].at - now if self._due else IDLE_CHECK
                    self._changed.wait(min(wait, IDLE_CHECK))
            self._submit(lambda loop=loop: self._step(loop))

    def _submit(self, work: Callable[[], object]) -> None:
        """Queue ``work`` for a worker; start one more when none is idle, up to the most."""
        with self._count:
            if self._idle == 0 and self._workers < self._most:
                self._workers += 1
                threading.Thread(
                    target=self._serve, name=f"pixverse-poll-{self._workers}", daemon=True
                ).start()
        self._work.put(work)

    def _serve(self) -> None:
        while True:
            with self._count:
                self._idle += 1
            try:
                work = self._work.get(timeout=IDLE_CHECK)
            except queue.Empty:
                continue
            finally:
                with self._count:
                    self._idle -= 1
            try:
                work()
            except BaseException:  # noqa: BLE001 - a worker outlives whatever its work raised
                log.exception("a poller's work failed")

    def _step(self, loop: _Loop) -> None:
        """Run ``loop`` to its next pause (then hand it back to the scheduler) or its end."""
        try:
            for step in loop.steps:
                if isinstance(step, Pause):
                    self._later(step.seconds, loop)
                    return
                if isinstance(step, Apart):  # a download: its own thread, not a poll worker's
                    threading.Thread(
                        target=self._step, args=(loop,), name="pixverse-download", daemon=True
                    ).start()
                    return
                loop.on_update(step)
        except BaseException as exc:  # noqa: BLE001 - the loop's end, whatever it is, is reported
            loop.on_end(exc)
            return
        loop.on_end(None)


_pollers: Pollers | None = None
_pollers_lock = threading.Lock()


def pollers() -> Pollers:
    """The process's pollers, made on first use."""
    global _pollers
    with _pollers_lock:
        if _pollers is None:
            _pollers = Pollers()
        return _pollers
