"""Injectable time: everything that waits takes a ``Clock``, so tests never really wait."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """What a waiting loop needs: the time now, a clock for deadlines, a way to let time pass.

    ``manual`` says whether time moves only when slept on: a driver of many loops
    (``pollers.Pollers``) with nothing left to run lets such a clock's time pass to the next
    loop's due time (sleeps on it) instead of waiting for it.
    """

    manual: bool

    def now(self) -> float:
        """Seconds since the epoch (wall time), so it means the same across processes."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (deadlines are measured on it, not on wall time)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        ...


@dataclass(frozen=True)
class RealClock:
    """The machine's clock."""

    manual = False

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when slept on: ``sleep(5)`` returns at once, 5 s later.

    Thread-safe, so a simulator thread and a polling thread can share one.
    """

    manual = True

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    monotonic = now  # it only moves forward, and only when slept on

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._now += max(0.0, seconds)

    advance = sleep


REAL_CLOCK = RealClock()
