"""How much one client may start on a shared key: a few jobs running at once, a few starts a
minute, counted per visitor and per network address.

A daily ceiling (``budget.py``) bounds what the host pays in a day; this bounds how fast one
client can get there, so one caller cannot spend the whole day's ceiling in a burst and leave
nothing for everyone else. It counts in memory, per process: a restart forgets the minute's
starts, which the ceiling in the ledger does not.

A client is named twice, by its visitor identity and by its address, and a start must fit under
the limits of both: a fresh browser id does not reset the address's count, and people behind one
address share its count. Starts reserve their slots under one lock before anything is recorded,
so starts made at once cannot overshoot either limit. A job counts as running until its handle
says it has finished, whether or not anyone is still watching it.
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .clock import REAL_CLOCK, Clock
from .errors import TooManyStartsError, ValidationError

MAX_RUNNING_ENV = "PIXVERSE_UI_MAX_RUNNING"
STARTS_PER_MINUTE_ENV = "PIXVERSE_UI_STARTS_PER_MINUTE"
DEFAULT_MAX_RUNNING = 2
DEFAULT_STARTS_PER_MINUTE = 4
#: The window the starts are counted over, in seconds.
WINDOW = 60.0
#: Clients remembered before the idle ones (no start in the window, nothing running) are dropped.
PRUNE_ABOVE = 1024


class Running(Protocol):
    """What the limiter needs of a started job: whether it has ended."""

    @property
    def finished(self) -> bool: ...


@dataclass(frozen=True)
class RateRule:
    """At most ``max_running`` jobs at once and ``starts_per_minute`` starts in any minute."""

    max_running: int = DEFAULT_MAX_RUNNING
    starts_per_minute: int = DEFAULT_STARTS_PER_MINUTE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RateRule:
        """``PIXVERSE_UI_MAX_RUNNING`` and ``PIXVERSE_UI_STARTS_PER_MINUTE`` (whole numbers of
        at least 1; unset: the defaults); a sentence for anything else."""
        env = os.environ if environ is None else environ
        return cls(
            _whole(env, MAX_RUNNING_ENV, DEFAULT_MAX_RUNNING),
            _whole(env, STARTS_PER_MINUTE_ENV, DEFAULT_STARTS_PER_MINUTE),
        )


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationError(
            f"{name} must be a whole number of at least 1; got {raw[:12]!r}.", field=name
        )
    return int(raw)


class _Pending:
    """A slot reserved for a job not handed over yet."""

    finished = False


@dataclass
class _Client:
    starts: deque[float] = field(default_factory=deque)
    running: list[Running] = field(default_factory=list)

    def forget_before(self, moment: float) -> None:
        while self.starts and self.starts[0] <= moment:
            self.starts.popleft()
        self.running = [job for job in self.running if not job.finished]

    @property
    def idle(self) -> bool:
        return not self.starts and not self.running


class Ticket:
    """Slots reserved by :meth:`RateLimiter.admit`: hand each started job to :meth:`hold`, and
    :meth:`close` to free the slots of jobs that never started."""

    def __init__(self, limiter: RateLimiter, names: tuple[str, ...], count: int) -> None:
        self._limiter = limiter
        self._names = names
        self._slots = [_Pending() for _ in range(count)]

    def hold(self, job: Running) -> None:
        """Count ``job`` as running in one of the reserved slots."""
        with self._limiter.lock:
            if not self._slots:
                raise RuntimeError("more jobs held than the ticket reserved")
            slot = self._slots.pop()
            for name in self._names:
                self._limiter.swap(name, slot, job)

    def close(self) -> None:
        """Free the slots no job was handed to (their starts still count for the minute)."""
        with self._limiter.lock:
            for slot in self._slots:
                slot.finished = True  # type: ignore[misc]
            self._slots.clear()

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class RateLimiter:
    """The limits of one :class:`RateRule`, per client name, in memory. Thread-safe."""

    def __init__(self, rule: RateRule | None = None, *, clock: Clock = REAL_CLOCK) -> None:
        self.rule = rule or RateRule()
        self.clock = clock
        self.lock = threading.Lock()
        self._clients: dict[str, _Client] = {}

    def admit(self, names: Sequence[tuple[str, str]], count: int = 1) -> Ticket:
        """Reserve ``count`` starts for a client known by ``names`` (pairs of a key such as
        ``"address:1.2.3.4"`` and the words a sentence uses for it, such as "from your network
        address"), or raise ``TooManyStartsError`` saying when to try again."""
        now = self.clock.monotonic()
        with self.lock:
            if len(self._clients) > PRUNE_ABOVE:
                self._prune(now)
            clients = [(self._client(key, now), words) for key, words in names]
            for client, words in clients:
                self._refuse_if_full(client, words, count, now)
            ticket = Ticket(self, tuple(key for key, _ in names), count)
            for client, _ in clients:
                client.starts.extend([now] * count)
                client.running.extend(ticket._slots)
            return ticket

    def size(self) -> int:
        """Clients remembered (a start in the last minute, or something running)."""
        with self.lock:
            return len(self._clients)

    def swap(self, name: str, old: Running, new: Running) -> None:
        """Replace ``old`` with ``new`` in ``name``'s running jobs (under :attr:`lock`)."""
        client = self._clients.get(name)
        if client is not None:
            client.running = [new if job is old else job for job in client.running]

    def _client(self, key: str, now: float) -> _Client:
        client = self._clients.setdefault(key, _Client())
        client.forget_before(now - WINDOW)
        return client

    def _prune(self, now: float) -> None:
        for key in list(self._clients):
            self._clients[key].forget_before(now - WINDOW)
            if self._clients[key].idle:
                del self._clients[key]

    def _refuse_if_full(self, client: _Client, words: str, count: int, now: float) -> None:
        rule = self.rule
        for limit, allows in (
            (rule.max_running, f"runs at most {rule.max_running} at once"),
            (rule.starts_per_minute, f"allows {rule.starts_per_minute} starts a minute"),
        ):
            if count > limit:
                raise TooManyStartsError(
                    f"This starts {count} videos at once; this Space's shared key {allows} for "
                    "anyone. Start fewer, or enter your own key"
                )
        running = len(client.running)
        if running + count > rule.max_running:
            raise TooManyStartsError(
                f"{_count(running, 'video')} {'is' if running == 1 else 'are'} already running "
                f"{words} on this Space's shared key, the most at once is {rule.max_running}. "
                "Try again when one of them ends, or enter your own key"
            )
        recent = len(client.starts)
        if recent + count > rule.starts_per_minute:
            frees = client.starts[recent + count - rule.starts_per_minute - 1] + WINDOW
            wait = max(1, math.ceil(frees - now))
            raise TooManyStartsError(
                f"{_count(recent, 'video')} {'was' if recent == 1 else 'were'} started {words} "
                f"in the last minute on this Space's shared key, the most is "
                f"{rule.starts_per_minute} a minute. Try again in {wait} s",
                retry_after=wait,
            )


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"
