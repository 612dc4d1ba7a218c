"""Polling: how soon a finished job is noticed and how many GETs that costs, on simulated time.

Job lengths come from the simulator's own ``draw_timing`` (lognormal around
``params.expected_seconds``, the 1080p/5 s figure of 2 min 3 s scaled by resolution and duration),
over every shape the API allows, drawn uniformly. Each poll strategy is replayed against each job's
completion time exactly as ``watch()`` does it (first GET at once, then wait, then GET), with no
real waiting. One small run of the real ``watch()`` against the simulator on a ``ManualClock``
checks that the replay matches it poll for poll.

Strategies: the adaptive ``PollSchedule`` with ``estimate_for``'s prior (a fresh ledger) and with
the law learnt from a few finished jobs of mixed shapes (``HISTORY_JOBS``, watched one after the
other, each with the estimate the ones before it gave; pooled over ``HISTORY_DRAWS`` ledgers), a
fixed 15 s loop (the provider's example) and a fixed 2 s loop (the baseline for the GET budget).
With history the target holds the tail too (p90 at most 2 s): a learnt estimate has its spread
measured, so the schedule can promise where the job ends (``polling.LearntPolls``).
If the default schedule misses a target, two searches say what would meet it: the smallest fix
(one parameter changed, the most room to spare on the targets, its p90 kept) and the cheapest (a
grid over five parameters, the fewest GETs).

Early finishes: with no history, jobs that end at 0.1x, 0.3x and 0.5x the expected time, on every
shape, under many jitter draws: latency over job time and GETs, against the guarantee (seen within
max(1.5 s, 15% of the job's time)), which is also checked from 0.1x to 1x. Cross-shape learning:
the estimate for a shape after three finished jobs of other shapes, against the truth of a known
law, beside the prior's error (what a ledger without five jobs of that very shape used to give).
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pixverse_ui import params
from pixverse_ui.estimates import Law, learn
from pixverse_ui.polling import DEFAULT_TIMEOUT, Estimate, PollSchedule, estimate_for
from pixverse_ui.simulator.config import SimConfig
from pixverse_ui.simulator.state import draw_timing
from pixverse_ui.store import JobTiming

from .common import Row, quantile, ratio, say

NAME = "polling"


@dataclass(frozen=True)
class Target:
    """p50 detection latency at most ``p50`` s (and p90 at most ``p90`` s, where set) with at most
    ``gets`` x the 2 s loop's GETs."""

    p50: float
    gets: float
    p90: float | None = None

    def latency_met(self, outcome: Outcome) -> bool:
        return outcome.p(0.5) <= self.p50 and (self.p90 is None or outcome.p(0.9) <= self.p90)

    def latency_strain(self, outcome: Outcome) -> float:
        """The larger share of the latency limits used (below 1 meets them)."""
        return max(outcome.p(0.5) / self.p50, outcome.p(0.9) / (self.p90 or math.inf))

    def latency_text(self) -> str:
        tail = f", p90 <= {self.p90:g} s" if self.p90 is not None else ""
        return f"p50 <= {self.p50:g} s{tail}"


#: With no history (a fresh ledger) and with the law learnt from ``HISTORY_JOBS`` jobs.
PRIOR_TARGET = Target(p50=1.0, gets=0.7)
HISTORY_TARGET = Target(p50=0.8, gets=0.35, p90=2.0)
#: Finished jobs of mixed shapes in the ledger when the history-based estimate is scored, and how
#: many such ledgers (each its own draw of jobs) the history figures pool.
HISTORY_JOBS = 10
HISTORY_DRAWS = 10
#: The draws of simulated jobs pooled (the quick run takes the first).
JOB_SEEDS = (2024, 2025, 2026)
#: Early finishes: the shares of the expected time the rows name, the grid the guarantee is checked
#: on, and jitter draws per shape and share.
EARLY_SHARES = (0.1, 0.3, 0.5)
EARLY_GRID = tuple(round(0.1 + 0.05 * i, 2) for i in range(19))
EARLY_TRIALS = 25
#: Cross-shape learning: finished jobs of other shapes before the estimate is scored, and trials.
CROSS_JOBS = 3
CROSS_TRIALS = 400
Shape = tuple[str, int]
#: Wait after a poll at ``elapsed`` seconds; one per job, so it may keep state (an rng).
Waiter = Callable[[float], float]
Strategy = Callable[["SimJob", random.Random], Waiter]


