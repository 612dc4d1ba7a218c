"""Money: what a generation costs, in credits and in dollars, and where each figure comes from.

The API charges credits (``meta.usage.credits_used``) and sometimes says the dollars too (the
``x-aimlapi-usd-spent`` header, kept in the ledger as ``usd_spent``). When it does not, dollars are
credits divided by ``CREDITS_PER_USD``, an assumption: the provider's page gives no rate (see
docs/provider-contract.md, *Money*). Before a start, the cost is the median of this shape's past
jobs in the ledger when it has some, else the rate card below, the page's one example scaled by
pixels and duration. The simulator charges by the same table, so its figures and ours agree.

Money a limit protects is counted at a *safe* price (:func:`safe_price`) until the API says what
a job cost: the rate card times the highest multiple of it any job in the ledger has cost. The
median would let starts made in parallel each count as a typical job and pass together; the most
a shape has cost protects only that shape, so a caller could pick a shape never priced here. A
start still in flight when another is checked counts at least at the most dollars any one job has
cost, or before any is known, at the card's dearest shape (:func:`in_flight_price`): a multiple
alone is undercut by a provider with one flat price, whose dearest shape costs less than its card
and the cheap ones far more. The simulator's pretend prices teach nothing about real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import params as P

if TYPE_CHECKING:  # pragma: no cover
    from .store import JobRecord, Ledger

#: The page's example: a 1080p, 16:9, 5 s video used 5,000,000 credits.
REFERENCE_CREDITS = 5_000_000
#: Credits per dollar when the provider gives no dollar figure. An assumption: the page gives no
#: rate; the provider's ``x-aimlapi-usd-spent`` header, when sent, wins over it.
CREDITS_PER_USD = 2_000_000

#: Where a figure comes from.
PROVIDER = "provider"  # the API's own dollars (and credits)
LEDGER = "ledger"  # the median of this shape's past jobs in the ledger
RATE_CARD = "rate card"  # the formula below
CONVERTED = "converted"  # the API's credits; dollars at the assumed rate
MIXED = "mixed"  # a sum of figures from several sources

#: The ledger's ``endpoint`` for jobs the built-in simulator made (its client's ``label``).
SIMULATOR_ENDPOINT = "simulator"
#: Said of a job whose cost the API has not given yet (``history.HistoryItem.cost_words``).
UNKNOWN_COST = "cost not known yet"
#: Said of a start the API refused: nothing was made.
NOTHING_CHARGED = "nothing charged"
#: Said beside every dollar figure of the simulator's: its money is pretend.
SIMULATED = "simulated: nothing is charged"


@dataclass(frozen=True)
class Cost:
    """A cost in credits and dollars; ``source`` says where the figure comes from."""

    credits: float
    usd: float
    source: str

    @property
    def estimated(self) -> bool:
        """Whether the dollars are anything but the provider's own figure."""
        return self.source != PROVIDER

    def __add__(self, other: Cost) -> Cost:
        source = self.source if self.source == other.source else MIXED
        return Cost(self.credits + other.credits, self.usd + other.usd, source)


#: Nothing spent.
ZERO = Cost(0.0, 0.0, PROVIDER)


def total(costs: Iterable[Cost]) -> Cost:
    """The sum of ``costs`` (``ZERO`` for none)."""
    result: Cost | None = None
    for cost in costs:
        result = cost if result is None else result + cost
    return result or ZERO


def credits_for(body: Mapping[str, Any] | P.Params) -> int:
    """The rate card: the page's figure scaled by pixels and by duration."""
    body = _body(body)
    width, height = P.frame_size(*_shape(body))
    reference = P.frame_size("16:9", "1080p")
    duration = int(body.get("duration") or P.DEFAULT_DURATION)
    return round(
        REFERENCE_CREDITS * (width * height) / (reference[0] * reference[1]) * duration / 5
    )


def usd_for(credits: float) -> float:
    """Dollars for ``credits`` at the assumed rate (``CREDITS_PER_USD``)."""
    return round(credits / CREDITS_PER_USD, 6)


