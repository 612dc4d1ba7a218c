"""A shared key has a ceiling: what the host pays in a day for everyone, jobs in flight counted at
a safe price, a rate per client, and no shared identity for anonymous callers (issue 20).

The library-level tests run on a simulator that charges four times the rate card ($2.50 for a
540p 16:9 5 s job the card prices at $0.625), as a provider whose prices moved would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from boards import board
from conftest import TEST_KEY
from support import at_once

from pixverse_ui import errors, generation, validate
from pixverse_ui.access import App, Mode, Origin
from pixverse_ui.budget import (
    DEFAULT_HOST_CEILING_USD,
    HOST_BUDGET_ENV,
    Budget,
    host_ceiling,
    spent_since,
)
from pixverse_ui.client import Client
from pixverse_ui.clock import ManualClock
from pixverse_ui.errors import BudgetError, TooManyStartsError, ValidationError
from pixverse_ui.pricing import (
    PricesSeen,
    credits_for,
    in_flight_price,
    most_expensive_card,
    safe_price,
    usd_for,
)
from pixverse_ui.ratelimit import RateLimiter, RateRule
from pixverse_ui.store import Ledger
from pixverse_ui.storyboard_run import Runner

HOST = "sk-ceiling-HOST-00112233445566"
#: 540p 16:9 5 s: $0.625 on the rate card.
SMALL = validate("a red fox", resolution="540p")
CARD_USD = usd_for(credits_for(SMALL))
PRICE = 4.0  # the stand-in charges four times the card: $2.50 a job


class _Done:
    """A started job as the limiter sees it."""

    def __init__(self) -> None:
        self.finished = False


# --- the rate per client ---------------------------------------------------------------------


def test_a_client_runs_a_few_at_once_and_hears_when_to_try_again():
    clock = ManualClock()
    limiter = RateLimiter(RateRule(max_running=2, starts_per_minute=3), clock=clock)
    me = [("owner:alice", "by you")]
    first, second = _Done(), _Done()
    limiter.admit(me).hold(first)
    limiter.admit(me).hold(second)
    with pytest.raises(TooManyStartsError) as busy:
        limiter.admit(me)
    assert busy.value.user_message == (
        "2 videos are already running by you on this Space's shared key, the most at once is 2. "
        "Try again when one of them ends, or enter your own key. "
        "Nothing was sent and nothing was charged."
    )
    first.finished = True  # one ends: a slot is free, and the minute allows a third start
    clock.advance(10)
    limiter.admit(me).hold(_Done())
    second.finished = True
    clock.advance(5)
    with pytest.raises(TooManyStartsError) as hurried:
        limiter.admit(me)
    # three starts at t=0, 0 and 10: the first leaves the minute at t=60, 45 s from now
    assert "3 videos were started by you in the last minute" in hurried.value.user_message
    assert "Try again in 45 s" in hurried.value.user_message and hurried.value.retry_after == 45
    clock.advance(45)
    limiter.admit(me).hold(_Done())


def test_a_fresh_visitor_id_does_not_reset_the_count_of_its_address():
    limiter = RateLimiter(RateRule(max_running=10, starts_per_minute=2), clock=ManualClock())
    for visitor in ("v1", "v2"):
        limiter.admit([(f"owner:{visitor}", "by you"), ("address:203.0.113.9", "from it")])
    with pytest.raises(TooManyStartsError, match="2 videos were started from it"):
        limiter.admit([("owner:v3", "by you"), ("address:203.0.113.9", "from it")])
    limiter.admit([("owner:v3", "by you"), ("address:198.51.100.7", "from it")])  # elsewhere


def test_a_batch_larger_than_the_rule_is_refused_whole_and_a_failed_start_frees_its_slot():
    limiter = RateLimiter(RateRule(max_running=2, starts_per_minute=10), clock=ManualClock())
    with pytest.raises(TooManyStartsError, match="This starts 3 videos at once; .* at most 2"):
        limiter.admit([("owner:a", "by you")], 3)
    with limiter.admit([("owner:a", "by you")], 2) as ticket:
        ticket.hold(_Done())  # the second never started (a refusal before its job existed)
    limiter.admit([("owner:a", "by you")]).hold(_Done())  # so one slot is free again
    with pytest.raises(TooManyStartsError, match="already running"):
        limiter.admit([("owner:a", "by you")])


def test_many_threads_at_once_never_pass_more_than_the_rule():
    limiter = RateLimiter(RateRule(max_running=3, starts_per_minute=100), clock=ManualClock())

    def start(_: int) -> bool:
        try:
            limiter.admit([("address:192.0.2.1", "from it")]).hold(_Done())
        except TooManyStartsError:
            return False
        return True

    assert at_once(start, 40).count(True) == 3


def test_idle_clients_are_forgotten():
    clock = ManualClock()
    limiter = RateLimiter(RateRule(max_running=5, starts_per_minute=5), clock=clock)
    for i in range(1100):
        limiter.admit([(f"owner:{i}", "by you")]).hold(_Done())
    for job in [j for c in limiter._clients.values() for j in c.running]:
        job.finished = True  # type: ignore[misc]
    clock.advance(61)
    limiter.admit([("owner:late", "by you")])
    assert limiter.size() == 1


def test_the_rule_comes_from_the_environment_with_a_sentence_for_a_bad_value():
    assert RateRule.from_env({}) == RateRule(2, 4)
    rule = RateRule.from_env({"PIXVERSE_UI_MAX_RUNNING": "5", "PIXVERSE_UI_STARTS_PER_MINUTE": "9"})
    assert rule == RateRule(5, 9)
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(ValidationError, match="PIXVERSE_UI_MAX_RUNNING must be a whole"):
            RateRule.from_env({"PIXVERSE_UI_MAX_RUNNING": bad})


# --- the ceiling on the payer ----------------------------------------------------------------


def test_the_host_ceiling_defaults_to_five_dollars_only_when_the_key_is_shared():
    assert host_ceiling(shared=True, environ={}) == DEFAULT_HOST_CEILING_USD == 5.0
    assert host_ceiling(shared=False, environ={}) is None
    assert host_ceiling(shared=False, environ={HOST_BUDGET_ENV: "20"}) == 20.0
    with pytest.raises(ValidationError, match=f"{HOST_BUDGET_ENV} must be an amount of dollars"):
        host_ceiling(shared=True, environ={HOST_BUDGET_ENV: "lots"})
    space = Mode(host_key=HOST, on_space=True, share_host_key=True, has_auth=False, public=True)
    assert space.host_key_shared and space.host_ceiling_usd == 5.0
    assert "up to $5.00 a day in all (the default; set PIXVERSE_UI_HOST_DAILY_BUDGET)" in (
        space.banner()
    )
    mine = Mode(host_key=HOST, on_space=False, share_host_key=False, has_auth=False)
    assert not mine.host_key_shared and mine.host_ceiling_usd is None  # a private page
    own_keys = Mode(host_key=HOST, on_space=True, share_host_key=False, has_auth=False, public=True)
    assert not own_keys.host_key_shared  # visitors bring their own keys there


def _priced(ledger: Ledger, crid: str, owner: str, payer: str, usd: float) -> None:
    ledger.record(
        client_request_id=crid, owner=owner, payer=payer, endpoint="e", body=SMALL.to_body()
    )
    ledger.update(crid, state="running")
    ledger.update(crid, state="done", status="completed", credits_used=usd * 2e6, usd_spent=usd)


def test_the_payer_ceiling_counts_every_owner_and_says_so(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    for i in range(3):
        _priced(ledger, f"c{i}", owner=f"visitor-{i}", payer="host", usd=1.5)
    _priced(ledger, "own", owner="visitor-9", payer="visitors-own-key", usd=1.0)
    budget = Budget().for_payer(5.0)
    cost = budget.quote(SMALL, ledger)
    assert cost.usd == pytest.approx(1.5)  # the most this ledger has seen the card multiplied
    with pytest.raises(BudgetError) as refused:
        budget.check(ledger, "a-fresh-visitor", cost, payer="host")
    assert refused.value.user_message.startswith(
        "This start (about $1.50) would take the shared key past its daily limit of $5.00 for "
        "everyone using it ($4.50 is spent or running today). Try again tomorrow, or enter your "
        "own AI/ML API key."
    )
    budget.check(ledger, "a-fresh-visitor", cost, payer="visitors-own-key")  # not the host's


def test_jobs_in_flight_count_at_the_highest_price_multiple_seen(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    assert PricesSeen.of(ledger) == PricesSeen(1.0, None)
    assert safe_price(SMALL, PricesSeen.of(ledger)).usd == pytest.approx(CARD_USD)
    _priced(ledger, "seen", owner="a", payer="a", usd=CARD_USD * PRICE)  # 540p at 4x
    big = validate("x", resolution="1080p", duration=10)
    seen = PricesSeen.of(ledger)
    assert seen.multiple == pytest.approx(PRICE) and seen.highest_usd == pytest.approx(2.5)
    # a shape never priced here counts at its card times the same multiple
    assert safe_price(big, seen).usd == pytest.approx(usd_for(credits_for(big)) * PRICE)
    ledger.record(client_request_id="flying", owner="a", endpoint="e", body=big.to_body())
    spent = spent_since(ledger, 0, owner="a")
    assert spent.usd == pytest.approx(CARD_USD * PRICE + usd_for(credits_for(big)) * PRICE)


def test_a_start_in_flight_counts_at_least_at_the_dearest_price_any_order_of_shapes(tmp_path):
    """A provider with one flat price ($2.50): its dearest shape (1080p 10 s, $5.00 on the card)
    costs half its card, the cheapest (360p 1:1, about $0.16) fifteen times it. The multiple
    stays 1; what a start in flight counts for may not."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    tiny = validate("x", resolution="360p", aspect_ratio="1:1")
    # before any price: the card's dearest shape, whatever the shape in flight
    assert usd_for(most_expensive_card()) == pytest.approx(5.0)
    assert in_flight_price(tiny, PricesSeen.of(ledger)).usd == pytest.approx(5.0)
    big = validate("x", resolution="1080p", duration=10)
    ledger.record(client_request_id="big", owner="a", endpoint="e", body=big.to_body())
    ledger.update("big", state="running", usd_spent=2.5, credits_used=5e6)
    seen = PricesSeen.of(ledger)
    assert seen.multiple == 1.0 and seen.highest_usd == pytest.approx(2.5)
    assert safe_price(tiny, seen).usd == pytest.approx(usd_for(credits_for(tiny)))  # its card
    assert in_flight_price(tiny, seen).usd == pytest.approx(2.5)  # the most a job has cost
    ledger.record(client_request_id="tiny", owner="a", endpoint="e", body=tiny.to_body())
    assert spent_since(ledger, 0, owner="a").usd == pytest.approx(5.0)
    with pytest.raises(BudgetError) as refused:
        Budget(5.0).check(ledger, "a", safe_price(tiny, seen))
    assert "$0.00 is left today ($2.50 of it is held for 1 start the API has not priced yet)" in (
        refused.value.user_message
    )
    assert "Try again once the API has priced it" in refused.value.user_message