@dataclass(frozen=True)
class SimJob:
    """One simulated generation: its shape and when it completes, in seconds from creation."""

    resolution: str
    duration: int
    done: float

    @property
    def shape(self) -> Shape:
        return (self.resolution, self.duration)


def all_shapes() -> list[Shape]:
    """Every resolution and duration the API accepts (1080p/8 s is refused)."""
    return [(r, d) for r in params.RESOLUTIONS for d in params.supported_durations(r)]


def draw_jobs(n: int, seed: int, shapes: Sequence[Shape] | None = None) -> list[SimJob]:
    """``n`` jobs over ``shapes`` (uniformly), timed by the simulator's own ``draw_timing``."""
    rng = random.Random(seed)
    shapes = list(shapes or all_shapes())
    sigma = SimConfig().sigma
    jobs = []
    for _ in range(n):
        resolution, duration = rng.choice(shapes)
        body = {"resolution": resolution, "duration": duration}
        queued, generating = draw_timing(rng, body, sigma=sigma, speed=1.0)
        jobs.append(SimJob(resolution, duration, queued + generating))
    return jobs


def replay(job: SimJob, wait: Waiter, timeout: float = DEFAULT_TIMEOUT) -> tuple[float, int]:
    """(detection latency, GETs) for one job: ``watch()``'s loop on simulated time.

    The first GET goes out as soon as the job is created; after each GET that does not see the
    job done, the loop waits ``wait(elapsed)`` (never past the deadline) and asks again.
    """
    t, gets = 0.0, 0
    while True:
        gets += 1
        if t >= job.done:
            return t - job.done, gets
        if t >= timeout:
            return float("inf"), gets
        t += min(wait(t), timeout - t)


@dataclass(frozen=True)
class Outcome:
    """Latencies and GET counts of one strategy over all jobs."""

    name: str
    latencies: tuple[float, ...]
    gets: tuple[int, ...]

    def p(self, q: float) -> float:
        return quantile(self.latencies, q)

    @property
    def mean_gets(self) -> float:
        return sum(self.gets) / len(self.gets)


def evaluate(name: str, strategy: Strategy, jobs: Sequence[SimJob], seed: int = 1) -> Outcome:
    """Replay every job under ``strategy``; job ``i`` gets the same jitter rng in every strategy."""
    latencies, gets = [], []
    for i, job in enumerate(jobs):
        latency, count = replay(job, strategy(job, random.Random(f"{seed}-{i}")))
        latencies.append(latency)
        gets.append(count)
    return Outcome(name, tuple(latencies), tuple(gets))


# --- strategies ----------------------------------------------------------------------------------


def fixed(seconds: float) -> Strategy:
    """A plain loop: GET, sleep ``seconds``, GET again."""
    return lambda job, rng: lambda elapsed: seconds


def adaptive(schedule: PollSchedule, estimates: Callable[[Shape], Estimate]) -> Strategy:
    """``schedule.interval`` with the estimate ``estimates`` gives for the job's shape."""

    def make(job: SimJob, rng: random.Random) -> Waiter:
        estimate = estimates(job.shape)
        return lambda elapsed: schedule.interval(elapsed, estimate, rng)

    return make


def prior(shape: Shape) -> Estimate:
    """What ``watch()`` uses on a fresh install: ``estimate_for`` with an empty ledger."""
    return estimate_for(*shape)


