"""Batches are planned and validated whole before anything is sent, with a cost quote."""

import random

import pytest

from pixverse_ui import ValidationError, validate
from pixverse_ui.budget import quote
from pixverse_ui.clock import ManualClock
from pixverse_ui.lifecycle import Status
from pixverse_ui.pricing import LEDGER, RATE_CARD, estimate
from pixverse_ui.store import Ledger
from pixverse_ui.variations import MAX_BATCH, plan


def test_seed_variants_differ_only_in_their_seed():
    base = validate("a red fox", resolution="540p", style="anime")
    p = plan(base, "seed", count=5, rng=random.Random(1))
    assert p.count == 5 and len({v.seed for v in p.variants}) == 5
    assert {v.replace(seed=None).to_body() == base.to_body() for v in p.variants} == {True}


def test_style_and_ratio_variants_follow_the_chosen_values():
    base = validate("x")
    styles = plan(base, "style", values=["anime", "clay", "anime"])
    assert [v.style for v in styles.variants] == ["anime", "clay"]
    ratios = plan(base, "aspect_ratio", values=["9:16", "1:1"])
    assert [v.size for v in ratios.variants] == [(720, 1280), (720, 720)]


def test_a_batch_that_cannot_all_be_sent_is_refused_whole():
    with pytest.raises(ValidationError):
        plan(validate("x", resolution="1080p", duration=10), "style", values=["anime", "4k-art"])
    with pytest.raises(ValidationError):
        plan(validate("x"), "seed", count=MAX_BATCH + 1)
    with pytest.raises(ValidationError):
        plan(validate("x"), "style", values=[])


def test_a_batch_is_quoted_in_dollars_and_credits_as_one_video_is():
    base = validate("a red fox", resolution="540p")
    batch = plan(base, "seed", count=4)
    quoted = quote(batch.variants, None)  # no ledger: the rate card
    assert (quoted.cost.credits, quoted.cost.source) == (4 * 1_250_000, RATE_CARD)
    assert quoted.text() == (
        "These 4 videos: about $2.50 (5,000,000 credits) in all; from the rate card, at an "
        "assumed 2,000,000 credits per dollar."
    )
    assert quote([base], None).text().startswith("This video: about $0.62 (1,250,000 credits);")


def test_the_quote_of_a_batch_uses_each_variants_own_shape(tmp_path):
    """A 16:9 job cost 1,000 credits; varying the aspect ratio, only the 16:9 variant is quoted
    at that median, the 9:16 one at the rate card (not at the 16:9 median, as before)."""
    ledger = Ledger(tmp_path / "l.sqlite3", clock=ManualClock())
    base = validate("x", resolution="540p", aspect_ratio="16:9")
    ledger.record(client_request_id="c", owner="o", endpoint="e", body=base.to_body())
    ledger.update("c", generation_id="g", state=Status.RUNNING)
    ledger.update("c", state=Status.DONE, credits_used=1000)
    same = quote(plan(base, "seed", count=3).variants, ledger)
    assert (same.cost.credits, same.cost.source) == (3000, LEDGER)
    assert "the median of your past 16:9 540p 5 s jobs" in same.text()
    ratios = quote(plan(base, "aspect_ratio", values=["16:9", "9:16"]).variants, ledger)
    card = estimate(base.replace(aspect_ratio="9:16")).credits
    assert ratios.cost.credits == 1000 + card == 1000 + 1_250_000
    assert "the median of your past jobs of the same shape, else the rate card" in ratios.text()
    with_today = quote([base], ledger, None, ledger.owner_of("sk-someone"))
    assert with_today.text().endswith("Spent today: $0.00 (0 credits); no daily limit.")