def test_the_simulators_pretend_prices_teach_nothing_about_real_ones(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    big = validate("x", resolution="1080p", duration=10)
    ledger.record(client_request_id="sim", owner="a", endpoint="simulator", body=big.to_body())
    ledger.update("sim", state="running", usd_spent=40.0, credits_used=8e7)
    assert PricesSeen.of(ledger) == PricesSeen(1.0, None)


def _parallel_starts(
    path: Path, sim_url: str, budget: Budget, count: int, params=SMALL, owner="alice"
) -> list[str]:

    def start(_: int) -> str:
        ledger = Ledger(path)  # a ledger object (and connection) per thread, as processes have
        with Client(api_key=TEST_KEY, base_url=sim_url, timeout=(2.0, 10.0)) as client:
            try:
                generation.create_job(
                    params, client=client, ledger=ledger, owner=owner, budget=budget
                )
            except BudgetError:
                return "refused"
            return "started"

    return at_once(start, count)


def test_fifteen_parallel_starts_overshoot_a_limit_by_one_job_at_most(tmp_path, make_sim, figures):
    """$5.00 a day; each job really costs four times the card ($2.50 for this shape, which the
    card prices at $0.625). Someone's 720p job already ran ($4.44), so the ledger has seen the
    provider's prices, though never for this shape: each start counts at the card times four, and
    a start still in flight when another is checked at the most any job has cost ($4.44)."""
    sim = make_sim(price_multiple=PRICE)
    path = tmp_path / "ledger.sqlite3"
    other = validate("a heron", resolution="720p")
    assert _parallel_starts(path, sim.url, Budget(), 1, other, "bob") == ["started"]
    outcomes = _parallel_starts(path, sim.url, Budget(5.0), 15)
    spent = spent_since(Ledger(path), 0, owner="alice").usd
    # counted at the card, eight would pass ($20.00 spent); here one, and a second only if it is
    # checked after the first was priced ($2.50 + $2.50)
    started = outcomes.count("started")
    assert started in (1, 2) and sim.stats()["posts"] == 1 + started
    assert spent == pytest.approx(2.5 * started) and spent <= 5.0
    figures["overshoot in cents of 15 parallel starts over a $5 limit"] += round(
        max(0.0, spent - 5.0) * 100
    )


def test_before_any_price_is_known_one_unpriced_start_at_a_time(tmp_path, make_sim):
    """A fresh ledger knows only the card ($0.625); the provider charges $2.50. Starts at once
    cannot all count at the card: while one is in flight it counts at the card's dearest shape
    ($5.00), so the next passes only once the API has priced the first."""
    sim = make_sim(price_multiple=PRICE)
    path = tmp_path / "ledger.sqlite3"
    outcomes = _parallel_starts(path, sim.url, Budget(5.0), 15)
    started = outcomes.count("started")
    # at the card, eight would pass ($20.00); a start that comes after the first was priced
    # counts at $2.50 and may fit ($5.00 in all)
    assert started in (1, 2) and sim.stats()["posts"] == started
    assert spent_since(Ledger(path), 0, owner="alice").usd <= 5.0 + CARD_USD * PRICE


def test_an_expensive_shape_first_then_cheap_ones_at_once_pay_one_job_over_at_most(
    tmp_path, make_sim, figures
):
    """A provider that charges $2.50 a job whatever its shape, answering a create after 1 to
    2.5 s. A 1080p 10 s job first (its card says $5.00; it costs $2.50), then six 360p 1:1
    starts at once (about $0.16 each on the card): counted at their card, all six would pass
    ($17.50 in all against $5.00)."""
    sim = make_sim(flat_usd=2.5, post_delay=(1.0, 2.5))
    path = tmp_path / "ledger.sqlite3"
    big = validate("a whale", resolution="1080p", duration=10)
    assert _parallel_starts(path, sim.url, Budget(5.0), 1, big) == ["started"]
    tiny = validate("a wren", resolution="360p", aspect_ratio="1:1")
    outcomes = _parallel_starts(path, sim.url, Budget(5.0), 6, tiny)
    spent = spent_since(Ledger(path), 0, owner="alice").usd
    assert outcomes.count("started") == sim.stats()["posts"] - 1 >= 1
    assert spent <= 5.0 + 2.5  # the ceiling, and the one job being checked at most
    figures["overshoot in cents, $5 limit, 1080p 10 s then 6 cheap starts, flat $2.50"] += round(
        max(0.0, spent - 5.0) * 100
    )


def test_a_lost_answer_on_a_fresh_ledger_leaves_the_next_start_free_to_go(tmp_path, make_sim):
    """The first create's answer is lost: the job may exist and be charged, so the day counts
    it at its safe price, but it is not in flight: nothing holds the next start."""
    sim = make_sim(price_multiple=PRICE, faults="lost-post@post*1")
    path = tmp_path / "ledger.sqlite3"
    with (
        Client(api_key=TEST_KEY, base_url=sim.url, timeout=(2.0, 10.0)) as client,
        pytest.raises(errors.SubmissionUnconfirmedError),
    ):
        generation.create_job(
            SMALL, client=client, ledger=Ledger(path), owner="alice", budget=Budget(5.0)
        )
    (lost,) = Ledger(path).history("alice")
    assert lost.state == "unconfirmed"
    assert spent_since(Ledger(path), 0, owner="alice").usd == pytest.approx(CARD_USD)
    assert _parallel_starts(path, sim.url, Budget(5.0), 1) == ["started"]
    assert sim.stats()["posts"] == 2


_KILLED_MID_POST = """
import os, sys
from pixverse_ui.store import Ledger
ledger = Ledger(sys.argv[1])
ledger.record(client_request_id="mid-post", owner="alice", endpoint="e", body={body!r})
os._exit(9)  # killed before the POST's answer: no handler, no finally
"""


def test_a_start_whose_process_died_mid_post_is_unconfirmed_when_the_ledger_opens(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "ledger.sqlite3"
    script = _KILLED_MID_POST.format(body=SMALL.to_body())
    subprocess.run([sys.executable, "-c", script, str(path)], check=False, timeout=60)
    ledger = Ledger(path)  # what a restarted app does first
    row = ledger.get("mid-post")
    assert row.state == "unconfirmed" and "usage log" in (row.error or "")
    # it counts for the day at its safe price, and holds no start back
    assert spent_since(ledger, 0, owner="alice").usd == pytest.approx(CARD_USD)
    Budget(5.0).check(ledger, "alice", safe_price(SMALL))


def test_a_start_still_being_sent_by_a_live_process_is_left_alone(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).record(client_request_id="sending", owner="a", endpoint="e", body=SMALL.to_body())
    assert Ledger(path).settle_abandoned() == []  # this process is alive: its POST is under way
    assert Ledger(path).get("sending").state == "submitting"


# --- the whole app: a shared key on a public page --------------------------------------------


@pytest.fixture
def shared_app(tmp_path, make_live_sim, monkeypatch):
    """An App as on a Space that shares its key, in front of a simulator that charges $2.50 a
    540p job; the rate per client opened wide so that only the ceiling stops a burst."""
    sim = make_live_sim(price_multiple=PRICE, api_keys=frozenset({HOST}))
    monkeypatch.setenv("AIMLAPI_BASE_URL", sim.url)
    mode = Mode(
        host_key=HOST,
        on_space=True,
        share_host_key=True,
        has_auth=False,
        public=True,
        rate=RateRule(max_running=1000, starts_per_minute=1000),
    )
    app = App(mode, Ledger(tmp_path / "ledger.sqlite3"), tmp_path / "videos")
    yield app, sim


def test_a_burst_of_fresh_visitor_ids_stops_at_the_host_ceiling(shared_app):
    app, sim = shared_app
    refused = []
    for _ in range(30):  # one after another, each a new visitor token: a fresh owner budget each
        fresh = app.visitor_token()
        try:  # a start returns once its create has answered (and priced it), or is refused
            app.start(app.caller(None, fresh, origin=Origin("203.0.113.5")), [SMALL])
        except BudgetError as exc:
            refused.append(exc)
    assert sim.stats()["posts"] == 2  # $2.50 each: two fit under the default $5.00
    assert len(refused) == 28
    assert "past its daily limit of $5.00 for everyone" in refused[0].user_message
    assert app.ceiling_today() == "The shared key has $0.00 of its $5.00 a day left for everyone."
    # a visitor with their own key is not the host's to limit
    own = app.caller(TEST_KEY, app.visitor_token(), origin=Origin("203.0.113.5"))
    assert not own.shared and app.budget_for(own).payer_limit_usd is None


def test_the_rate_per_client_applies_on_the_shared_key_only(shared_app, monkeypatch):
    app, sim = shared_app
    app.limiter.rule = RateRule(max_running=1, starts_per_minute=10)
    one, another = app.visitor_token(), app.visitor_token()
    caller = app.caller(None, one, origin=Origin("203.0.113.7"))
    (job,) = app.start(caller, [SMALL])
    with pytest.raises(TooManyStartsError, match="1 video is already running by you"):
        app.start(app.caller(None, one, origin=Origin("198.51.100.1")), [SMALL])
    with pytest.raises(TooManyStartsError, match="already running from your network address"):
        app.start(app.caller(None, another, origin=Origin("203.0.113.7")), [SMALL])
    job.wait(timeout=60)
    assert sim.stats()["posts"] == 1


def test_a_visitors_storyboard_waits_for_the_rate_and_sends_each_shot_once(shared_app):
    """A page visitor's storyboard on the shared key, allowed one video at a time and two starts
    a minute: shot 2 (not chained) waits unsent while shot 1 runs, shot 3 waits for the minute
    to pass; each goes when the rate allows, and the run finishes with three POSTs."""
    app, sim = shared_app
    app.limiter.rule = RateRule(max_running=1, starts_per_minute=2)
    app.limiter.clock = clock = ManualClock()  # the minute passes only when the run sleeps on it
    visitor = app.caller(None, app.visitor_token(), origin=Origin("203.0.113.5"))
    assert visitor.shared
    said: list[tuple[str, int]] = []
    runner = Runner(app, visitor, on_event=lambda text: said.append((text, sim.stats()["posts"])))
    data = board(
        ("a fox wakes", 5, False), ("a crow calls", 5, False), ("the fox looks up", 5, True)
    )

    outcome = runner.run(data)

    assert outcome.ok, outcome.problems()
    assert [s.state for s in outcome.shots] == ["done"] * 3
    sent = [job["body"]["prompt"] for job in sim.stats()["jobs"]]
    assert sent == [s["prompt"] for s in data["shots"]] and sim.stats()["posts"] == 3  # each once
    waits = [(text, posts) for text, posts in said if " waits: " in text]
    # shot 2 waited unsent while shot 1 ran (one at a time), then went
    assert waits[0][0].startswith("Shot 2 waits: 1 video is already running by you"), said
    assert waits[0][1] == 1, said
    # shot 3 waited for the minute (two starts a minute), slept on the rate's clock, then went
    assert any(t.startswith("Shot 3 waits: 2 videos were started by you") for t, _ in waits), said
    assert 0 < sum(clock.slept) <= 61
    started = [text for text, _ in said if ", take 1: started" in text]
    assert [t[:6] for t in started] == ["Shot 1", "Shot 2", "Shot 3"]
    assert "from shot 2's last frame" in started[2]


def test_an_anonymous_call_has_no_history_and_cannot_spend_the_shared_key(shared_app):
    app, sim = shared_app
    one, two = app.caller(None), app.caller(None)
    assert one.anonymous and two.anonymous and one.owner != two.owner
    with pytest.raises(errors.AuthenticationError, match="cannot spend this Space's shared key"):
        app.start(one, [SMALL])
    with pytest.raises(errors.AuthenticationError, match="cannot spend"):
        app.check_start(one, [SMALL])
    assert sim.stats()["posts"] == 0
    # with their own key the same caller is welcome: the key is theirs to spend
    assert not app.caller(TEST_KEY).anonymous