def learnt_law(schedule: PollSchedule, jobs: int = HISTORY_JOBS, seed: int = 99) -> Law:
    """The law a ledger holds after ``jobs`` jobs of mixed shapes, watched one after the other.

    The ledger records when *we* saw a job finish (``finished_at - submitted_at``), so each job is
    replayed with ``schedule`` on the estimate the jobs before it gave (the prior for the first).
    """
    timings: list[JobTiming] = []
    for i, job in enumerate(draw_jobs(jobs, seed)):
        estimate = learn(timings).estimate(*job.shape)
        rng = random.Random(f"history-{seed}-{i}")
        latency, _ = replay(job, lambda t, e=estimate, r=rng: schedule.interval(t, e, r))
        aspect = params.DEFAULT_ASPECT_RATIO
        seen = JobTiming(job.resolution, aspect, job.duration, job.done + latency)
        timings.insert(0, seen)  # newest first, as the ledger gives them
    return learn(timings)


def history(schedule: PollSchedule, seed: int = 99) -> Callable[[Shape], Estimate]:
    """``estimate_for`` on a ledger holding ``HISTORY_JOBS`` earlier jobs of mixed shapes."""
    law = learnt_law(schedule, HISTORY_JOBS, seed)
    return lambda shape: law.estimate(*shape)


def pooled(name: str, outcomes: Sequence[Outcome]) -> Outcome:
    """Several outcomes as one: their jobs side by side."""
    latencies = tuple(x for o in outcomes for x in o.latencies)
    return Outcome(name, latencies, tuple(g for o in outcomes for g in o.gets))


def evaluate_history(schedule: PollSchedule, jobs: Sequence[SimJob]) -> Outcome:
    """The jobs under ``schedule`` with the history estimate, pooled over ``HISTORY_DRAWS``
    ledgers."""
    runs = [
        evaluate("history", adaptive(schedule, history(schedule, seed=99 + k)), jobs)
        for k in range(HISTORY_DRAWS)
    ]
    return pooled("history", runs)


# --- the benchmark -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """A schedule's standing: against the 2 s loop, with the prior and with history."""

    schedule: PollSchedule
    prior: Outcome
    history: Outcome
    base_gets: float

    def gets_ratio(self, outcome: Outcome) -> float:
        return ratio(outcome.mean_gets, self.base_gets)

    def meets(self, outcome: Outcome, target: Target) -> bool:
        return target.latency_met(outcome) and self.gets_ratio(outcome) <= target.gets

    @property
    def meets_both(self) -> bool:
        return self.meets(self.prior, PRIOR_TARGET) and self.meets(self.history, HISTORY_TARGET)

    @property
    def p90(self) -> float:
        """The worse p90 latency of prior and history."""
        return max(self.prior.p(0.9), self.history.p(0.9))

    @property
    def strain(self) -> float:
        """The largest share of a target used (latency over its limits, GETs over theirs), prior
        or history: below 1 meets both, and lower leaves more room for the noise of real jobs."""
        return max(
            max(t.latency_strain(o), self.gets_ratio(o) / t.gets)
            for o, t in ((self.prior, PRIOR_TARGET), (self.history, HISTORY_TARGET))
        )


def score(schedule: PollSchedule, jobs: Sequence[SimJob], base_gets: float) -> Scores:
    return Scores(
        schedule,
        evaluate("prior", adaptive(schedule, prior), jobs),
        evaluate_history(schedule, jobs),
        base_gets,
    )


def candidates(quick: bool) -> list[PollSchedule]:
    """The grid searched when the default misses: window, dense, approach, stretch, ceiling."""
    windows = [(0.15, 0.85), (0.2, 0.8), (0.25, 0.75), (0.3, 0.7)]
    denses = [1.1, 1.5] if quick else [1.0, 1.1, 1.25, 1.5]
    approaches = [0.5, 0.75] if quick else [0.5, 0.65, 0.8]
    stretches = [0.25] if quick else [0.1, 0.25, 0.5]
    ceilings = [15.0, 30.0]
    return [
        PollSchedule(dense=d, window=w, approach=a, stretch=s, ceiling=c)
        for w, d, a, s, c in itertools.product(windows, denses, approaches, stretches, ceilings)
    ]


