"""Batches: one prompt over several seeds, styles or aspect ratios (``budget.quote`` prices them
before they start)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from .errors import PixVerseError, ValidationError
from .lifecycle import Status
from .params import SEED_MAX, Params, shown
from .pricing import PricesSeen, charged, format_cost, is_simulated, total

if TYPE_CHECKING:  # pragma: no cover
    from .store import Ledger

#: The most generations one batch may start.
MAX_BATCH = 24
AXES = ("seed", "style", "aspect_ratio")
NO_RATIOS_WITH_AN_IMAGE = (
    "The image decides the video's shape, so variations of it vary seeds or styles, not "
    "aspect ratios."
)


@dataclass(frozen=True)
class Plan:
    """What a batch would start (``budget.quote`` says what it would cost)."""

    variants: tuple[Params, ...]

    @property
    def count(self) -> int:
        return len(self.variants)


def plan(
    base: Params,
    axis: str,
    *,
    count: int = 4,
    values: tuple[str, ...] | list[str] = (),
    rng: random.Random | None = None,
) -> Plan:
    """Variants of ``base`` along ``axis``: ``count`` random seeds, or each of ``values``. Over an
    image (``base.image``) every variant starts from the same image, and has no aspect ratio.

    Every variant is validated, so a batch that cannot all be sent is refused before any is.
    """
    if axis not in AXES:
        raise ValidationError(f"Vary one of {', '.join(AXES)}; got {shown(axis)}.", field="axis")
    if axis == "aspect_ratio" and base.image is not None:
        raise ValidationError(NO_RATIOS_WITH_AN_IMAGE, field="axis")
    if axis == "seed":
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BATCH:
            raise ValidationError(
                f"Ask for 1 to {MAX_BATCH} seeds; got {shown(count)}.", field="count"
            )
        rng = rng or random.Random()
        seeds = rng.sample(range(SEED_MAX + 1), count)
        variants = [base.replace(seed=s) for s in seeds]
    else:
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
            raise ValidationError(
                f"The {axis.replace('_', ' ')}s to vary must be a list of names.", field=axis
            )
        chosen = list(dict.fromkeys(values))
        if not chosen:
            raise ValidationError(f"Pick at least one {axis.replace('_', ' ')}.", field=axis)
        if len(chosen) > MAX_BATCH:
            raise ValidationError(f"At most {MAX_BATCH} variants at once.", field=axis)
        variants = [base.replace(**{axis: value}) for value in chosen]
    return Plan(tuple(variants))


class _Started(Protocol):
    @property
    def client_request_id(self) -> str: ...


J = TypeVar("J", bound=_Started)


@dataclass(frozen=True)
class Refused:
    """A variant of a batch whose start was refused (a limit, a rate, the API): its settings
    and the sentence why. It reads like a job that ended before it began, so the tables that
    follow a batch draw it in its row."""

    params: Params
    error: PixVerseError
    last: None = None
    finished: bool = True
    id: None = None
    client_request_id: str = ""
    status: Status = Status.REJECTED

    def mark(self) -> tuple[int, bool]:
        return (0, True)


def start_each(start: Callable[[Params], J], variants: Sequence[Params]) -> list[J | Refused]:
    """Start every variant in order, each on its own: one refused (``PixVerseError``) is kept as
    :class:`Refused` and the others are still tried (a cheaper shape may fit where a dearer did
    not). When none started, the first refusal is raised: nothing was sent."""
    outcomes: list[J | Refused] = []
    for variant in variants:
        try:
            outcomes.append(start(variant))
        except PixVerseError as exc:
            outcomes.append(Refused(variant, exc))
    if all(isinstance(o, Refused) for o in outcomes) and outcomes:
        first = outcomes[0]
        assert isinstance(first, Refused)
        raise first.error
    return outcomes


def partly_started(outcomes: Sequence[_Started | Refused], ledger: Ledger) -> str | None:
    """What a batch refused part-way started and what that costs, and why the rest was refused:
    the sentence every front end shows (None when nothing was refused)."""
    refused = [o for o in outcomes if isinstance(o, Refused)]
    if not refused:
        return None
    records = [ledger.get(o.client_request_id) for o in outcomes if not isinstance(o, Refused)]
    seen = PricesSeen.of(ledger)
    cost = total(charged(record, seen) for record in records)
    simulated = all(is_simulated(record.endpoint) for record in records)
    started = f"{len(records)} of {len(outcomes)} variants started"
    which = "1 was" if len(refused) == 1 else f"{len(refused)} were"
    return (
        f"{started}, costing {format_cost(cost, simulated=simulated)}; they go on. "
        f"{which} refused: {refused[0].error.user_message}"
    )
