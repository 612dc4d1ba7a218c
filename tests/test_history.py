"""The history view model, the star and the note, and money (pricing), on real ledger files."""

from __future__ import annotations

import sqlite3
import time

import pytest

from pixverse_ui import validate
from pixverse_ui.budget import spent_since
from pixverse_ui.clock import ManualClock
from pixverse_ui.errors import ValidationError
from pixverse_ui.history import (
    ADOPTED_SETTINGS,
    HistoryItem,
    HistoryQuery,
    history,
    history_page,
    item,
)
from pixverse_ui.lifecycle import Status
from pixverse_ui.pricing import (
    CONVERTED,
    CREDITS_PER_USD,
    LEDGER,
    PROVIDER,
    RATE_CARD,
    Cost,
    PricesSeen,
    actual,
    credits_for,
    estimate,
    format_cost,
    in_flight_price,
    safe_price,
)
from pixverse_ui.store import _SCHEMA, NOTE_MAX_CHARS, Ledger


@pytest.fixture
def ledger(tmp_path):
    return Ledger(tmp_path / "ledger.sqlite3", clock=ManualClock(start=1_750_000_000.0))


def add(ledger, crid, prompt="a red fox", owner="alice", **options):
    body = validate(prompt, **{"resolution": "540p", **options}).to_body()
    record = ledger.record(client_request_id=crid, owner=owner, endpoint="e", body=body)
    ledger.clock.advance(10)
    return record


def finish(ledger, crid, *, credits=None, usd=None, video=None, state=Status.DONE):
    ledger.update(
        crid, state=Status.RUNNING
    )  # a job ends from running: the ledger allows no shortcut
    ledger.update(
        crid,
        generation_id=f"gen-{crid}",
        state=state,
        status="completed" if state == Status.DONE else "failed",
        submitted_at=ledger.clock.now() - 60,
        finished_at=ledger.clock.now(),
        credits_used=credits,
        usd_spent=usd,
        video_path=str(video) if video else None,
    )
    return ledger.get(crid)


# --- star and note -------------------------------------------------------------------------------


def test_a_star_and_a_note_are_kept_and_only_the_owner_changes_them(ledger):
    add(ledger, "c1")
    finish(ledger, "c1")
    starred = ledger.set_starred("gen-c1", "alice", True)
    assert starred.starred is True
    noted = ledger.set_note("c1", "alice", "  keep this one: the light is right  ")
    assert noted.note == "keep this one: the light is right" and noted.starred
    assert ledger.set_starred("c1", "alice", False).starred is False
    assert ledger.set_note("c1", "alice", "   ").note is None  # empty removes it

    # someone else's job is refused exactly as an unknown one, and nothing changes
    with pytest.raises(KeyError) as foreign:
        ledger.set_starred("gen-c1", "mallory", True)
    with pytest.raises(KeyError) as unknown:
        ledger.set_starred("gen-nope", "mallory", True)
    assert type(foreign.value) is type(unknown.value)
    assert foreign.value.args == ("gen-c1",) and unknown.value.args == ("gen-nope",)
    with pytest.raises(KeyError):
        ledger.set_note("c1", "mallory", "mine now")
    after = ledger.get("c1")
    assert after.starred is False and after.note is None


def test_a_note_is_at_most_2000_characters(ledger):
    add(ledger, "c1")
    assert len(ledger.set_note("c1", "alice", "x" * NOTE_MAX_CHARS).note) == NOTE_MAX_CHARS
    with pytest.raises(ValidationError, match="2001 characters long; the limit is 2000"):
        ledger.set_note("c1", "alice", "y" * (NOTE_MAX_CHARS + 1))
    with pytest.raises(ValidationError):
        ledger.set_note("c1", "alice", 42)
    assert ledger.get("c1").note == "x" * NOTE_MAX_CHARS


def test_update_cannot_change_a_star_or_a_note(ledger):
    add(ledger, "c1")
    with pytest.raises(ValueError):
        ledger.update("c1", starred=1)
    with pytest.raises(ValueError):
        ledger.update("c1", note="x")