def search(jobs: Sequence[SimJob], base_gets: float, quick: bool) -> Scores | None:
    """The schedule with the fewest GETs (relative to each target) that meets both targets, with
    p90 latency at most 3 s so the tail is not traded away; None if none does."""
    best: Scores | None = None
    grid = candidates(quick)
    say(f"  polling: searching {len(grid)} PollSchedule parameter sets")

    def cost(s: Scores) -> float:
        return max(
            s.gets_ratio(s.prior) / PRIOR_TARGET.gets,
            s.gets_ratio(s.history) / HISTORY_TARGET.gets,
        )

    for schedule in grid:
        scores = score(schedule, jobs, base_gets)
        if not scores.meets_both or scores.p90 > 3.0:
            continue
        if best is None or cost(scores) < cost(best):
            best = scores
    return best


#: Single-parameter changes tried when the default misses: the smallest fix to propose, as long
#: as it keeps the p90 latency within this factor of the default's.
TAIL_SLACK = 1.1
#: The values tried for each parameter.
ONE_CHANGE: dict[str, list[object]] = {
    "window": [(0.15, 0.85), (0.2, 0.8), (0.25, 0.75), (0.3, 0.7)],
    "dense": [1.0, 1.1, 1.25, 1.5, 1.75],
    "approach": [0.5, 0.65, 0.8],
    "stretch": [0.1, 0.5],
    "ceiling": [30.0],
    "learnt.core": [(0.3, 0.7), (0.35, 0.65)],
    "learnt.core_wait": [1.0, 1.1],
    "learnt.band": [(0.08, 0.92), (0.1, 0.9)],
    "learnt.band_wait": [1.6, 1.8],
    "learnt.reach": [15.0, 25.0],
}


def _get(schedule: PollSchedule, name: str) -> object:
    """A parameter of ``schedule``; ``learnt.x`` names one of its ``LearntPolls``."""
    owner, _, field = name.rpartition(".")
    return getattr(schedule.learnt if owner else schedule, field)


def _with(schedule: PollSchedule, name: str, value: object) -> PollSchedule:
    """``schedule`` with one parameter (as ``_get`` names it) set to ``value``."""
    owner, _, field = name.rpartition(".")
    if owner:
        return replace(schedule, learnt=replace(schedule.learnt, **{field: value}))
    return replace(schedule, **{field: value})  # type: ignore[arg-type]


def one_change(jobs: Sequence[SimJob], default: Scores) -> Scores | None:
    """Of the defaults with one parameter changed, the one meeting both targets with the most room
    to spare (see ``Scores.strain``), its p90 latency no more than ``TAIL_SLACK`` times the
    default's; None if none does."""
    best: Scores | None = None
    tail = TAIL_SLACK * default.p90
    for name, values in ONE_CHANGE.items():
        for value in values:
            if _get(default.schedule, name) == value:
                continue
            schedule = _with(default.schedule, name, value)
            scores = score(schedule, jobs, default.base_gets)
            if not scores.meets_both or scores.p90 > tail:
                continue
            if best is None or scores.strain < best.strain:
                best = scores
    return best


