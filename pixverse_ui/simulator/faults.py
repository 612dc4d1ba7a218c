"""A fault plan: which requests the simulator answers badly, and how.

A plan is a list of :class:`FaultRule` values plus a seeded ``random.Random``. For each request the
simulator asks :meth:`FaultPlan.draw` for a fault; rules limited by ``times`` (scripted bursts) are
tried first, then the others, each in the order added; the first that fires wins and is counted.

Plan strings: ``503:0.1,429:0.05,drop:0.02`` or ``KIND@TARGET:PROB``, optionally ``*TIMES`` at the
end (``503@get*3``: the next three GETs answer 503). A missing probability means 1.0.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

#: Where a rule applies: the API (POST and GET of /v2/video/generations), one of them, or the
#: video file download.
TARGETS = ("api", "post", "get", "file")
_REQUESTS = {
    "api": frozenset({"post", "get"}),
    "post": frozenset({"post"}),
    "get": frozenset({"get"}),
    "file": frozenset({"file"}),
}

HTTP_STATUS_KINDS = ("500", "502", "503", "504")
RATE_LIMIT_KINDS = ("429", "429-date", "429-bare")
_EVERYWHERE = frozenset({"post", "get", "file"})

#: Every kind, and the requests it can apply to.
KINDS: dict[str, frozenset[str]] = {
    **{kind: _EVERYWHERE for kind in HTTP_STATUS_KINDS + RATE_LIMIT_KINDS},
    "drop": _EVERYWHERE,
    "lost-post": frozenset({"post"}),
    "malformed": _EVERYWHERE,
    "empty": _EVERYWHERE,
    "slow": _EVERYWHERE,
    "unknown-status": frozenset({"get"}),
    "fail": frozenset({"post", "get"}),
    "expire": frozenset({"get", "file"}),
    # the video file only: a gzip-encoded body (with the compressed length declared), and a body
    # that declares its length and then sends a byte every ``seconds`` (``slow_seconds``)
    "gzip": frozenset({"file"}),
    "drip": frozenset({"file"}),
}

FAIL_SHAPES = ("name", "detail", "http")


@dataclass(frozen=True)
class FaultRule:
    """One kind of fault, where it applies, how often, and at most how many times.

    ``shape`` (for ``fail``) overrides the simulator's ``fail_shape``; ``seconds`` (for ``slow``
    and ``drip``) overrides its ``slow_seconds``.
    """

    kind: str
    probability: float = 1.0
    target: str = "api"
    times: int | None = None
    shape: str | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.target not in TARGETS:
            raise ValueError(f"unknown fault target {self.target!r}; known: {', '.join(TARGETS)}")
        if not self.requests:
            raise ValueError(f"fault {self.kind!r} never applies to target {self.target!r}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be within 0..1, got {self.probability}")
        if self.times is not None and self.times < 0:
            raise ValueError(f"fault times must be >= 0, got {self.times}")
        if self.shape is not None and self.shape not in FAIL_SHAPES:
            raise ValueError(f"unknown fail shape {self.shape!r}; known: {', '.join(FAIL_SHAPES)}")
        if self.seconds is not None and self.seconds < 0:
            raise ValueError(f"slow seconds must be >= 0, got {self.seconds}")

    @property
    def requests(self) -> frozenset[str]:
        """The requests (post, get, file) this rule can fire on."""
        return _REQUESTS[self.target] & KINDS[self.kind]

    def __str__(self) -> str:
        text = self.kind if self.target == "api" else f"{self.kind}@{self.target}"
        if self.probability != 1.0:
            text += f":{self.probability:g}"
        return text + (f"*{self.times}" if self.times is not None else "")


def parse_rule(text: str) -> FaultRule:
    """One ``KIND[@TARGET][:PROB][*TIMES]`` item."""
    item = text.strip()
    times: int | None = None
    if "*" in item:
        item, _, count = item.rpartition("*")
        times = _number(int, count, text)
    probability = 1.0
    if ":" in item:
        item, _, prob = item.partition(":")
        probability = _number(float, prob, text)
    kind, _, target = item.partition("@")
    return FaultRule(kind.strip().lower(), probability, target.strip().lower() or "api", times)


def parse_plan(text: str | None) -> list[FaultRule]:
    """A comma-separated plan string into rules (an empty or missing string: no faults)."""
    return [parse_rule(part) for part in (text or "").split(",") if part.strip()]


def _number(kind: type, value: str, text: str) -> object:
    try:
        return kind(value.strip())
    except ValueError:
        raise ValueError(
            f"bad fault rule {text.strip()!r}: {value.strip()!r} is not a "
            f"{'whole ' if kind is int else ''}number"
        ) from None


class FaultPlan:
    """The rules in force, a seeded random source, and counts of the faults injected."""

    def __init__(self, rules: Iterable[FaultRule] = (), *, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._entries: list[list] = [[rule, 0] for rule in rules]  # [rule, times fired]
        self._counts: Counter[str] = Counter()

    @classmethod
    def from_string(cls, text: str | None, *, seed: int | None = None) -> FaultPlan:
        """A plan from a plan string such as ``503:0.1,429:0.05,drop:0.02``."""
        return cls(parse_plan(text), seed=seed)

    def add(
        self,
        kind: str | FaultRule,
        *,
        target: str = "api",
        probability: float = 1.0,
        times: int | None = None,
        shape: str | None = None,
        seconds: float | None = None,
    ) -> FaultRule:
        """Add a rule; ``add("503", target="get", times=3)``: the next three GETs answer 503."""
        rule = (
            kind
            if isinstance(kind, FaultRule)
            else FaultRule(kind, probability, target, times, shape, seconds)
        )
        with self._lock:
            self._entries.append([rule, 0])
        return rule

    def extend(self, text: str) -> list[FaultRule]:
        """Add every rule of a plan string."""
        return [self.add(rule) for rule in parse_plan(text)]

    def clear(self) -> None:
        """Remove every rule (the counts stay)."""
        with self._lock:
            self._entries.clear()

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The rules still able to fire."""
        with self._lock:
            return tuple(rule for rule, fired in self._entries if not _spent(rule, fired))

    def counts(self) -> dict[str, int]:
        """Faults injected so far, by kind."""
        with self._lock:
            return dict(self._counts)

    def draw(self, request: str, *, exclude: Iterable[str] = ()) -> FaultRule | None:
        """The fault for one request (``post``, ``get`` or ``file``), counted; or None.

        ``exclude`` names kinds that cannot apply to this particular request (say ``expire`` on a
        GET that hands out no URL); they neither fire nor use up the random draw.
        """
        skip = set(exclude)
        with self._lock:
            ordered = sorted(self._entries, key=lambda entry: entry[0].times is None)
            for entry in ordered:
                rule, fired = entry
                if rule.kind in skip or request not in rule.requests or _spent(rule, fired):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                entry[1] += 1
                self._counts[rule.kind] += 1
                return rule
        return None

    def __repr__(self) -> str:
        return f"FaultPlan({','.join(map(str, self.rules))!r})"


def _spent(rule: FaultRule, fired: int) -> bool:
    return rule.times is not None and fired >= rule.times