def test_an_old_ledger_gets_the_star_and_note_columns(tmp_path):
    path = tmp_path / "old.sqlite3"
    old_schema = _SCHEMA.replace(
        ",\n    payer TEXT,\n    starred INTEGER NOT NULL DEFAULT 0,\n    note TEXT", ""
    )
    assert "starred" not in old_schema and "payer" not in old_schema
    with sqlite3.connect(path) as db:
        db.executescript(old_schema)
        db.execute(
            "INSERT INTO jobs (client_request_id, generation_id, owner, endpoint, state, status,"
            " request_json, resolution, duration, aspect_ratio, prompt, created_at, updated_at)"
            " VALUES ('c0', 'g0', 'alice', 'e', 'done', 'completed', '{\"prompt\": \"old\","
            ' "resolution": "360p", "duration": 5, "aspect_ratio": "16:9",'
            " \"model\": \"pixverse/v5-5-text-to-video\"}', '360p', 5, '16:9', 'old', 1, 1)"
        )
    ledger = Ledger(path)
    old = ledger.get("g0")
    assert old.starred is False and old.note is None
    assert ledger.set_starred("g0", "alice", True).starred is True
    assert [i.ident for i in history(ledger, "alice", HistoryQuery(starred=True))] == ["g0"]


# --- the view model ------------------------------------------------------------------------------


def test_an_item_says_what_was_asked_what_came_of_it_and_what_it_cost(ledger, tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0\0\0\x18ftypmp42")
    add(ledger, "c1", "a red fox\nin the   snow", style="anime", seed=3, negative_prompt="blur")
    record = finish(ledger, "c1", credits=1_250_000, usd=0.625, video=video)
    ledger.set_note("c1", "alice", "good")
    it = HistoryItem.from_record(ledger.get("c1"))
    assert it.ident == "gen-c1" and it.client_request_id == "c1"
    assert it.state == Status.DONE and it.status == "completed"
    assert it.params == record.request and it.negative_prompt == "blur"
    assert it.settings == "16:9 · 540p · 5 s · anime · seed 3"
    assert (it.credits, it.usd, it.cost.source) == (1_250_000, 0.625, PROVIDER)
    assert it.cost_text() == "$0.62 (1,250,000 credits)"
    assert (
        it.facts() == "16:9 · 540p · 5 s · anime · seed 3 · $0.62 (1,250,000 credits) · took 1:00"
    )
    assert it.seconds == 60 and it.video_path == video and it.has_video
    assert it.note == "good" and not it.starred and not it.adopted
    assert it.short_prompt(12) == "a red fox i…"
    assert it.short_prompt() == "a red fox in the snow"
    assert it.when(local=False) == time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(1_750_000_000))
    assert it.when() == time.strftime("%Y-%m-%d %H:%M", time.localtime(1_750_000_000))
    assert it.to_json()["usd"] == 0.625 and it.to_json()["settings"] == it.settings


def test_a_prompt_in_a_line_is_one_line_cut_at_its_width():
    """History's items and the page's strip of running jobs cut a prompt the same way."""
    from pixverse_ui.formatting import one_line

    assert one_line("a red fox\n\n  in the snow", 48) == "a red fox in the snow"
    assert one_line("a red fox\n\n  in the snow", 12) == "a red fox i…"
    assert len(one_line("x" * 300, 48)) == 48


def test_an_adopted_item_says_its_request_is_not_known_here(ledger):
    ledger.adopt("gen-far", owner="alice", endpoint="e")
    [it] = history(ledger, "alice")
    assert it.adopted and it.settings == ADOPTED_SETTINGS and it.params == {}
    assert it.ident == "gen-far" and it.short_prompt() == "(gen-far)"
    assert it.cost is None and it.usd is None


def test_a_job_that_never_got_an_id_is_named_by_its_client_request_id(ledger):
    add(ledger, "c-lost")
    [it] = history(ledger, "alice")
    assert it.generation_id is None and it.ident == "c-lost" and it.cost is None


