"""Batches: one prompt over several seeds, styles or aspect ratios, with a quote before starting."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .errors import ValidationError
from .params import SEED_MAX, Params, shown
from .pricing import Cost, estimate, total
from .store import Ledger

#: The most generations one batch may start.
MAX_BATCH = 24
AXES = ("seed", "style", "aspect_ratio")


@dataclass(frozen=True)
class Plan:
    """What a batch would start, and what the ledger says similar jobs cost."""

    variants: tuple[Params, ...]
    credits_each: tuple[float | None, ...]

    @property
    def count(self) -> int:
        return len(self.variants)

    @property
    def known_credits(self) -> float | None:
        """The sum of the quotes, when every variant has one."""
        if any(c is None for c in self.credits_each):
            return None
        return float(sum(c for c in self.credits_each if c is not None))

    def estimate(self, ledger: Ledger | None = None) -> Cost:
        """The whole batch's cost in dollars and credits (``pricing.estimate`` of each variant),
        to show before it starts or to check against a budget (``Budget.check``) as a whole."""
        return total(estimate(variant, ledger) for variant in self.variants)

    def summary(self) -> str:
        """One sentence for a person, before they confirm."""
        total = self.known_credits
        cost = (
            f"similar jobs in your ledger cost about {total:,.0f} credits in all"
            if total is not None
            else "the ledger has no similar jobs yet to quote a cost from"
        )
        return f"This starts {self.count} generation{'s' * (self.count != 1)}; {cost}."


def plan(
    base: Params,
    axis: str,
    *,
    count: int = 4,
    values: tuple[str, ...] | list[str] = (),
    ledger: Ledger | None = None,
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
    quotes = tuple(
        ledger.typical_credits(v.resolution, v.duration) if ledger is not None else None
        for v in variants
    )
    return Plan(tuple(variants), quotes)
