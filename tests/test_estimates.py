"""What an endpoint's finished jobs teach the estimate across shapes; the ledger query behind it."""

import math
import random
import statistics

import pytest

import pixverse_ui
from pixverse_ui import params, polling, validate
from pixverse_ui.clock import ManualClock
from pixverse_ui.estimates import PRIOR_SPREAD, Estimate, estimate_for, learn, prior_estimate
from pixverse_ui.lifecycle import Status
from pixverse_ui.store import JobTiming, Ledger

SHAPES = [
    (r, a, d)
    for r in params.RESOLUTIONS
    for d in params.supported_durations(r)
    for a in params.ASPECT_RATIOS
]


def _prior(shape):
    resolution, _, duration = shape
    return params.expected_seconds(resolution, duration)


def _slower(shape):
    """An endpoint unlike the prior: 1.5x slower at 720p/5 s, time ~ pixels^0.35 x seconds."""
    resolution, aspect_ratio, duration = shape
    width, height = params.frame_size(aspect_ratio, resolution)
    return (
        1.5 * _prior(("720p", "16:9", 5)) * (width * height / (1280 * 720)) ** 0.35 * duration / 5
    )


def _jobs(law, shapes, scatter=0.0, rng=None):
    rng = rng or random.Random(0)
    return [
        JobTiming(*s, law(s) * math.exp(rng.gauss(0, scatter) if scatter else 0)) for s in shapes
    ]


def _estimate(law_fit, shape):
    resolution, aspect_ratio, duration = shape
    return law_fit.estimate(resolution, duration, aspect_ratio)


def _unlike(shapes):
    """The shapes whose resolution and duration both differ from all of ``shapes``'s pairs."""
    seen = {(r, d) for r, _, d in shapes}
    return [s for s in SHAPES if (s[0], s[2]) not in seen]


def test_no_history_is_the_prior():
    fit = learn([])
    assert _estimate(fit, ("720p", "16:9", 5)) == prior_estimate("720p", 5)
    assert prior_estimate("720p", 5, time_scale=10).median == pytest.approx(
        _prior(("720p", 0, 5)) / 10
    )


def test_one_job_scales_the_priors_shape_by_its_ratio():
    fit = learn([JobTiming("360p", "16:9", 5, 2 * _prior(("360p", "16:9", 5)))])
    for shape in SHAPES:
        estimate = _estimate(fit, shape)
        assert estimate.source == "history"
        assert estimate.median == pytest.approx(2 * _prior(shape))
        assert estimate.spread <= PRIOR_SPREAD  # one job never makes it less sure than the prior


def test_three_jobs_of_other_shapes_give_a_new_shape_an_endpoints_speed_exactly():
    seen = [("360p", "16:9", 5), ("1080p", "9:16", 10), ("720p", "1:1", 8)]
    fit = learn(_jobs(lambda s: 1.6 * _prior(s), seen))
    for shape in _unlike(seen):
        assert _estimate(fit, shape).median == pytest.approx(1.6 * _prior(shape), rel=1e-9)


def test_three_jobs_of_other_shapes_learn_how_time_grows_with_pixels_and_seconds():
    seen = [("360p", "16:9", 5), ("1080p", "16:9", 10), ("720p", "1:1", 8)]
    fit = learn(_jobs(_slower, seen))
    learnt_errors, prior_errors = [], []
    for shape in _unlike(seen):
        learnt_errors.append(abs(_estimate(fit, shape).median / _slower(shape) - 1))
        prior_errors.append(abs(_prior(shape) / _slower(shape) - 1))
    # the prior is a third off on the typical new shape, and up to half; three jobs halve that
    assert statistics.median(prior_errors) > 0.3 and max(prior_errors) > 0.5
    assert statistics.median(learnt_errors) <= 0.15 and max(learnt_errors) <= 0.3
    better = sum(a < b for a, b in zip(learnt_errors, prior_errors, strict=True))
    assert better >= 0.8 * len(learnt_errors)
    # time grows faster with pixels and seconds than the prior has it: both corrections found
    assert fit.exponents[0] > 0.1 and fit.exponents[1] > 0.0


def test_more_jobs_of_mixed_shapes_come_closer():
    rng = random.Random(1)
    fit = learn(_jobs(_slower, [rng.choice(SHAPES) for _ in range(30)]))
    assert max(abs(_estimate(fit, s).median / _slower(s) - 1) for s in SHAPES) <= 0.12


