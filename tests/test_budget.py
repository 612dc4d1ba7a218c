"""The daily budget: parsed from the environment, counted per owner and local day, refusing a start
that crosses it before anything is recorded or sent, also when several start at once."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from conftest import TEST_KEY
from support import at_once

from pixverse_ui import generation, validate
from pixverse_ui.budget import BUDGET_ENV, Budget, day_start, quote, spent_today
from pixverse_ui.client import Client
from pixverse_ui.errors import BudgetError, ValidationError
from pixverse_ui.history import history
from pixverse_ui.pricing import SIMULATED, SIMULATOR_ENDPOINT, Cost, estimate
from pixverse_ui.store import Ledger

#: 540p 16:9 5 s on the rate card: 1,250,000 credits, $0.625 at the assumed rate.
SMALL = validate("a red fox", resolution="540p")


def test_the_limit_comes_from_the_environment():
    assert Budget.from_env({}).limit_usd is None and not Budget.from_env({}).limited
    assert Budget.from_env({BUDGET_ENV: "5"}).limit_usd == 5.0
    assert Budget.from_env({BUDGET_ENV: " 5.00 "}).limit_usd == 5.0
    assert Budget.from_env({BUDGET_ENV: "$2.50"}).limit_usd == 2.5
    assert Budget.from_env({BUDGET_ENV: ""}).limit_usd is None
    for bad in ("five", "-1", "nan", "inf", "5 dollars"):
        with pytest.raises(ValidationError, match=f"{BUDGET_ENV} must be an amount of dollars"):
            Budget.from_env({BUDGET_ENV: bad})


def test_a_day_starts_at_local_midnight():
    now = datetime(2026, 5, 9, 14, 3, 7).timestamp()
    assert day_start(now) == datetime(2026, 5, 9).timestamp()
    assert day_start(datetime(2026, 5, 9).timestamp()) == datetime(2026, 5, 9).timestamp()


def _spend(ledger, crid, owner, *, usd, at, endpoint="e"):
    ledger.clock = _At(at)
    ledger.record(client_request_id=crid, owner=owner, endpoint=endpoint, body=SMALL.to_body())
    ledger.update(crid, state="running")
    ledger.update(crid, state="done", status="completed", credits_used=usd * 2e6, usd_spent=usd)


class _At:
    def __init__(self, when):
        self.when = when

    def now(self):
        return self.when


def test_today_counts_this_owners_spending_since_midnight(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    noon = datetime(2026, 5, 9, 12).timestamp()
    _spend(ledger, "yesterday", "alice", usd=3.0, at=datetime(2026, 5, 8, 23, 59).timestamp())
    _spend(ledger, "morning", "alice", usd=1.25, at=datetime(2026, 5, 9, 8).timestamp())
    _spend(ledger, "bob", "bob", usd=4.0, at=datetime(2026, 5, 9, 9).timestamp())
    view = Budget(5.0).today(ledger, "alice", noon)
    assert view.spent.usd == 1.25 and view.left_usd == 3.75 and view.limit_usd == 5.0
    assert view.summary() == "Spent today: $1.25 (2,500,000 credits) of $5.00; $3.75 left."
    assert Budget(None).today(ledger, "alice", noon).left_usd is None
    assert "no daily limit" in Budget(None).today(ledger, "alice", noon).summary()


def test_the_simulators_money_is_said_apart_and_never_counted_as_real(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    noon = datetime(2026, 5, 9, 12).timestamp()
    _spend(ledger, "real", "alice", usd=1.25, at=datetime(2026, 5, 9, 8).timestamp())
    morning = datetime(2026, 5, 9, 9).timestamp()
    _spend(ledger, "pretend", "alice", usd=16.49, at=morning, endpoint=SIMULATOR_ENDPOINT)
    assert spent_today(ledger, owner="alice", now=noon).usd == 1.25
    assert spent_today(ledger, owner="alice", now=noon, simulated=True).usd == 16.49
    budget = Budget(5.0)
    assert budget.today(ledger, "alice", noon).left_usd == 3.75  # the $16.49 is not counted
    budget.check(ledger, "alice", Cost(5_000_000, 2.5, "rate card"), noon)
    pretend = budget.today(ledger, "alice", noon, simulated=True).summary()
    assert pretend == (
        "Spent today: $16.49 (32,980,000 credits) (simulated: nothing is charged); "
        "limits count real money only."
    )
    ledger.clock = _At(noon)
    said = quote([SMALL], ledger, budget, "alice", simulated=True).text()
    figures = re.findall(r"\$[\d.]+ \([\d,]+ credits\)( \(simulated: nothing is charged\))?", said)
    assert len(figures) == 2 and all(figures), said  # the quote and today's spending
    assert SIMULATED not in quote([SMALL], ledger, budget, "alice").text()
    [pretend_item] = [i for i in history(ledger, "alice") if i.endpoint == SIMULATOR_ENDPOINT]
    assert pretend_item.cost_text().endswith(f"({SIMULATED})")


def test_a_start_on_the_simulator_is_never_refused_by_a_budget(make_sim, tmp_path, clock):
    sim = make_sim()
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock=clock)
    tiny = Budget(0.01).for_payer(0.01)
    with Client(api_key=TEST_KEY, base_url=sim.url, clock=clock, label=SIMULATOR_ENDPOINT) as c:
        for _ in range(2):
            assert generation.create_job(SMALL, client=c, ledger=ledger, budget=tiny).generation_id
    assert sim.stats()["posts"] == 2
    real = Client(api_key=TEST_KEY, base_url=sim.url, clock=clock)  # a real key's label
    with real, pytest.raises(BudgetError):
        generation.create_job(SMALL, client=real, ledger=ledger, budget=tiny)
    assert sim.stats()["posts"] == 2


def test_check_refuses_a_start_that_crosses_the_limit_with_a_sentence(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    noon = datetime(2026, 5, 9, 12).timestamp()
    _spend(ledger, "morning", "alice", usd=3.5, at=datetime(2026, 5, 9, 8).timestamp())
    budget = Budget(5.0)
    budget.check(ledger, "alice", Cost(3_000_000, 1.5, "rate card"), noon)  # exactly to the limit
    with pytest.raises(BudgetError) as refused:
        budget.check(ledger, "alice", Cost(5_000_000, 2.5, "rate card"), noon)
    assert isinstance(refused.value, ValidationError)
    assert refused.value.user_message == (
        "This start (about $2.50) would bring today's spending to $6.00, over your daily limit "
        "of $5.00; $1.50 is left today. Nothing was sent and nothing was charged."
    )
    Budget(None).check(ledger, "alice", Cost(1e9, 500.0, "rate card"), noon)  # no limit


def test_a_start_over_the_budget_records_and_sends_nothing(client, ledger, sim):
    budget = Budget(1.0)
    first = generation.create_job(SMALL, client=client, ledger=ledger, budget=budget)
    assert first.generation_id
    with pytest.raises(BudgetError, match="over your daily limit of \\$1.00"):
        generation.create_job(SMALL, client=client, ledger=ledger, budget=budget)
    assert len(ledger.history()) == 1 and sim.stats()["posts"] == 1
    # submit() (the CLI's path) refuses the same way, through the watchers
    with pytest.raises(BudgetError):
        generation.submit(params=SMALL, client=client, ledger=ledger, budget=budget)
    assert len(ledger.history()) == 1 and sim.stats()["posts"] == 1
    # without a budget (or after it) nothing is checked
    generation.create_job(SMALL, client=client, ledger=ledger)
    assert sim.stats()["posts"] == 2


def test_two_starts_at_once_cannot_both_pass_a_limit_only_one_fits_under(tmp_path, sim):
    """Threads, each with its own client and connection, start together; $1.00 fits one
    $0.625 start. The check and the insert share one write-locked transaction."""
    path = tmp_path / "ledger.sqlite3"
    budget = Budget(1.0)
    assert estimate(SMALL).usd == 0.625
    threads = 8

    def start(_: int) -> str:
        ledger = Ledger(path)  # a ledger object (and connection) per thread, as processes have
        with Client(api_key=TEST_KEY, base_url=sim.url, timeout=(2.0, 10.0)) as client:
            try:
                generation.create_job(SMALL, client=client, ledger=ledger, budget=budget)
            except BudgetError:
                return "refused"
            return "started"

    outcomes = at_once(start, threads)
    assert sorted(outcomes) == ["refused"] * (threads - 1) + ["started"]
    assert len(Ledger(path).history()) == 1 and sim.stats()["posts"] == 1


def test_the_check_runs_inside_the_insert_transaction(tmp_path):
    """What record(check=...) promises, without HTTP: many threads, one fits."""
    path = tmp_path / "ledger.sqlite3"
    Ledger(path)
    budget = Budget(1.0)
    cost = estimate(SMALL)

    def start(i: int) -> bool:
        ledger = Ledger(path)
        try:
            ledger.record(
                client_request_id=f"c{i}",
                owner="alice",
                endpoint="e",
                body=SMALL.to_body(),
                check=lambda: budget.check(ledger, "alice", cost),
            )
        except BudgetError:
            return False
        return True

    assert at_once(start, 12).count(False) == 11 and len(Ledger(path).history()) == 1


def test_every_way_in_honours_the_daily_budget_of_the_environment(
    client, ledger, sim, monkeypatch, capsys
):
    """The library's generate, submit and stream and the notebook's generate and variations
    apply PIXVERSE_UI_DAILY_BUDGET unless given a budget: over it, nothing is recorded or sent."""
    import pixverse_ui
    from pixverse_ui import notebook
    from pixverse_ui.budget import UNLIMITED

    monkeypatch.setenv(BUDGET_ENV, "0.50")  # under one $0.625 start
    over = "would bring today's spending to \\$[0-9.]+, over your daily limit of \\$0.50"
    at = {"client": client, "ledger": ledger}
    starts = [
        lambda: pixverse_ui.generate("a red fox", resolution="540p", **at),
        lambda: pixverse_ui.submit("a red fox", resolution="540p", **at),
        lambda: next(pixverse_ui.stream("a red fox", resolution="540p", **at)),
        lambda: notebook.generate("a red fox", resolution="540p", **at),
        lambda: notebook.variations("a red fox", "seed", count=2, resolution="540p", **at),
    ]
    for start in starts:
        with pytest.raises(BudgetError, match=over):
            start()
    assert sim.stats()["posts"] == 0 and ledger.history() == []
    assert "failed: This start (about $0.62)" in capsys.readouterr().out  # the notebook said so

    # an explicit budget wins over the environment's
    video = pixverse_ui.generate("a red fox", resolution="540p", budget=UNLIMITED, **at)
    assert video.ok and sim.stats()["posts"] == 1
    with pytest.raises(BudgetError, match="over your daily limit of \\$1.00"):
        pixverse_ui.generate("a red fox", resolution="540p", budget=Budget(1.0), **at)
    assert sim.stats()["posts"] == 1