def test_the_query_filters_text_state_star_resolution_and_dates(ledger):
    t0 = ledger.clock.now()
    add(ledger, "fox", "A red FOX in the snow")
    add(ledger, "boat", "a paper boat", resolution="360p")
    add(ledger, "café", "Un CAFÉ à Paris")
    add(ledger, "other", "a red fox", owner="bob")
    finish(ledger, "fox")
    finish(ledger, "boat", state=Status.FAILED)
    ledger.set_starred("boat", "alice", True)
    ledger.set_note("café", "alice", "the Fox-like cat")

    def ids(**query):
        return [i.client_request_id for i in history(ledger, "alice", HistoryQuery(**query))]

    assert ids() == ["café", "boat", "fox"]  # newest first, alice's only
    assert ids(text="fox") == ["café", "fox"]  # prompt or note, any case
    assert ids(text="café") == ["café"] and ids(text="CAFÉ") == ["café"]  # beyond ASCII
    assert ids(state=Status.FAILED) == ["boat"] and ids(state=Status.DONE) == ["fox"]
    assert ids(starred=True) == ["boat"] and ids(starred=False) == ["café", "fox"]
    assert ids(resolution="360p") == ["boat"]
    assert ids(since=t0 + 10) == ["café", "boat"] and ids(until=t0 + 10) == ["fox"]
    assert ids(since=t0 + 5, until=t0 + 20) == ["boat"]
    assert ids(text="fox", starred=True) == []
    assert [i.client_request_id for i in history(ledger, "alice", limit=1)] == ["café"]
    for bad in ({"state": "exploded"}, {"resolution": "4k"}, {"since": 10.0, "until": 5.0}):
        with pytest.raises(ValidationError):
            history(ledger, "alice", HistoryQuery(**bad))


def test_a_page_says_where_it_is_among_all_found_and_past_the_last_is_the_last(ledger):
    for i in range(45):
        add(ledger, f"c{i:02d}", "a heron" if i % 3 == 0 else "a red fox")
    add(ledger, "theirs", owner="bob")

    def shown(page, **query):
        found = history_page(ledger, "alice", HistoryQuery(**query), page=page, size=20)
        ids = [i.client_request_id for i in found.items]
        return found.number, found.pages, found.range_text(), ids[:1] + ids[-1:]

    assert shown(1) == (1, 3, "1–20 of 45", ["c44", "c25"])  # newest first
    assert shown(2) == (2, 3, "21–40 of 45", ["c24", "c05"])
    assert shown(3) == (3, 3, "41–45 of 45", ["c04", "c00"])
    assert shown(9) == shown(3) and shown(0) == shown(1)  # past the last: the last
    assert shown(1, text="HERON") == (1, 1, "1–15 of 15", ["c42", "c00"])
    assert shown(1, text="owl") == (1, 1, "none found", [])
    assert shown(1, state=Status.DONE)[2] == "none found"
    finish(ledger, "c07")
    assert shown(1, state=Status.DONE) == (1, 1, "1 of 1", ["c07", "c07"])
    assert history_page(ledger, "alice", size=10_000).range_text() == "1–45 of 45"
    with pytest.raises(ValidationError):
        history_page(ledger, "alice", HistoryQuery(state="exploded"), size=20)


def test_one_item_by_id_is_the_owners_only(ledger):
    add(ledger, "c1")
    finish(ledger, "c1")
    assert item(ledger, "alice", "gen-c1").ident == "gen-c1"
    assert item(ledger, "alice", "c1").ident == "gen-c1"  # by client request id too
    # someone else's reads as an unknown one, and so does anything that is not an id
    for who, ident in (("bob", "gen-c1"), ("alice", "gen-nope"), ("alice", ["gen-c1"])):
        assert item(ledger, who, ident) is None


def test_a_period_begins_at_a_local_midnight_and_filters_the_history(ledger):
    from datetime import datetime

    from pixverse_ui.history import PERIODS, period_start

    now = datetime(2026, 5, 9, 14, 3).timestamp()
    assert period_start("any time", now) is None
    assert period_start("today", now) == datetime(2026, 5, 9).timestamp()
    assert period_start("last 7 days", now) == datetime(2026, 5, 2).timestamp()
    assert list(PERIODS) == ["any time", "today", "last 7 days", "last 30 days"]
    with pytest.raises(ValidationError, match="When must be any time, today, last 7 days or"):
        period_start("yesterday", now)
    add(ledger, "old")
    ledger.clock.advance(3 * 86400)
    add(ledger, "new")
    since = period_start("today", ledger.clock.now())
    assert [i.client_request_id for i in history(ledger, "alice", HistoryQuery(since=since))] == [
        "new"
    ]


# --- money ---------------------------------------------------------------------------------------