def test_noisy_jobs_of_other_shapes_keep_a_right_prior_close():
    # the simulator's own law (the prior) with its scatter: three jobs must not spoil it
    rng = random.Random(2)
    errors = []
    for _ in range(200):
        target = rng.choice(SHAPES)
        others = [s for s in SHAPES if (s[0], s[2]) != (target[0], target[2])]
        seen = _jobs(_prior, [rng.choice(others) for _ in range(3)], scatter=0.11, rng=rng)
        errors.append(abs(_estimate(learn(seen), target).median / _prior(target) - 1))
    assert statistics.median(errors) <= 0.1


def test_the_spread_follows_the_jobs_scatter():
    rng = random.Random(3)
    shapes = [rng.choice(SHAPES) for _ in range(40)]
    tight = learn(_jobs(_prior, shapes, scatter=0.05, rng=rng))
    loose = learn(_jobs(_prior, shapes, scatter=0.5, rng=rng))
    shape = ("540p", "16:9", 8)
    assert _estimate(tight, shape).spread < 0.1 < PRIOR_SPREAD < _estimate(loose, shape).spread


def test_a_job_seen_late_after_a_resume_is_left_out():
    shapes = [("540p", "16:9", 5), ("720p", "16:9", 8), ("360p", "1:1", 10), ("1080p", "4:3", 5)]
    jobs = _jobs(_prior, shapes)
    resumed = JobTiming("720p", "16:9", 5, 40 * _prior(("720p", "16:9", 5)))
    estimate = _estimate(learn([*jobs, resumed]), ("720p", "16:9", 5))
    assert estimate.median == pytest.approx(_prior(("720p", "16:9", 5)), rel=0.01)


def test_the_estimate_is_the_same_object_under_its_old_names():
    assert polling.Estimate is Estimate is pixverse_ui.Estimate
    assert polling.estimate_for is estimate_for


# --- the ledger ---------------------------------------------------------------------------------


@pytest.fixture
def ledger(tmp_path):
    return Ledger(tmp_path / "ledger.sqlite3", clock=ManualClock())


def _finished(ledger, crid, endpoint="sim", state=Status.DONE, took=100.0, **shape):
    body = validate("a red fox", **shape).to_body()
    ledger.record(client_request_id=crid, owner="o", endpoint=endpoint, body=body)
    ledger.clock.advance(1)
    now = ledger.clock.now()
    ledger.update(crid, state=Status.RUNNING)
    changes = {"generation_id": f"g-{crid}", "state": state, "submitted_at": now - took}
    if took:
        changes["finished_at"] = now
    ledger.update(crid, **changes)


def test_the_ledger_gives_every_finished_shape_of_one_endpoint_newest_first(ledger):
    _finished(ledger, "a", took=80, resolution="360p", duration=5, aspect_ratio="1:1")
    _finished(ledger, "b", took=150, resolution="1080p", duration=10)
    _finished(
        ledger, "c", took=90, resolution="540p", duration=8, state=Status.RUNNING
    )  # not downloaded
    _finished(ledger, "d", took=70, resolution="540p", duration=5, state=Status.FAILED)
    _finished(
        ledger, "e", took=0, resolution="540p", duration=5, state=Status.RUNNING
    )  # still running
    _finished(ledger, "f", took=60, resolution="720p", duration=5, endpoint="real")
    timings = ledger.finished_timings("sim")
    assert timings == [
        JobTiming("540p", "16:9", 8, 90.0),
        JobTiming("1080p", "16:9", 10, 150.0),
        JobTiming("360p", "1:1", 5, 80.0),
    ]
    assert ledger.finished_timings("sim", last=1) == timings[:1]
    assert [t.seconds for t in ledger.finished_timings()] == [60.0, 90.0, 150.0, 80.0]


def test_estimate_for_reads_the_endpoints_jobs_of_any_shape(ledger):
    _finished(ledger, "a", took=2 * params.expected_seconds("360p", 5), resolution="360p")
    estimate = estimate_for("1080p", 10, ledger, endpoint="sim")
    assert estimate.source == "history"
    assert estimate.median == pytest.approx(2 * params.expected_seconds("1080p", 10))
    # the jobs are in the endpoint's own seconds: its time scale only shapes the prior
    simulator = estimate_for("1080p", 10, ledger, endpoint="sim", time_scale=10)
    assert simulator.median == pytest.approx(estimate.median)
    assert estimate_for("1080p", 10, ledger, endpoint="other", time_scale=10).median == (
        pytest.approx(params.expected_seconds("1080p", 10) / 10)
    )
