"""The adaptive poll schedule and the estimate it is built on (pure functions)."""

import math
import random

import pytest

from pixverse_ui import validate
from pixverse_ui.clock import ManualClock
from pixverse_ui.lifecycle import Status
from pixverse_ui.polling import Estimate, PollSchedule, estimate_for
from pixverse_ui.store import Ledger


def _intervals(estimate, schedule=None, until=None, seed=1):
    schedule = schedule or PollSchedule()
    rng = random.Random(seed)
    t, out = 0.0, []
    until = until or estimate.quantile(0.999) * 1.5
    while t < until:
        wait = schedule.interval(t, estimate, rng)
        out.append((t, wait))
        t += wait
    return out


def test_waits_stay_between_floor_and_ceiling():
    schedule = PollSchedule(floor=1.0, ceiling=15.0)
    for t, wait in _intervals(Estimate(123, 0.25, "prior"), schedule, until=2000):
        assert 1.0 <= wait <= 15.0, (t, wait)


def test_polls_are_dense_in_the_likely_window_and_sparse_before_it():
    est = Estimate(120, 0.25, "prior")
    start, end = (est.quantile(q) for q in PollSchedule().window)
    steps = _intervals(est)
    inside = [w for t, w in steps if start <= t <= end]
    before = [w for t, w in steps if start * 0.5 <= t < start * 0.9]
    assert min(before) > 5 * max(inside) / 1.1  # waits before it are several times longer
    assert max(inside) <= PollSchedule().dense * 1.1  # the dense wait, give or take jitter
    assert max(w for _, w in steps) <= 15  # never more than the ceiling between polls


def test_with_history_polls_are_dense_where_the_job_should_end_and_sparse_before_it():
    """A learnt estimate (ten jobs give a spread of about 0.13): every wait in the core is the
    dense one, none in the band lets a finished job wait 2 s, and the way there takes few polls."""
    est = Estimate(120, 0.13, "history")
    learnt = PollSchedule().learnt
    core_start, core_end = (est.quantile(q) for q in learnt.core)
    band_start, band_end = (est.quantile(q) for q in learnt.band)
    for seed in range(20):
        steps = _intervals(est, seed=seed)
        core = [w for t, w in steps if core_start <= t <= core_end]
        band = [w for t, w in steps if band_start <= t <= band_end]
        assert len(core) >= 8 and max(core) <= learnt.core_wait * 1.1
        assert max(band) < 2.0
        polls_before = [t for t, _ in steps if t < band_start]
        assert len(polls_before) <= math.ceil(band_start / (learnt.reach * 0.9)) + 1
        assert min(w for t, w in steps if t < band_start * 0.8) >= 15  # sparse before it
        # a job finishing early is still seen: never more than the reach between polls
        assert max(w for _, w in steps) <= learnt.reach


def test_with_history_a_job_ending_in_the_band_is_seen_within_2_s_for_a_third_of_the_gets():
    """The warm schedule's promise, on a ManualClock: a 2 min job ending anywhere in the band is
    seen within 2 s (within the dense wait in the core), at about a third of a 2 s loop's GETs."""
    est = Estimate(120, 0.13, "history")
    learnt = PollSchedule().learnt
    band_start, band_end = (est.quantile(q) for q in learnt.band)
    core_start, core_end = (est.quantile(q) for q in learnt.core)
    for step in range(41):
        ends = band_start + (band_end - band_start) * step / 40
        for trial in range(10):
            rng = random.Random(f"{step}-{trial}")
            clock = ManualClock()
            polls, seen = _polls_until(ends, est, PollSchedule(), rng, clock)
            assert seen - ends < 2.0, (ends, trial)
            if core_start <= ends <= core_end:
                assert seen - ends <= learnt.core_wait * 1.1 + 1e-9, (ends, trial)
            if ends <= est.median:  # the 2 s loop asks ends / 2 + 1 times
                assert polls <= 0.4 * (ends / 2 + 1), (ends, polls)


def _polls_until(job_seconds, estimate, schedule, rng, clock):
    """How many GETs ``watch()``'s loop makes until it sees a job ``job_seconds`` long as done,
    and when the last one goes out: it asks at once, then after each wait the schedule gives."""
    created, polls = clock.now(), 1
    while clock.now() - created < job_seconds:
        clock.sleep(schedule.interval(clock.now() - created, estimate, rng))
        polls += 1
    return polls, clock.now() - created


def test_the_wait_stretches_again_after_the_window():
    est = Estimate(100, 0.1, "prior")
    rng = random.Random(0)
    late = PollSchedule(jitter=0).interval(est.quantile(0.85) + 30, est, rng)
    assert 5 <= late <= 15


