"""The simulator's settings, as one frozen value, and how to read them from the environment."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import params
from .faults import FAIL_SHAPES, parse_plan

SPEED_ENV = "PIXVERSE_UI_SIM_SPEED"
FAULTS_ENV = "PIXVERSE_UI_SIM_FAULTS"
#: Where the simulator keeps the MP4s it renders (each is named by what it shows, so simulators
#: that share the folder render a body once between them).
VIDEOS_ENV = "PIXVERSE_UI_SIM_VIDEOS"
HOME_ENV = "PIXVERSE_UI_HOME"
DEFAULT_SPEED = 10.0


@dataclass(frozen=True)
class SimConfig:
    """How the stand-in API behaves.

    ``speed``: how many times faster than real time jobs run. ``api_keys``: the bearer keys
    accepted; None makes one random key at start (``Simulator.api_key``), and
    ``Simulator.allow_key`` adds more; any other key gets 401, as from the real API.
    ``faults``: a fault plan string (see :mod:`.faults`). ``cache_dir``: where rendered MP4s are
    kept (None: a shared directory under the system temp dir). ``state_path``: an SQLite file
    that keeps jobs across restarts (None: memory only). ``enforce_combo_rules``: refuse the
    resolution/duration pairs the page calls unsupported (1080p + 8 s). ``prerender``: start
    rendering a job's video when it is created (False: on its first download).
    ``price_multiple``: what a job costs as a multiple of the rate card (``pricing.credits_for``);
    the provider's real prices may differ from the card, and budgets must hold when they do.
    ``flat_usd``: charge this many dollars a job whatever its shape, instead (a provider whose
    prices do not follow the card at all). ``post_delay``: the least and most seconds a create
    takes to answer (drawn evenly between them, real time), as a real API's POST does.
    ``keep_seed``: the video link names the seed that was sent (False: a seed of its own, as a
    provider that ignores the sent seed would). ``data_uris``: image-to-video takes an image as a
    data: URI (False: only as an http(s) URL, refused with 400 otherwise, as a provider that
    fetches every image by URL would).
    """

    speed: float = DEFAULT_SPEED
    seed: int | None = None
    api_keys: frozenset[str] | None = None
    success_status: str = "completed"
    failure_status: str = "error"
    fail_shape: str = "name"
    slow_seconds: float = 2.0
    url_ttl: float = 3600.0
    sigma: float = 0.12
    fps: int = 8
    cache_dir: Path | None = None
    state_path: Path | None = None
    enforce_combo_rules: bool = True
    faults: str = ""
    render_workers: int = 2
    prerender: bool = True
    price_multiple: float = 1.0
    flat_usd: float | None = None
    post_delay: tuple[float, float] = (0.0, 0.0)
    keep_seed: bool = True
    data_uris: bool = True

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError(f"speed must be positive, got {self.speed}")
        if self.success_status not in params.SUCCESS_STATUSES:
            raise ValueError(f"success_status must be one of {sorted(params.SUCCESS_STATUSES)}")
        if self.failure_status not in params.FAILURE_STATUSES:
            raise ValueError(f"failure_status must be one of {sorted(params.FAILURE_STATUSES)}")
        if self.fail_shape not in FAIL_SHAPES:
            raise ValueError(f"fail_shape must be one of {FAIL_SHAPES}")
        if not self.price_multiple > 0:
            raise ValueError(f"price_multiple must be positive, got {self.price_multiple}")
        if self.flat_usd is not None and not self.flat_usd > 0:
            raise ValueError(f"flat_usd must be positive, got {self.flat_usd}")
        low, high = self.post_delay
        if not 0 <= low <= high:
            raise ValueError(f"post_delay must be (least, most), 0 <= least <= most: {low, high}")
        if self.sigma < 0 or self.slow_seconds < 0 or self.url_ttl <= 0 or self.fps < 1:
            raise ValueError("sigma and slow_seconds must be >= 0; url_ttl and fps positive")
        if self.api_keys is not None:
            object.__setattr__(self, "api_keys", frozenset(self.api_keys))
            if not all(isinstance(key, str) and key.strip() for key in self.api_keys):
                raise ValueError("api_keys must be non-empty strings")
        for name in ("cache_dir", "state_path"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        parse_plan(self.faults)  # fail early on a bad plan string

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> SimConfig:
        """``PIXVERSE_UI_SIM_SPEED`` (default 10), ``PIXVERSE_UI_SIM_FAULTS`` and
        ``PIXVERSE_UI_SIM_VIDEOS`` (the ``cache_dir``), plus overrides."""
        env = os.environ if environ is None else environ
        speed_text = env.get(SPEED_ENV, "").strip()
        try:
            speed = float(speed_text) if speed_text else DEFAULT_SPEED
        except ValueError:
            raise ValueError(f"{SPEED_ENV} must be a number, got {speed_text!r}") from None
        values: dict[str, object] = {"speed": speed, "faults": env.get(FAULTS_ENV, "").strip()}
        videos = env.get(VIDEOS_ENV, "").strip()
        if videos:
            values["cache_dir"] = Path(videos).expanduser()
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def resolved_cache_dir(self) -> Path:
        """Where MP4s go: ``cache_dir`` or a shared directory under the system temp dir."""
        if self.cache_dir is not None:
            return self.cache_dir
        user = f"-{os.getuid()}" if hasattr(os, "getuid") else ""
        return Path(tempfile.gettempdir()) / f"pixverse-ui-simulator{user}" / "videos"


def home_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$PIXVERSE_UI_HOME``, or ``~/.pixverse-ui``."""
    env = os.environ if environ is None else environ
    value = env.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".pixverse-ui"
