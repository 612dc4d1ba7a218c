"""Daily spending limits in dollars, checked before anything is recorded or sent.

Two limits, each optional:

- **per owner**: ``PIXVERSE_UI_DAILY_BUDGET=5`` (or ``5.00``) allows each owner (a key, a
  logged-in name, a browser, see ``access.py``) to start at most $5.00 of generations a day;
- **per payer**, the ceiling on a shared key: ``PIXVERSE_UI_HOST_DAILY_BUDGET`` caps what the
  host's key pays in a day across every owner. An owner is whoever the caller says they are (a
  fresh browser id is a fresh owner), so only a limit on the payer bounds what strangers can
  spend; when the host key is shared and this is unset, ``DEFAULT_HOST_CEILING_USD`` applies.

"A day" is the local calendar day of the machine that runs pixverse-ui: it starts at local
midnight. What a day has cost is :func:`spent_since`: the API's figures, and for jobs whose cost
it has not said yet their safe price (``pricing.safe_price``: the rate card times the highest
multiple of it the ledger has seen). A start is refused when its safe price would take either sum
over its limit (``BudgetError``, a ``ValidationError``: nothing is sent). The check runs in the
ledger's insert transaction (``Ledger.record(check=...)``), so starts at once cannot both pass a
limit only one of them fits under, across threads and processes alike.

The built-in simulator's money is pretend: its jobs (ledger ``endpoint`` ``"simulator"``) are left
out of every real sum, a start on it is never refused by a limit, and its own figures are said
with ``pricing.SIMULATED`` beside them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from .errors import BudgetError, ValidationError
from .pricing import (
    CREDITS_PER_USD,
    LEDGER,
    RATE_CARD,
    Cost,
    PricesSeen,
    charged,
    dollars,
    estimate,
    format_cost,
    in_flight,
    is_simulated,
    safe_price,
    simulated_money,
    total,
)

if TYPE_CHECKING:  # pragma: no cover
    from .params import Params
    from .store import JobRecord, Ledger

BUDGET_ENV = "PIXVERSE_UI_DAILY_BUDGET"
HOST_BUDGET_ENV = "PIXVERSE_UI_HOST_DAILY_BUDGET"
#: The ceiling on a shared host key when ``PIXVERSE_UI_HOST_DAILY_BUDGET`` is not set.
DEFAULT_HOST_CEILING_USD = 5.0
#: Slack for float sums of cents: a start that lands exactly on the limit is allowed.
_EPSILON = 1e-9


def spent_since(
    ledger: Ledger,
    since: float,
    *,
    owner: str | None = None,
    payer: str | None = None,
    simulated: bool = False,
) -> Cost:
    """What the jobs created since ``since`` cost (``owner``'s, or those ``payer`` pays for),
    refusals left out; a job whose cost the API has not said yet counts its safe price. Real
    money only, or with ``simulated`` the simulator's pretend money only."""
    records = _created_since(ledger, since, owner, payer, simulated)
    unpriced = any(r.credits_used is None for r in records)
    return _sum(records, PricesSeen.of(ledger) if unpriced else PricesSeen())


def spent_today(
    ledger: Ledger,
    *,
    owner: str | None = None,
    payer: str | None = None,
    now: float | None = None,
    simulated: bool = False,
) -> Cost:
    """What ``owner``'s jobs (or those ``payer`` pays for) started since local midnight cost."""
    now = ledger.clock.now() if now is None else now
    return spent_since(ledger, day_start(now), owner=owner, payer=payer, simulated=simulated)


def _created_since(
    ledger: Ledger, since: float, owner: str | None, payer: str | None, simulated: bool = False
) -> list[JobRecord]:
    records = ledger.created_since(owner, since, payer=payer)
    return [r for r in records if is_simulated(r.endpoint) == simulated]


def parse_dollars(name: str, text: str | None) -> float | None:
    """A setting in dollars (``"5"``, ``"5.00"``, ``"$5"``); None when empty, else a sentence."""
    raw = (text or "").strip()
    if not raw:
        return None
    try:
        value = float(raw.removeprefix("$").replace(",", "").strip())
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise ValidationError(
            f"{name} must be an amount of dollars such as 5 or 5.00; got {raw[:12]!r}. "
            "Unset it for no limit.",
            field="budget",
        )
    return value


def host_ceiling(shared: bool, environ: Mapping[str, str] | None = None) -> float | None:
    """The daily ceiling on the host key: ``PIXVERSE_UI_HOST_DAILY_BUDGET``, else, when the key
    is shared with visitors, ``DEFAULT_HOST_CEILING_USD``; None for no ceiling."""
    env = os.environ if environ is None else environ
    value = parse_dollars(HOST_BUDGET_ENV, env.get(HOST_BUDGET_ENV))
    if value is None and shared:
        return DEFAULT_HOST_CEILING_USD
    return value


def day_start(now: float) -> float:
    """Epoch seconds of the local midnight that began the day ``now`` is in."""
    moment = datetime.fromtimestamp(now).astimezone()
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


@dataclass(frozen=True)
class BudgetView:
    """Today's spending against the limit."""

    spent: Cost
    limit_usd: float | None
    #: Epoch seconds of the start of today (local midnight).
    since: float
    #: The simulator's pretend spending, which no limit counts.
    simulated: bool = False

    @property
    def left_usd(self) -> float | None:
        """Dollars left today (never below 0); None without a limit."""
        if self.limit_usd is None:
            return None
        return max(0.0, self.limit_usd - self.spent.usd)

    def summary(self) -> str:
        """``Spent today: about $1.20 of $5.00; $3.80 left.`` (or ``no daily limit``)."""
        spent = format_cost(self.spent)
        if self.simulated:
            return f"Spent today: {simulated_money(spent, True)}; limits count real money only."
        if self.limit_usd is None:
            return f"Spent today: {spent}; no daily limit."
        left = self.left_usd or 0.0
        return f"Spent today: {spent} of {dollars(self.limit_usd)}; {dollars(left)} left."


@dataclass(frozen=True)
class Budget:
    """Optional daily limits in dollars (None: no limit): ``limit_usd`` on each owner's
    spending, ``payer_limit_usd`` on what the paying key spends for everyone (the host's
    ceiling; :meth:`for_payer` sets it for the starts that key pays for)."""

    limit_usd: float | None = None
    payer_limit_usd: float | None = None

    @classmethod
    def parse(cls, text: str | None) -> Budget:
        """``"5"`` or ``"5.00"`` (a ``$`` is allowed); empty means no limit. Else a sentence."""
        return cls(parse_dollars(BUDGET_ENV, text))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Budget:
        """The limit ``PIXVERSE_UI_DAILY_BUDGET`` sets (``ValidationError`` if it is not one)."""
        env = os.environ if environ is None else environ
        return cls.parse(env.get(BUDGET_ENV))

    @classmethod
    def or_env(cls, budget: Budget | None) -> Budget:
        """``budget`` when one is given, else the environment's (:meth:`from_env`): what the
        library's entry points apply by default. ``UNLIMITED`` is no limit at all."""
        return cls.from_env() if budget is None else budget

    def for_payer(self, limit_usd: float | None) -> Budget:
        """This budget, with a ceiling on what the paying key spends today for everyone."""
        return replace(self, payer_limit_usd=limit_usd)

    @property
    def limited(self) -> bool:
        return self.limit_usd is not None or self.payer_limit_usd is not None

    def today(
        self, ledger: Ledger, owner: str, now: float | None = None, *, simulated: bool = False
    ) -> BudgetView:
        """``owner``'s spending since local midnight, against the limit (with ``simulated``:
        their spending on the simulator, which no limit counts)."""
        now = ledger.clock.now() if now is None else now
        spent = spent_today(ledger, owner=owner, now=now, simulated=simulated)
        return BudgetView(spent, None if simulated else self.limit_usd, day_start(now), simulated)

    def quote(self, params: Params | Mapping[str, object], ledger: Ledger) -> Cost:
        """What a start counts for against these limits (its safe price)."""
        return safe_price(params, PricesSeen.of(ledger))

    def check_start(
        self,
        ledger: Ledger,
        owner: str,
        variants: Iterable[Params],
        *,
        payer: str | None = None,
        simulated: bool = False,
    ) -> None:
        """Before starting ``variants`` together: refuse them all (``BudgetError``) when their
        safe prices together would take a limit over. Each start is checked again in its own
        insert transaction; this says it before any of them is sent. ``simulated``: starts on
        the simulator, which no limit refuses."""
        if self.limited and not simulated:
            cost = total(self.quote(variant, ledger) for variant in variants)
            self.check(ledger, owner, cost, payer=payer)

    def check(
        self,
        ledger: Ledger,
        owner: str,
        cost: Cost,
        now: float | None = None,
        *,
        payer: str | None = None,
    ) -> None:
        """Raise ``BudgetError`` if starting something that costs ``cost`` now would take
        ``owner``'s spending today over the owner limit, or what ``payer`` paid today over the
        payer limit. Run it inside ``Ledger.record(check=...)``.

        Jobs already in flight count at ``pricing.in_flight_price``, so starts at once overshoot
        a limit by one job at most whatever their shapes. A refusal that jobs in flight caused
        says so, and that it passes once the API has priced them.
        """
        if not self.limited:
            return
        now = ledger.clock.now() if now is None else now
        since = day_start(now)
        start = format_cost(cost).split(" (")[0]
        seen = PricesSeen.of(ledger)  # read once for both limits, in this transaction
        if self.payer_limit_usd is not None and payer is not None:
            day = _Day.of(_created_since(ledger, since, None, payer), seen)
            if day.spent.usd + cost.usd > self.payer_limit_usd + _EPSILON:
                raise BudgetError(
                    f"This start ({start}) would take the shared key past its daily limit of "
                    f"{dollars(self.payer_limit_usd)} for everyone using it "
                    f"({day.so_far(self.payer_limit_usd)}). "
                    f"{day.try_again('or enter your own AI/ML API key')}"
                )
        if self.limit_usd is None:
            return
        day = _Day.of(_created_since(ledger, since, owner, None), seen)
        view = BudgetView(day.spent, self.limit_usd, since)
        after = view.spent.usd + cost.usd
        if after <= self.limit_usd + _EPSILON:
            return
        left = view.left_usd or 0.0
        held = ""
        if day.held:
            held = f" ({day.held_words('of it is')}). {day.try_again('')}"
        raise BudgetError(
            f"This start ({start}) would bring today's spending to {dollars(after)}, over your "
            f"daily limit of {dollars(self.limit_usd)}; {dollars(left)} is left today{held}"
        )


def _sum(records: list[JobRecord], seen: PricesSeen) -> Cost:
    return total(charged(record, seen) for record in records)


@dataclass(frozen=True)
class _Day:
    """A day's jobs as a limit counts them: what they cost, and how much of it is held for
    starts the API has not priced yet (``pricing.in_flight``)."""

    spent: Cost
    held: int
    held_usd: float

    @classmethod
    def of(cls, records: list[JobRecord], seen: PricesSeen) -> _Day:
        flying = [r for r in records if in_flight(r)]
        return cls(_sum(records, seen), len(flying), _sum(flying, seen).usd)

    def so_far(self, limit_usd: float) -> str:
        spent = f"{dollars(min(self.spent.usd, limit_usd))} is spent or running today"
        return f"{spent}, {self.held_words('of that')}" if self.held else spent

    def held_words(self, of: str) -> str:
        starts = "1 start" if self.held == 1 else f"{self.held} starts"
        return f"{dollars(self.held_usd)} {of} held for {starts} the API has not priced yet"

    def try_again(self, otherwise: str) -> str:
        """When trying again can help: once held starts are priced (most within seconds), or
        tomorrow."""
        if self.held:
            which = "it" if self.held == 1 else "them"
            when = (
                f"Try again once the API has priced {which}: usually within seconds of a start, "
                "at the latest when its video is ready"
            )
            return f"{when}, {otherwise}" if otherwise else when
        return f"Try again tomorrow, {otherwise}" if otherwise else "Try again tomorrow"


#: No limit.
UNLIMITED = Budget(None)


@dataclass(frozen=True)
class Quote:
    """What a start would cost, said before it is made: one video or a batch, in dollars and
    credits (``pricing.estimate`` of each), where the figure comes from, and what today has
    cost the caller against their limit."""

    count: int
    cost: Cost
    #: Where the figure comes from, in words.
    basis: str
    today: BudgetView | None = None
    #: On the simulator: the figures are pretend.
    simulated: bool = False

    def text(self) -> str:
        """``This video: about $0.28 (555,556 credits); from the rate card, at an assumed
        2,000,000 credits per dollar. Spent today: $0.00 (0 credits); no daily limit.``"""
        what = "This video" if self.count == 1 else f"These {self.count} videos"
        each = "" if self.count == 1 else " in all"
        cost = format_cost(self.cost, simulated=self.simulated)
        text = f"{what}: {cost}{each}; {self.basis}."
        return f"{text} {self.today.summary()}" if self.today is not None else text


def quote(
    variants: Sequence[Params],
    ledger: Ledger,
    budget: Budget | None = None,
    owner: str | None = None,
    *,
    simulated: bool = False,
) -> Quote:
    """The quote the page, the command line, MCP and notebooks give before ``variants`` start:
    each one's estimate (this shape's median in ``ledger``, else the rate card) summed, and with
    an ``owner``, their spending today against ``budget`` (the environment's when None).
    ``simulated``: the start is on the simulator; its figures and today's are said as pretend."""
    costs = [estimate(variant, ledger) for variant in variants]
    sources = {cost.source for cost in costs}
    if sources == {LEDGER}:
        shapes = {(v.frame_ratio, v.resolution, v.duration) for v in variants}
        basis = "the median of your past jobs of the same shape"
        if len(shapes) == 1:
            ((aspect_ratio, resolution, seconds),) = shapes
            basis = f"the median of your past {aspect_ratio} {resolution} {seconds} s jobs"
    elif sources == {RATE_CARD}:
        basis = f"from the rate card, at an assumed {CREDITS_PER_USD:,} credits per dollar"
    else:
        basis = "the median of your past jobs of the same shape, else the rate card"
    today = None
    if owner is not None:
        today = Budget.or_env(budget).today(ledger, owner, simulated=simulated)
    return Quote(len(costs), total(costs), basis, today, simulated)
