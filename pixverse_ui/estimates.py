"""How long a generation should take: the prior, and what an endpoint's finished jobs teach.

With no history the estimate is the prior, ``params.expected_seconds`` (the page's 1080p/5 s figure
scaled by resolution and length) divided by the endpoint's time scale, with a log spread of
``PRIOR_SPREAD``. Once the endpoint has finished jobs, of any shapes, one law is fitted to all of
them and gives every shape its estimate:

    log(took) = log(prior(shape)) + a + b * (x_pixels - mean) + c * (x_seconds - mean) + e

where ``x_pixels = log(width * height)`` and ``x_seconds = log(duration)``, centred on the mean of
the jobs fitted, and ``e`` is the scatter between jobs, normal with standard deviation ``sigma``.

- ``a`` is how much slower (or faster) the endpoint runs than the prior says, for every shape. It
  is not shrunk: with one job it is that job's ratio to the prior, and the prior's shape is scaled
  by it.
- ``b`` and ``c`` are how much faster time grows with pixels and with seconds than the prior's
  shape has it (a ridge fit: a normal prior of sd ``EXPONENT_SD`` around 0, so a few jobs of a few
  shapes move them a little and many jobs of many shapes move them as far as the data say; with
  one shape only, they stay at 0).
- ``sigma`` pools the residuals with ``PRIOR_WEIGHT`` pseudo-jobs at ``SCATTER_GUESS``, so two
  alike jobs do not make the estimate overconfident.
- A shape's own jobs add an offset, their mean residual shrunk by n / (n + ``SHAPE_SHRINK``), so a
  shape the law fits badly still comes to its own times.

An estimate's spread is the scatter plus the fit's own uncertainty at that shape (wider for a shape
far from the ones seen), but a few jobs never make it wider than the prior's: only jobs that
scatter more than ``PRIOR_SPREAD`` do. A job that took more than ``OUTLIER_RATIO`` times the
typical (median) ratio is left out: its end was seen late (it was resumed after a pause), which
says nothing about the provider. Pure Python, no numpy: the fit is a 2x2 solve over at most
``RECENT_JOBS`` jobs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

from .params import ASPECT_RATIOS, DEFAULT_ASPECT_RATIO, SHORT_SIDE, expected_seconds, frame_size
from .store import JobTiming, Ledger

#: The log spread of the prior: how far one job may fall from the prior's median.
PRIOR_SPREAD = 0.25
#: How many of an endpoint's most recent finished jobs the fit reads.
RECENT_JOBS = 50
#: Prior standard deviation of the corrections to the pixel and seconds exponents.
EXPONENT_SD = 0.2
#: The scatter between jobs assumed before any are seen, and how many pseudo-jobs it counts as
#: when pooled with the residuals.
SCATTER_GUESS = 0.25
PRIOR_WEIGHT = 1.0
#: A shape's own offset is its mean residual times n / (n + SHAPE_SHRINK).
SHAPE_SHRINK = 2.0
#: Jobs that took more than this many times the typical ratio to the prior are left out.
OUTLIER_RATIO = 3.0
#: The narrowest and widest spread an estimate from history may claim.
MIN_SPREAD, MAX_SPREAD = 0.05, 1.0

Shape = tuple[str, str, int]  # resolution, aspect ratio, duration


@dataclass(frozen=True)
class Estimate:
    """How long a job should take from its creation: a median and a log-normal spread."""

    median: float
    spread: float
    source: str  # "history" or "prior"

    def quantile(self, q: float) -> float:
        """The time by which a fraction ``q`` of such jobs have finished."""
        return self.median * math.exp(self.spread * _z(q))


def _z(q: float) -> float:
    """The standard normal quantile."""
    return NormalDist().inv_cdf(min(max(q, 1e-6), 1 - 1e-6))


def prior_estimate(resolution: str, duration: int, *, time_scale: float = 1.0) -> Estimate:
    """The prior alone: what a fresh install expects of this shape on this endpoint."""
    return Estimate(expected_seconds(resolution, duration) / time_scale, PRIOR_SPREAD, "prior")


def _features(shape: Shape) -> tuple[float, float]:
    resolution, aspect_ratio, duration = shape
    width, height = frame_size(aspect_ratio, resolution)
    return math.log(width * height), math.log(duration)


@dataclass(frozen=True)
class Law:
    """What an endpoint's finished jobs say about every shape (see the module docstring)."""

    time_scale: float = 1.0
    jobs: int = 0
    ratio: float = 0.0  # a: log of the endpoint's time over the prior's, at the mean shape
    exponents: tuple[float, float] = (0.0, 0.0)  # b, c: corrections per log pixel, log second
    center: tuple[float, float] = (0.0, 0.0)  # the mean log pixels and log seconds fitted
    covariance: tuple[float, float, float] = (0.0, 0.0, 0.0)  # of b, c over sigma^2: bb, bc, cc
    sigma: float = PRIOR_SPREAD
    offsets: Mapping[Shape, float] = field(default_factory=dict)

    def estimate(
        self, resolution: str, duration: int, aspect_ratio: str = DEFAULT_ASPECT_RATIO
    ) -> Estimate:
        """This shape's estimate: the prior when no job was fitted, else the law's."""
        if not self.jobs:
            return prior_estimate(resolution, duration, time_scale=self.time_scale)
        shape = (resolution, _known_aspect(aspect_ratio), duration)
        dp, ds = (x - m for x, m in zip(_features(shape), self.center, strict=True))
        (b, c), (vbb, vbc, vcc) = self.exponents, self.covariance
        log_ratio = self.ratio + b * dp + c * ds + self.offsets.get(shape, 0.0)
        # the scatter, the uncertainty of a (sigma^2 / n) and of b, c at this distance
        variance = 1.0 + 1.0 / self.jobs + vbb * dp * dp + 2 * vbc * dp * ds + vcc * ds * ds
        # the fit's own uncertainty never widens the window past the prior's; a scatter the jobs
        # show to be wider does
        widest = min(MAX_SPREAD, max(PRIOR_SPREAD, self.sigma))
        spread = min(widest, max(MIN_SPREAD, self.sigma * math.sqrt(variance)))
        prior = expected_seconds(resolution, duration) / self.time_scale
        return Estimate(prior * math.exp(log_ratio), spread, "history")