def test_the_rate_card_is_the_pages_example_scaled_by_pixels_and_duration():
    reference = validate("x", resolution="1080p", aspect_ratio="16:9", duration=5)
    assert credits_for(reference) == 5_000_000
    assert credits_for(reference.to_body()) == 5_000_000
    assert credits_for(validate("x", resolution="1080p", duration=10)) == 10_000_000
    assert credits_for(validate("x", resolution="540p")) == 1_250_000  # a quarter of the pixels
    cost = estimate(reference)
    assert cost == Cost(5_000_000, 5_000_000 / CREDITS_PER_USD, RATE_CARD)
    assert format_cost(cost) == "about $2.50 (5,000,000 credits)"


def test_the_simulator_charges_by_the_same_table():
    from pixverse_ui.simulator import app, state

    assert app.credits_for is credits_for
    assert not hasattr(state, "CREDITS_PER_USD")  # one table, in pricing.py


def test_an_estimate_learns_from_the_ledger(ledger):
    params = validate("x", resolution="540p")
    assert estimate(params, ledger).source == RATE_CARD
    for i, credits in enumerate([1_000_000, 1_200_000, 5_000_000]):
        add(ledger, f"c{i}")
        finish(ledger, f"c{i}", credits=credits)
    cost = estimate(params, ledger)
    assert (cost.credits, cost.source) == (1_200_000, LEDGER)
    assert cost.usd == pytest.approx(0.6)  # no dollars in the ledger: the assumed rate
    add(ledger, "c9")
    finish(ledger, "c9", credits=1_200_000, usd=0.9)
    assert estimate(params, ledger).usd == 0.9  # the provider's dollars win
    assert estimate(validate("x", resolution="540p", aspect_ratio="1:1"), ledger).source == (
        RATE_CARD  # another shape: pixels differ, so it is not this shape's median
    )


def test_the_actual_cost_says_its_source(ledger):
    add(ledger, "c1")
    assert actual(ledger.get("c1")) is None
    converted = actual(finish(ledger, "c1", credits=4_000_000))
    assert converted == Cost(4_000_000, 2.0, CONVERTED) and converted.estimated
    assert format_cost(converted) == "about $2.00 (4,000,000 credits)"
    add(ledger, "c2")
    paid = actual(finish(ledger, "c2", credits=4_000_000, usd=2.5))
    assert paid == Cost(4_000_000, 2.5, PROVIDER) and not paid.estimated
    assert format_cost(paid) == "$2.50 (4,000,000 credits)"
    assert format_cost(Cost(1000, 0.0005, PROVIDER)) == "<$0.01 (1,000 credits)"


def test_spent_since_counts_estimates_of_pending_jobs_and_leaves_out_refusals(ledger):
    start = ledger.clock.now()
    add(ledger, "old")
    finish(ledger, "old", credits=2_000_000, usd=1.0)
    since = ledger.clock.now()
    add(ledger, "paid")
    finish(ledger, "paid", credits=2_000_000, usd=1.0)
    add(ledger, "pending", resolution="1080p")  # no figure yet: its estimate counts
    add(ledger, "refused")
    ledger.update("refused", state="rejected")
    add(ledger, "failed")
    finish(ledger, "failed", state=Status.FAILED)  # failed without a figure: nothing
    add(ledger, "running")
    ledger.update("running", generation_id="g-run", state=Status.RUNNING, status="queued")
    add(ledger, "bob's", owner="bob", resolution="1080p")
    spent = spent_since(ledger, since, owner="alice")
    # jobs with no figure yet count at the safe price: the rate card times the highest multiple
    # of it a job here has cost ($1.00 for a shape the card says $0.625: 1.6 times)
    seen = PricesSeen.of(ledger)
    assert seen.multiple == pytest.approx(1.0 / 0.625)
    pending = in_flight_price(validate("x", resolution="1080p"), seen).usd
    running = in_flight_price(validate("x", resolution="540p"), seen).usd
    assert running == pytest.approx(1.0)
    assert pending == safe_price(validate("x", resolution="1080p"), seen).usd
    assert pending > estimate(validate("x", resolution="1080p")).usd
    assert spent.usd == pytest.approx(1.0 + pending + running)
    assert spent.estimated
    assert spent_since(ledger, start, owner="alice").usd == pytest.approx(spent.usd + 1.0)
    assert spent_since(ledger, start, owner="carol").usd == 0
    # what a key paid, whoever owned the jobs: bob's job is paid by his own key here
    assert spent_since(ledger, start, payer="alice").usd == pytest.approx(spent.usd + 1.0)