def describe(schedule: PollSchedule) -> str:
    """The parameters that differ from the default, as ``PollSchedule(...)`` would take them."""
    default = PollSchedule()
    changed = [
        f"{name}={getattr(schedule, name)!r}"
        for name in (
            "window",
            "dense",
            "approach",
            "stretch",
            "ceiling",
            "floor",
            "jitter",
            "early",
            "early_min",
            "early_from",
        )
        if getattr(schedule, name) != getattr(default, name)
    ]
    learnt = [
        f"{name}={getattr(schedule.learnt, name)!r}"
        for name in ("core", "core_wait", "band", "band_wait", "reach")
        if getattr(schedule.learnt, name) != getattr(default.learnt, name)
    ]
    if learnt:
        changed.append("learnt=LearntPolls(" + ", ".join(learnt) + ")")
    return "PollSchedule(" + ", ".join(changed) + ")"


def _rows_for(
    label: str, outcome: Outcome, target: Target, scores: Scores, slow: Outcome, fast: Outcome
) -> list[Row]:
    """p50 latency and GETs of one adaptive run against the 2 s and the 15 s loops."""
    p50, gets = outcome.p(0.5), outcome.mean_gets
    return [
        Row(
            NAME,
            f"{label}: p50 latency (p90) vs 2 s loop",
            f"{p50:.2f} s ({outcome.p(0.9):.2f})",
            f"{fast.p(0.5):.2f} s ({fast.p(0.9):.2f})",
            ratio(p50, fast.p(0.5)),
            target.latency_text(),
            target.latency_met(outcome),
        ),
        Row(
            NAME,
            f"{label}: GETs per job vs 2 s loop",
            f"{gets:.1f}",
            f"{fast.mean_gets:.1f}",
            scores.gets_ratio(outcome),
            f"<= {target.gets:g}x",
            scores.gets_ratio(outcome) <= target.gets,
        ),
        Row(
            NAME,
            f"{label}: p50 latency, GETs vs 15 s loop",
            f"{p50:.2f} s, {gets:.1f}",
            f"{slow.p(0.5):.2f} s, {slow.mean_gets:.1f}",
            ratio(p50, slow.p(0.5)),
            "(latency ratio)",
            None,
        ),
    ]


def _fix_rows(label: str, found: Scores | None, slow: Outcome, fast: Outcome) -> list[Row]:
    """A schedule that meets the targets where the default does not: its figures and parameters."""
    if found is None:
        return [Row(NAME, f"{label}: search", "none met the targets", "", None, "", False)]
    say(f"  polling: {label}: {describe(found.schedule)}")
    return [
        *_rows_for(f"{label}, prior", found.prior, PRIOR_TARGET, found, slow, fast)[:2],
        *_rows_for(f"{label}, history", found.history, HISTORY_TARGET, found, slow, fast)[:2],
        Row(NAME, f"{label}: parameters", describe(found.schedule), "", None, "", None),
    ]


# --- early finishes ------------------------------------------------------------------------------


def early_bound(job_seconds: float) -> float:
    """The latency promised for a job this long that ends early: max(1.5 s, 15% of it)."""
    default = PollSchedule()
    return max(default.early_min, default.early * job_seconds)


@dataclass(frozen=True)
class EarlyFinishes:
    """Jobs ending at ``share`` x the expected time, every shape, many jitter draws, no history."""

    share: float
    shares_of_time: tuple[float, ...]  # latency over job time
    over_bound: tuple[float, ...]  # latency over the promised bound (<= 1 keeps the promise)
    gets: tuple[int, ...]


def early_finishes(
    share: float, strategy: Strategy, trials: int = EARLY_TRIALS, seed: int = 7
) -> EarlyFinishes:
    shares, over, gets = [], [], []
    for n, shape in enumerate(all_shapes()):
        job = SimJob(*shape, share * prior(shape).median)
        for trial in range(trials):
            latency, count = replay(job, strategy(job, random.Random(f"{seed}-{n}-{trial}")))
            shares.append(latency / job.done)
            over.append(latency / early_bound(job.done))
            gets.append(count)
    return EarlyFinishes(share, tuple(shares), tuple(over), tuple(gets))