def _known_aspect(aspect_ratio: str) -> str:
    return aspect_ratio if aspect_ratio in ASPECT_RATIOS else DEFAULT_ASPECT_RATIO


def learn(timings: Sequence[JobTiming], *, time_scale: float = 1.0) -> Law:
    """Fit the law to finished jobs of any shapes (an empty list gives the prior's law)."""
    points: list[tuple[Shape, float, float, float]] = []  # shape, x_pixels, x_seconds, residual
    for t in timings:
        if t.resolution not in SHORT_SIDE or not t.seconds or t.seconds <= 0:
            continue
        shape = (t.resolution, _known_aspect(t.aspect_ratio), int(t.duration))
        prior = expected_seconds(t.resolution, int(t.duration)) / time_scale
        points.append((shape, *_features(shape), math.log(t.seconds / prior)))
    if points:
        typical = sorted(p[3] for p in points)[(len(points) - 1) // 2]
        points = [p for p in points if p[3] <= typical + math.log(OUTLIER_RATIO)]
    if not points:
        return Law(time_scale=time_scale)

    n = len(points)
    center = (sum(p[1] for p in points) / n, sum(p[2] for p in points) / n)
    dp = [p[1] - center[0] for p in points]
    ds = [p[2] - center[1] for p in points]
    r = [p[3] for p in points]
    ratio = sum(r) / n  # the centred slopes leave the intercept at the mean residual
    sxx = (sum(x * x for x in dp), sum(x * y for x, y in zip(dp, ds, strict=True)))
    syy = sum(y * y for y in ds)
    sxr = sum(x * v for x, v in zip(dp, r, strict=True))
    syr = sum(y * v for y, v in zip(ds, r, strict=True))

    sigma2 = SCATTER_GUESS**2
    for _ in range(2):  # the ridge weight depends on the scatter, the scatter on the fit
        ridge = sigma2 / EXPONENT_SD**2
        a11, a12, a22 = sxx[0] + ridge, sxx[1], syy + ridge
        det = a11 * a22 - a12 * a12
        inverse = (a22 / det, -a12 / det, a11 / det)
        b = inverse[0] * sxr + inverse[1] * syr
        c = inverse[1] * sxr + inverse[2] * syr
        residuals = [v - ratio - b * x - c * y for x, y, v in zip(dp, ds, r, strict=True)]
        squares = sum(u * u for u in residuals)
        sigma2 = (PRIOR_WEIGHT * SCATTER_GUESS**2 + squares) / (PRIOR_WEIGHT + n - 1)

    by_shape: dict[Shape, list[float]] = {}
    for point, u in zip(points, residuals, strict=True):
        by_shape.setdefault(point[0], []).append(u)
    offsets = {s: sum(us) / (len(us) + SHAPE_SHRINK) for s, us in by_shape.items()}
    return Law(
        time_scale=time_scale,
        jobs=n,
        ratio=ratio,
        exponents=(b, c),
        center=center,
        covariance=inverse,
        sigma=math.sqrt(sigma2),
        offsets=offsets,
    )


def estimate_for(
    resolution: str,
    duration: int,
    ledger: Ledger | None = None,
    *,
    endpoint: str | None = None,
    time_scale: float = 1.0,
    aspect_ratio: str = DEFAULT_ASPECT_RATIO,
) -> Estimate:
    """From the law fitted to this endpoint's recent finished jobs of every shape when the ledger
    has any, else the prior (divided by the endpoint's time scale: the simulator runs faster)."""
    timings = ledger.finished_timings(endpoint, last=RECENT_JOBS) if ledger is not None else []
    return learn(timings, time_scale=time_scale).estimate(resolution, duration, aspect_ratio)