def test_jitter_spreads_clients_apart():
    est = Estimate(100, 0.1, "prior")
    waits = {PollSchedule().interval(10, est, random.Random(s)) for s in range(20)}
    assert len(waits) > 10


def test_the_prior_scales_with_resolution_and_duration():
    a, b = estimate_for("360p", 5), estimate_for("1080p", 10)
    assert a.source == b.source == "prior"
    reference = estimate_for("1080p", 5).median
    assert reference == pytest.approx(123)  # the page's 2 min 3 s
    assert a.median < reference < b.median


def test_the_estimate_learns_from_this_ledgers_jobs(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite3", clock=ManualClock())
    body = validate("x", resolution="720p", duration=8).to_body()
    for i, took in enumerate([40, 42, 44, 46, 48, 50]):
        ledger.record(client_request_id=f"c{i}", owner="o", endpoint="e", body=body)
        ledger.update(f"c{i}", generation_id=f"g{i}", state="running")
        ledger.update(f"c{i}", state=Status.DONE, submitted_at=0, finished_at=took)
    est = estimate_for("720p", 8, ledger)
    assert est.source == "history" and est.median == pytest.approx(45, rel=0.01)
    assert est.spread < estimate_for("720p", 8).spread  # six close times: surer than the prior
    # the other shapes learn from them too: the prior's shape, scaled by what 720p/8 s showed
    other = estimate_for("720p", 5, ledger)
    assert other.source == "history"
    ratio = est.median / estimate_for("720p", 8).median
    assert other.median == pytest.approx(estimate_for("720p", 5).median * ratio, rel=0.05)
    # another endpoint's jobs say nothing about this one
    assert estimate_for("720p", 8, ledger, endpoint="elsewhere").source == "prior"


def test_a_fast_simulator_scales_the_schedule_but_never_below_a_real_floor():
    fast = PollSchedule().scaled(10)
    assert (fast.floor, fast.ceiling) == (0.1, 1.5)
    very_fast = PollSchedule().scaled(10_000)
    assert very_fast.floor == very_fast.dense == 0.1


# --- early finishes, with no history --------------------------------------------------------------


def _first_poll_after(job_seconds, estimate, schedule, rng):
    """When ``watch()``'s loop first asks after a job ``job_seconds`` long has ended: it asks at
    once, then sleeps the schedule's wait on a ManualClock and asks again."""
    clock = ManualClock()
    created = clock.now()
    while clock.now() - created < job_seconds:
        clock.sleep(schedule.interval(clock.now() - created, estimate, rng))
    return clock.now() - created


@pytest.mark.parametrize("time_scale", [1, 10])
def test_with_no_history_an_early_finish_is_seen_within_15_percent_of_its_time(time_scale):
    schedule = PollSchedule().scaled(time_scale)
    allowance = 1.5 / time_scale  # the simulator's seconds are shorter; so is the 1.5 s
    worst = 0.0
    for resolution, duration in [("360p", 5), ("720p", 8), ("1080p", 10)]:
        estimate = estimate_for(resolution, duration, time_scale=time_scale)
        assert estimate.source == "prior"
        for percent in range(10, 101, 3):  # 0.1x to 1x the expected time
            ends = estimate.median * percent / 100
            for trial in range(30):
                rng = random.Random(f"{resolution}-{duration}-{percent}-{trial}")
                late = _first_poll_after(ends, estimate, schedule, rng) - ends
                assert late <= max(allowance, 0.15 * ends) + 1e-9, (resolution, percent, trial)
                worst = max(worst, late / max(allowance, 0.15 * ends))
    assert worst > 0.8  # the bound is what the schedule spends, not a loose cap never reached


def test_the_early_rule_is_for_the_prior_only_and_costs_few_polls_before_the_window():
    estimate = estimate_for("720p", 5)
    learnt = Estimate(estimate.median, estimate.spread, "history")
    rng = random.Random(1)
    start = estimate.quantile(PollSchedule().window[0])
    polls = {
        e.source: [t for t, _ in _intervals(e, seed=3) if t < start] for e in (estimate, learnt)
    }
    # no history: one wait to a tenth of the expected time, then waits of 15% of the time so far
    assert len(polls["prior"]) <= 20
    assert len(polls["history"]) < len(polls["prior"])  # a learnt estimate needs no such net
    assert PollSchedule().interval(0.0, estimate, rng) <= 0.1 * estimate.median + 1.5