def early_rows(schedule: PollSchedule, quick: bool) -> list[Row]:
    """Latency over job time and GETs at 0.1x, 0.3x and 0.5x the expected time, and the promise
    checked from 0.1x to 1x, with no history, against the 2 s loop."""
    trials = EARLY_TRIALS // 2 if quick else EARLY_TRIALS
    ours, base = adaptive(schedule, prior), fixed(2.0)
    rows = []
    for share in EARLY_SHARES:
        mine, loop = early_finishes(share, ours, trials), early_finishes(share, base, trials)
        gets, loop_gets = statistics.mean(mine.gets), statistics.mean(loop.gets)
        rows.append(
            Row(
                NAME,
                f"early finish at {share:g}x expected, no history: latency/time p50, worst; "
                "GETs vs 2 s loop",
                f"{quantile(mine.shares_of_time, 0.5):.1%}, {max(mine.shares_of_time):.1%}; "
                f"{gets:.1f}",
                f"{quantile(loop.shares_of_time, 0.5):.1%}, {max(loop.shares_of_time):.1%}; "
                f"{loop_gets:.1f}",
                ratio(gets, loop_gets),
                "max(1.5 s, 15%)",
                max(mine.over_bound) <= 1.0 + 1e-9,
            )
        )
    sweep = [early_finishes(s, ours, max(4, trials // 3)) for s in EARLY_GRID]
    worst = max(max(e.over_bound) for e in sweep)
    rows.append(
        Row(
            NAME,
            f"early finish at 0.1x to 1x expected ({len(EARLY_GRID)} steps), no history: "
            "worst latency / promise",
            f"{worst:.2f}",
            "1.00",
            worst,
            "<= 1",
            worst <= 1.0 + 1e-9,
        )
    )
    return rows


# --- cross-shape learning ------------------------------------------------------------------------

FullShape = tuple[str, str, int]  # resolution, aspect ratio, duration


def full_shapes() -> list[FullShape]:
    return [(r, a, d) for r, d in all_shapes() for a in params.ASPECT_RATIOS]


def simulator_law(shape: FullShape) -> float:
    """The simulator's median time: the prior itself (aspect ratio does not matter)."""
    resolution, _, duration = shape
    return params.expected_seconds(resolution, duration)


def slower_law(shape: FullShape) -> float:
    """An endpoint unlike the prior: 1.5x slower at 720p/5 s 16:9, time growing with pixels^0.35
    and linearly with seconds (the prior has about pixels^0.16 and seconds^0.6)."""
    resolution, aspect_ratio, duration = shape
    width, height = params.frame_size(aspect_ratio, resolution)
    reference = 1.5 * params.expected_seconds("720p", 5)
    return reference * (width * height / (1280 * 720)) ** 0.35 * (duration / 5)


@dataclass(frozen=True)
class CrossLaw:
    """A known law the cross-shape rows learn, and the error its estimate must stay within: at
    most ``limit``, or at most ``share_of_prior`` times the prior's error."""

    name: str
    median: Callable[[FullShape], float]
    limit: float | None = None
    share_of_prior: float | None = None

    def target(self) -> str:
        if self.limit is not None:
            return f"p50 <= {self.limit:.0%}"
        return f"<= {self.share_of_prior:g}x prior's"

    def met(self, ours: float, prior: float) -> bool:
        if self.limit is not None:
            return ours <= self.limit
        assert self.share_of_prior is not None
        return ours <= self.share_of_prior * prior


#: The simulator's own times, where the prior is right and three noisy jobs must not spoil it; and
#: an endpoint the prior gets wrong in speed and in shape, where they must halve its error.
LAWS = (
    CrossLaw("simulator's times", simulator_law, limit=0.1),
    CrossLaw("1.5x slower, ~ pixels^0.35 x seconds", slower_law, share_of_prior=0.5),
)
#: Job-to-job scatter around a law (log sd): the simulator's, as ``draw_jobs`` gives it.
CROSS_SCATTER = 0.11


def cross_shape_errors(
    law: Callable[[FullShape], float], trials: int, seed: int = 3
) -> tuple[list[float], list[float]]:
    """Relative errors of the estimate for a shape after ``CROSS_JOBS`` jobs of other shapes
    (resolution and duration both unlike it), and of the prior, over ``trials`` draws."""
    rng = random.Random(seed)
    shapes = full_shapes()
    learnt, priors = [], []
    for _ in range(trials):
        target = rng.choice(shapes)
        others = [s for s in shapes if (s[0], s[2]) != (target[0], target[2])]
        seen = [
            JobTiming(s[0], s[1], s[2], law(s) * math.exp(rng.gauss(0.0, CROSS_SCATTER)))
            for s in (rng.choice(others) for _ in range(CROSS_JOBS))
        ]
        truth = law(target)
        estimate = learn(seen).estimate(target[0], target[2], target[1])
        learnt.append(abs(estimate.median / truth - 1))
        priors.append(abs(params.expected_seconds(target[0], target[2]) / truth - 1))
    return learnt, priors


def cross_rows(quick: bool) -> list[Row]:
    trials = CROSS_TRIALS // 4 if quick else CROSS_TRIALS
    rows = []
    for law in LAWS:
        learnt, priors = cross_shape_errors(law.median, trials)
        ours, base = quantile(learnt, 0.5), quantile(priors, 0.5)
        rows.append(
            Row(
                NAME,
                f"after {CROSS_JOBS} jobs of other shapes ({law.name}): "
                "estimate error p50 (p90) vs prior",
                f"{ours:.1%} ({quantile(learnt, 0.9):.1%})",
                f"{base:.1%} ({quantile(priors, 0.9):.1%})",
                ratio(ours, base) if base > 0.005 else None,
                law.target(),
                law.met(ours, base),
            )
        )
    return rows


def run(quick: bool = False) -> list[Row]:
    n = 200 if quick else 400
    seeds = JOB_SEEDS[:1] if quick else JOB_SEEDS
    jobs = [job for seed in seeds for job in draw_jobs(n, seed)]
    say(f"  polling: {len(jobs)} simulated jobs ({len(seeds)} draws), {len(all_shapes())} shapes")
    fast = evaluate("fixed 2 s", fixed(2.0), jobs)
    slow = evaluate("fixed 15 s", fixed(15.0), jobs)
    default = score(PollSchedule(), jobs, fast.mean_gets)
    history_label = f"default, history of {HISTORY_JOBS} jobs"
    rows = [
        Row(
            NAME,
            "fixed 15 s loop (provider's example) vs 2 s loop",
            f"{slow.p(0.5):.2f} s, {slow.mean_gets:.1f} GETs",
            f"{fast.p(0.5):.2f} s, {fast.mean_gets:.1f} GETs",
            ratio(slow.mean_gets, fast.mean_gets),
            "(GETs ratio)",
            None,
        ),
        *_rows_for("default, no history", default.prior, PRIOR_TARGET, default, slow, fast),
        *_rows_for(history_label, default.history, HISTORY_TARGET, default, slow, fast),
    ]
    if not default.meets_both:
        rows += _fix_rows("one change", one_change(jobs, default), slow, fast)
        rows += _fix_rows("best", search(jobs, fast.mean_gets, quick), slow, fast)
    rows += early_rows(PollSchedule(), quick)
    rows += cross_rows(quick)
    rows.append(check_against_watch(3 if quick else 8))
    return rows


# --- the real watch() against the simulator, to check the replay ---------------------------------


#: The spread of the learnt estimate ``check_against_watch`` gives every other job: about what
#: ten finished jobs teach (see RESULTS.md).
LEARNT_SPREAD = 0.13


def check_against_watch(n: int) -> Row:
    """Run ``n`` 360p/5 s jobs through the real ``watch()`` on a simulator sharing a ManualClock,
    half with the prior and half with a learnt estimate, and replay the same jobs with the same
    jitter rng: the GETs and latencies must agree."""
    from pixverse_ui.client import Client
    from pixverse_ui.clock import ManualClock
    from pixverse_ui.params import validate
    from pixverse_ui.polling import watch
    from pixverse_ui.simulator import Simulator

    clock = ManualClock()
    real_gets: list[int] = []
    model_gets: list[int] = []
    agree = 0
    with (
        tempfile.TemporaryDirectory(prefix="pxui-bench-watch-") as tmp,
        Simulator(SimConfig(speed=1.0, seed=5, cache_dir=Path(tmp) / "videos"), clock=clock) as sim,
        Client(api_key=sim.api_key, base_url=sim.url, clock=clock) as client,  # the key it made
    ):
        out = Path(tmp) / "out"
        for i in range(n):
            state = client.create(validate("benchmark", resolution="360p", duration=5))
            job = sim.core.jobs.get(state.id)
            assert job is not None
            sim_job = SimJob("360p", 5, job.done_at - job.created_at)
            estimate = prior(sim_job.shape)
            if i % 2:  # every other job as if learnt from history: the learnt polls' branch
                estimate = Estimate(estimate.median, LEARNT_SPREAD, "history")
            seen = None
            for update in watch(
                state.id,
                client=client,
                download_dir=out,
                estimate=estimate,
                created_at=job.created_at,
                clock=clock,
                rng=random.Random(f"watch-{i}"),
            ):
                if update.status in params.SUCCESS_STATUSES and seen is None:
                    seen = update
            assert seen is not None
            strategy = adaptive(PollSchedule(), lambda shape, e=estimate: e)
            latency, gets = replay(sim_job, strategy(sim_job, random.Random(f"watch-{i}")))
            real_latency = seen.elapsed - sim_job.done
            real_gets.append(seen.polls)
            model_gets.append(gets)
            agree += gets == seen.polls and abs(latency - real_latency) < 1e-6
    return Row(
        NAME,
        f"real watch() vs replay, GETs ({n} jobs, ManualClock)",
        f"{sum(real_gets) / n:.1f}",
        f"{sum(model_gets) / n:.1f}",
        ratio(sum(real_gets), sum(model_gets)),
        f"{n}/{n} identical",
        agree == n,
    )


def tune(jobs: Sequence[SimJob], schedule: PollSchedule, **changes: object) -> Scores:
    """For exploring by hand: the scores of ``schedule`` with ``changes``."""
    fast = evaluate("fixed 2 s", fixed(2.0), jobs)
    return score(replace(schedule, **changes), jobs, fast.mean_gets)  # type: ignore[arg-type]


def tradeoffs(schedules: Sequence[PollSchedule], n: int = 400) -> str:
    """For choosing by hand: a Markdown table of each schedule's GETs ratio, p50 and p90 latency
    with no history and with history, and its worst early-finish latency over the promise (0.1x
    to 1x, no history)."""
    jobs = [job for seed in JOB_SEEDS for job in draw_jobs(n, seed)]
    fast = evaluate("fixed 2 s", fixed(2.0), jobs)
    lines = [
        "| schedule | no history: GETs, p50 (p90) | history: GETs, p50 (p90) "
        "| worst early / promise |",
        "|---|---|---|---|",
    ]
    for schedule in schedules:
        s = score(schedule, jobs, fast.mean_gets)
        sweep = [early_finishes(x, adaptive(schedule, prior), 8) for x in EARLY_GRID]
        worst = max(max(e.over_bound) for e in sweep)
        cells = [
            f"{s.gets_ratio(o):.2f}x, {o.p(0.5):.2f} s ({o.p(0.9):.2f})"
            for o in (s.prior, s.history)
        ]
        lines.append(f"| {describe(schedule)} | {' | '.join(cells)} | {worst:.2f} |")
    return "\n".join(lines)
