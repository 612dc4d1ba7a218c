"""Batches: one prompt over several seeds, styles or aspect ratios (``budget.quote`` prices them
before they start)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .errors import ValidationError
from .params import SEED_MAX, Params, shown

#: The most generations one batch may start.
MAX_BATCH = 24
AXES = ("seed", "style", "aspect_ratio")


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
    """Variants of ``base`` along ``axis``: ``count`` random seeds, or each of ``values``.

    Every variant is validated, so a batch that cannot all be sent is refused before any is.
    """
    if axis not in AXES:
        raise ValidationError(f"Vary one of {', '.join(AXES)}; got {shown(axis)}.", field="axis")
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