def test_a_job_that_ends_while_the_batch_is_drawn_is_in_the_last_answer(tmp_path, video_cache):
    """The Variations handler answers until ``batch_answer`` says the batch is over; that last
    answer (what an API caller gets) holds every video, even when a job ends while another's
    still is being published (this publisher ends the first job then, as a busy machine may)."""
    from pixverse_ui.jobs import Job
    from pixverse_ui.polling import Update
    from pixverse_ui.publish import Publisher
    from pixverse_ui.simulator.video import ensure_mp4
    from pixverse_ui.ui.variations import batch_answer

    base = validate("a red fox", resolution="360p")
    video, _ = ensure_mp4(base.to_body(), video_cache)
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock=ManualClock())
    variants = plan(base, "seed", count=2).variants
    jobs = [
        Job(ledger, ledger.clock, params=v, client_request_id=f"c{i}")
        for i, v in enumerate(variants)
    ]

    def end(job: Job) -> None:  # as its watcher would: the video, then the end of the feed
        job._feed.push(
            Update.step("g", "completed", 5.0, None, 1.0, "ready", 3, None, video, done=True)
        )
        job._feed.end()

    class EndsTheFirstJobWhilePublishing(Publisher):
        def file(self, path):
            if not jobs[0].finished:
                end(jobs[0])
            return super().file(path)

    publisher = EndsTheFirstJobWhilePublishing(tmp_path / "cache")
    end(jobs[1])
    answer = batch_answer(jobs, publisher)
    assert (len(answer.items), answer.over) == (1, False)  # the first ended while it was drawn
    answer = batch_answer(jobs, publisher)
    assert (len(answer.items), answer.over) == (2, True) and answer.table.count("✓ done") == 2
    assert [card.video is not None for card in answer.cards] == [True, True]


def test_each_card_plays_in_its_own_shape_and_offers_use_this_one_once_ready():
    """A ready variant is a player (its still as the poster) in its video's aspect ratio, with
    what varied and **Use this one** naming it; one still running is a frame of that shape with
    its state and a clock the page moves on; ids and captions are escaped."""
    from pixverse_ui.ui.variant_cards import Card, grid_html

    ready = Card(
        ident='c1"><b>x', number=1, varied="seed 7", settings="9:16 · 360p · 5 s · seed 7",
        state="done in 0:14", width=360, height=640, video="/c/v.mp4", poster="/c/v.jpg",
    )  # fmt: skip
    running = Card(
        ident="c2", number=2, varied="style <clay>", settings="16:9 · 360p · 5 s",
        state="generating", width=640, height=360, elapsed=5.0,
    )  # fmt: skip
    page = grid_html([ready, running])
    assert page.count("<video ") == 1 and page.count("Use this one") == 1
    assert (
        '<video src="gradio_api/file=/c/v.mp4" poster="gradio_api/file=/c/v.jpg" controls '
        'playsinline preload="metadata" style="aspect-ratio: 360 / 640; width: min(100%, 236px)"'
    ) in page
    assert 'data-use="c1&quot;&gt;&lt;b&gt;x"' in page and "<b>x" not in page
    assert "#1 · seed 7" in page and "done in 0:14" in page
    assert (
        'class="pxui-batch-wait" style="aspect-ratio: 640 / 360; width: min(100%, 747px)"' in page
    )
    assert 'generating <span data-elapsed="5.0">0:05</span>' in page
    assert "style &lt;clay&gt;" in page
    assert "Each variant plays here" in grid_html([])


def test_a_variant_refused_part_way_is_kept_in_its_place_and_said_with_what_started(tmp_path):
    """The library's one rule for a batch that does not all start: the notebook, the page and
    MCP draw the same rows and say the same sentence."""
    from pixverse_ui.errors import BudgetError
    from pixverse_ui.variations import Refused, partly_started, start_each

    ledger = Ledger(tmp_path / "ledger.sqlite3")
    variants = plan(validate("a red fox", resolution="540p"), "seed", count=3).variants

    class Started:
        def __init__(self, crid: str) -> None:
            self.client_request_id = crid

    def start(variant):
        crid = f"c{variant.seed}"
        if variant is variants[1]:
            raise BudgetError("This start would cross the limit")
        ledger.record(client_request_id=crid, owner="o", endpoint="e", body=variant.to_body())
        ledger.update(crid, state=Status.RUNNING, credits_used=5_000_000, usd_spent=2.5)
        return Started(crid)

    outcomes = start_each(start, variants)
    assert isinstance(outcomes[1], Refused) and outcomes[1].params == variants[1]
    assert [o.client_request_id for o in outcomes[::2]] == [f"c{v.seed}" for v in variants[::2]]
    assert partly_started(outcomes, ledger) == (
        "2 of 3 variants started, costing $5.00 (10,000,000 credits); they go on. 1 was refused: "
        "This start would cross the limit. Nothing was sent and nothing was charged."
    )
    assert partly_started(outcomes[:1], ledger) is None  # nothing refused: nothing to say

    def refuse(variant):
        raise BudgetError(f"No room for seed {variant.seed}")

    with pytest.raises(BudgetError, match=f"No room for seed {variants[0].seed}"):
        start_each(refuse, variants)  # none started: the first refusal, as for one video
