"""A daily spending limit per owner, in dollars, checked before anything is recorded or sent.

``PIXVERSE_UI_DAILY_BUDGET=5`` (or ``5.00``) allows each owner (a key, a logged-in name, see
``access.py``) to start at most $5.00 of generations a day; unset means no limit. "A day" is the
local calendar day of the machine that runs pixverse-ui: it starts at local midnight.

What a day has cost is ``Ledger.spent_since`` (``pricing.charged``): the API's figures, and the
estimates of jobs whose cost it has not said yet. A start is refused when its estimate would take
that over the limit (``BudgetError``, a ``ValidationError``: nothing is sent). The check runs in
the ledger's insert transaction (``Ledger.record(check=...)``), so two starts at once cannot both
pass a limit only one of them fits under, across threads and processes alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .errors import BudgetError, ValidationError
from .pricing import Cost, dollars, format_cost

if TYPE_CHECKING:  # pragma: no cover
    from .store import Ledger

BUDGET_ENV = "PIXVERSE_UI_DAILY_BUDGET"
#: Slack for float sums of cents: a start that lands exactly on the limit is allowed.
_EPSILON = 1e-9


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

    @property
    def left_usd(self) -> float | None:
        """Dollars left today (never below 0); None without a limit."""
        if self.limit_usd is None:
            return None
        return max(0.0, self.limit_usd - self.spent.usd)

    def summary(self) -> str:
        """``Spent today: about $1.20 of $5.00; $3.80 left.`` (or ``no daily limit``)."""
        spent = format_cost(self.spent)
        if self.limit_usd is None:
            return f"Spent today: {spent}; no daily limit."
        left = self.left_usd or 0.0
        return f"Spent today: {spent} of {dollars(self.limit_usd)}; {dollars(left)} left."


@dataclass(frozen=True)
class Budget:
    """An optional daily limit in dollars (None: no limit)."""

    limit_usd: float | None = None

    @classmethod
    def parse(cls, text: str | None) -> Budget:
        """``"5"`` or ``"5.00"`` (a ``$`` is allowed); empty means no limit. Else a sentence."""
        raw = (text or "").strip()
        if not raw:
            return cls(None)
        try:
            value = float(raw.removeprefix("$").replace(",", "").strip())
        except ValueError:
            value = float("nan")
        if not value >= 0 or value == float("inf"):
            raise ValidationError(
                f"{BUDGET_ENV} must be an amount of dollars such as 5 or 5.00; got "
                f"{raw[:12]!r}. Unset it for no limit.",
                field="budget",
            )
        return cls(value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Budget:
        """The limit ``PIXVERSE_UI_DAILY_BUDGET`` sets (``ValidationError`` if it is not one)."""
        env = os.environ if environ is None else environ
        return cls.parse(env.get(BUDGET_ENV))

    @property
    def limited(self) -> bool:
        return self.limit_usd is not None

    def today(self, ledger: Ledger, owner: str, now: float | None = None) -> BudgetView:
        """``owner``'s spending since local midnight, against the limit."""
        now = ledger.clock.now() if now is None else now
        since = day_start(now)
        return BudgetView(ledger.spent_since(owner, since), self.limit_usd, since)

    def check(self, ledger: Ledger, owner: str, cost: Cost, now: float | None = None) -> None:
        """Raise ``BudgetError`` if starting something that costs ``cost`` now would take
        ``owner``'s spending today over the limit. Run it inside ``Ledger.record(check=...)``."""
        if self.limit_usd is None:
            return
        view = self.today(ledger, owner, now)
        after = view.spent.usd + cost.usd
        if after <= self.limit_usd + _EPSILON:
            return
        left = view.left_usd or 0.0
        start = format_cost(cost).split(" (")[0]
        raise BudgetError(
            f"This start ({start}) would bring today's spending to {dollars(after)}, over your "
            f"daily limit of {dollars(self.limit_usd)}; {dollars(left)} is left today"
        )


#: No limit.
UNLIMITED = Budget(None)