def estimate(params: P.Params | Mapping[str, Any], ledger: Ledger | None = None) -> Cost:
    """What a start would cost: this shape's median in ``ledger`` if any, else the rate card."""
    body = _body(params)
    aspect_ratio, resolution = _shape(body)
    duration = int(body.get("duration") or P.DEFAULT_DURATION)
    typical = ledger.typical_cost(resolution, duration, aspect_ratio) if ledger else None
    if typical is not None:
        credits, usd = typical
        return Cost(credits, usd if usd is not None else usd_for(credits), LEDGER)
    credits = credits_for(body)
    return Cost(credits, usd_for(credits), RATE_CARD)


@dataclass(frozen=True)
class PricesSeen:
    """What a ledger has seen of the provider's prices (``Ledger.highest_costs``), read once for
    a whole check: the highest cost of any job as a multiple of its rate card, and the most
    dollars any one job has cost (None while no job has been priced)."""

    multiple: float = 1.0
    highest_usd: float | None = None

    @classmethod
    def of(cls, ledger: Ledger | None) -> PricesSeen:
        """What ``ledger`` has seen (nothing for no ledger)."""
        return cls.from_rows(ledger.highest_costs(SIMULATOR_ENDPOINT) if ledger else [])

    @classmethod
    def from_rows(
        cls, priced: Iterable[tuple[str, int, str, float | None, float | None]]
    ) -> PricesSeen:
        """From rows already read (``Ledger.highest_costs``)."""
        multiple, highest = 1.0, None
        for resolution, duration, aspect_ratio, credits, usd in priced:
            body = {"resolution": resolution, "duration": duration, "aspect_ratio": aspect_ratio}
            paid = max(usd * CREDITS_PER_USD if usd is not None else 0.0, credits or 0.0)
            highest = max(highest or 0.0, paid / CREDITS_PER_USD)
            card = credits_for(body)
            if card > 0:
                multiple = max(multiple, paid / card)
        return cls(multiple, highest)

    @property
    def known(self) -> bool:
        """Whether any job here has been priced by the API."""
        return self.highest_usd is not None


#: A ledger that has seen no price.
NO_PRICES = PricesSeen()


def most_expensive_card() -> int:
    """The rate card's dearest shape, in credits: the most any start could cost by the card."""
    return max(
        credits_for({"aspect_ratio": ar, "resolution": res, "duration": seconds})
        for ar in P.ASPECT_RATIOS
        for res in P.RESOLUTIONS
        for seconds in P.supported_durations(res)
    )


def safe_price(params: P.Params | Mapping[str, Any], seen: PricesSeen = NO_PRICES) -> Cost:
    """What an unpriced start counts for against a limit: its rate card times the highest
    multiple of the card any job here has cost, never less than the card."""
    credits = credits_for(params) * max(1.0, seen.multiple)
    return Cost(credits, usd_for(credits), LEDGER if seen.multiple > 1.0 else RATE_CARD)


def in_flight_price(params: P.Params | Mapping[str, Any], seen: PricesSeen = NO_PRICES) -> Cost:
    """What a start in flight (sending, or running without a figure) counts for while another
    start is checked: its :func:`safe_price`, and at least the most dollars any one job here has
    cost, or before any job has been priced, the rate card's dearest shape. A provider with one
    flat price makes every card multiple below 1 but its cheapest shapes': a start counted at
    its card would let the next ones through. So whatever the order of shapes, starts at once
    overshoot a limit by one job at most, the one being checked."""
    safe = safe_price(params, seen)
    if seen.known:
        floor = (seen.highest_usd or 0.0) * CREDITS_PER_USD
        return safe if safe.credits >= floor else Cost(floor, usd_for(floor), LEDGER)
    credits = max(safe.credits, most_expensive_card())
    return Cost(credits, usd_for(credits), RATE_CARD)


def reported(credits: float) -> Cost:
    """The credits the API reported, with dollars at the assumed rate."""
    return Cost(credits, usd_for(credits), CONVERTED)


def actual(record: JobRecord) -> Cost | None:
    """What a job cost, as the API said (None while it has said nothing)."""
    return cost_of(record.credits_used, record.usd_spent)


def cost_of(credits: float | None, usd: float | None) -> Cost | None:
    """A cost from what the API said: its dollars when it gave them (with the credits, else
    credits at the assumed rate), else its credits with dollars converted; None for nothing."""
    if usd is not None:
        return Cost(credits if credits is not None else usd * CREDITS_PER_USD, usd, PROVIDER)
    if credits is not None:
        return reported(credits)
    return None


def charged(record: JobRecord, seen: PricesSeen = NO_PRICES) -> Cost:
    """What a job counts for in a day's spending: what the API said it cost; else, while that
    may still come, its price in flight (sending, running: :func:`in_flight_price`) or its safe
    price (unconfirmed, or a video made without a figure: :func:`safe_price`); else (refused,
    failed without a figure, adopted without one) nothing."""
    from .lifecycle import Status

    spent = actual(record)
    if spent is not None:
        return spent
    if record.adopted or record.state in (Status.REJECTED, Status.FAILED):
        return ZERO
    if in_flight(record):
        return in_flight_price(record.request, seen)
    return safe_price(record.request, seen)


def in_flight(record: JobRecord) -> bool:
    """A start of ours the API may still price: being sent, or running without a figure."""
    from .lifecycle import Status

    return (
        record.state in (Status.SUBMITTING, Status.RUNNING)
        and actual(record) is None
        and not record.adopted
    )


def dollars(usd: float) -> str:
    """``$2.50``; ``<$0.01`` for a fraction of a cent."""
    if 0 < usd < 0.005:
        return "<$0.01"
    return f"${usd:,.2f}"


def format_cost(cost: Cost, *, simulated: bool = False) -> str:
    """``$2.50 (5,000,000 credits)``, with ``about`` before an estimate, and ``(simulated:
    nothing is charged)`` after the simulator's figures."""
    credits = f"{cost.credits:,.0f}"
    text = f"{dollars(cost.usd)} ({credits} credits)"
    text = f"about {text}" if cost.estimated else text
    return simulated_money(text, simulated)


def cost_figure(cost: Cost | None, *, simulated: bool = False) -> str:
    """:func:`format_cost` of a cost the API has said; ``""`` while it has said none."""
    return "" if cost is None else format_cost(cost, simulated=simulated)


def cost_words(cost: Cost | None, *, simulated: bool = False, refused: bool = False) -> str:
    """What a job cost, in the words every face shows, and the one place they are worded: the
    figure (:func:`cost_figure`: ``about $0.28 (555,556 credits) (simulated: ...)``), else
    :data:`NOTHING_CHARGED` for a start the API refused, else :data:`UNKNOWN_COST`.
    ``outcome.Generation``, ``polling.Update`` and ``history.HistoryItem`` all word it here."""
    if cost is not None:
        return format_cost(cost, simulated=simulated)
    return NOTHING_CHARGED if refused else UNKNOWN_COST


def is_simulated(endpoint: str | None) -> bool:
    """The job (by its ledger ``endpoint`` or client ``label``) ran on the built-in simulator."""
    return endpoint == SIMULATOR_ENDPOINT


def simulated_money(text: str, simulated: bool) -> str:
    """``text`` (a dollar figure or a sentence with one) marked as the simulator's when it is:
    the one wording every front end uses."""
    return f"{text} ({SIMULATED})" if simulated else text


def _body(params: P.Params | Mapping[str, Any]) -> Mapping[str, Any]:
    return params.priced() if isinstance(params, P.Params) else params


def _shape(body: Mapping[str, Any]) -> tuple[str, str]:
    return (
        body.get("aspect_ratio") or P.DEFAULT_ASPECT_RATIO,
        body.get("resolution") or P.DEFAULT_RESOLUTION,
    )
