"""The one table of the API's enums, defaults and rules, and validation into a frozen ``Params``.

Everything else (the client, the UI dropdowns, the CLI choices, the simulator) reads its choices
from here; nothing else spells ``"1080p"``.
"""

from __future__ import annotations

import math
import os
import random
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ValidationError

# --- the API's enums -------------------------------------------------------------------------

#: The model id sent: the one the provider's only working example uses (docs/provider-contract.md).
MODEL_ID = "pixverse/v5-5-text-to-video"
#: Both spellings the provider's page uses are accepted as input.
MODEL_IDS = (MODEL_ID, "pixverse/v5.5/text-to-video")

ASPECT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16")
RESOLUTIONS = ("360p", "540p", "720p", "1080p")
DURATIONS = (5, 8, 10)
STYLES = ("anime", "3d_animation", "clay", "comic", "cyberpunk")
THINKING_TYPES = ("enabled", "disabled", "auto")

DEFAULT_ASPECT_RATIO = "16:9"
DEFAULT_RESOLUTION = "720p"
DEFAULT_DURATION = 5

PROMPT_MAX_CHARS = 2048
SEED_MIN, SEED_MAX = 0, 2_147_483_647

#: Durations a resolution does not support. The provider's page says 1080p cannot do 8 s;
#: PixVerse's own docs say 10 s. We follow the page by default; ``let_server_decide`` skips this.
UNSUPPORTED_DURATIONS: Mapping[str, frozenset[int]] = {"1080p": frozenset({8})}

#: Environment switch: let the server judge resolution/duration combinations instead of us.
LET_SERVER_DECIDE_ENV = "PIXVERSE_UI_LET_SERVER_DECIDE"

# --- statuses: the one set of terminal statuses ----------------------------------------------

SUCCESS_STATUSES = frozenset({"completed", "succeeded"})
FAILURE_STATUSES = frozenset({"error", "failed"})
TERMINAL_STATUSES = SUCCESS_STATUSES | FAILURE_STATUSES
RUNNING_STATUSES = frozenset({"queued", "generating", "waiting", "active"})

# --- what a job is expected to take ------------------------------------------------------------

#: The provider's page: a 1080p, 5 s video took about 2 min 3 s.
REFERENCE_SECONDS = 123.0
SHORT_SIDE = {"360p": 360, "540p": 540, "720p": 720, "1080p": 1080}
_RATIO = {ar: tuple(int(x) for x in ar.split(":")) for ar in ASPECT_RATIOS}


def frame_size(aspect_ratio: str, resolution: str) -> tuple[int, int]:
    """Width and height in pixels: the short side is the resolution (1080p 16:9 is 1920x1080)."""
    w, h = _RATIO[aspect_ratio]
    short = SHORT_SIDE[resolution]
    long = round(short * max(w, h) / min(w, h) / 2) * 2  # H.264 wants even sides
    return (long, short) if w >= h else (short, long)


def expected_seconds(resolution: str, duration: int) -> float:
    """A prior for how long a generation takes, scaled from the page's 1080p/5 s figure.

    Render cost grows with pixels (sub-linearly: fixed overheads dominate small frames) and with
    length; the queue part does not scale. Used by the poll schedule when the ledger has no
    history yet, and by the simulator to draw its job lengths.
    """
    pixels = SHORT_SIDE[resolution] / SHORT_SIDE["1080p"]
    fixed = 0.35 * REFERENCE_SECONDS
    scaled = (REFERENCE_SECONDS - fixed) * math.sqrt(pixels) * (duration / 5) ** 0.8
    return fixed + scaled


def supported_durations(resolution: str, *, let_server_decide: bool = False) -> tuple[int, ...]:
    """The durations offered for a resolution (all of them when the server decides)."""
    if let_server_decide:
        return DURATIONS
    banned = UNSUPPORTED_DURATIONS.get(resolution, frozenset())
    return tuple(d for d in DURATIONS if d not in banned)


def let_server_decide_default() -> bool:
    """Whether ``PIXVERSE_UI_LET_SERVER_DECIDE`` asks to skip our combination rule."""
    return os.environ.get(LET_SERVER_DECIDE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


# --- Params ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """A validated request. Build it with :func:`validate` (or ``Params.build``), not directly.

    ``None`` means "not set by the user": such fields are left out of the request body.
    """

    prompt: str
    aspect_ratio: str = DEFAULT_ASPECT_RATIO
    resolution: str = DEFAULT_RESOLUTION
    duration: int = DEFAULT_DURATION
    negative_prompt: str | None = None
    style: str | None = None
    seed: int | None = None
    generate_audio_switch: bool | None = None
    generate_multi_clip_switch: bool | None = None
    thinking_type: str | None = None
    model: str = MODEL_ID

    @classmethod
    def build(cls, prompt: Any = None, **kwargs: Any) -> Params:
        """Same as :func:`validate`."""
        return validate(prompt, **kwargs)

    def to_body(self) -> dict[str, Any]:
        """The JSON body for ``POST /v2/video/generations``: unset optional fields are omitted."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def replace(self, **changes: Any) -> Params:
        """A validated copy with some fields changed."""
        merged = {**self.to_body(), **changes}
        return validate(merged.pop("prompt"), **merged)

    @property
    def size(self) -> tuple[int, int]:
        """Expected (width, height) of the video."""
        return frame_size(self.aspect_ratio, self.resolution)

    def summary(self) -> str:
        """A short human line: ``16:9 · 720p · 5 s · anime``."""
        bits = [self.aspect_ratio, self.resolution, f"{self.duration} s"]
        if self.style:
            bits.append(self.style)
        if self.seed is not None:
            bits.append(f"seed {self.seed}")
        if self.generate_audio_switch:
            bits.append("audio")
        if self.generate_multi_clip_switch:
            bits.append("multi-clip")
        if self.thinking_type:
            bits.append(f"thinking {self.thinking_type}")
        return " · ".join(bits)


PARAM_NAMES = tuple(f.name for f in fields(Params))
#: Spellings people use for "no style".
_NO_STYLE = {"", "none", "no style", "default"}


def validate(prompt: Any = None, *, let_server_decide: bool | None = None, **kwargs: Any) -> Params:
    """Check and normalise every field; raise :class:`ValidationError` with a readable sentence.

    Accepts what people and the provider's own examples send: ``duration="5"``, either model id,
    ``style="none"``, ``resolution="1080P"``. Nothing is sent anywhere.
    """
    unknown = sorted(set(kwargs) - set(PARAM_NAMES))
    if unknown:
        raise ValidationError(
            f"Unknown option {', '.join(map(repr, unknown))}. "
            f"Known options: {', '.join(n for n in PARAM_NAMES if n != 'prompt')}.",
            field=unknown[0],
        )
    if let_server_decide is None:
        let_server_decide = let_server_decide_default()

    values: dict[str, Any] = {
        "prompt": _text("prompt", prompt, required=True),
        "aspect_ratio": _choice(
            "aspect_ratio", kwargs.get("aspect_ratio"), ASPECT_RATIOS, DEFAULT_ASPECT_RATIO
        ),
        "resolution": _choice(
            "resolution", kwargs.get("resolution"), RESOLUTIONS, DEFAULT_RESOLUTION
        ),
        "duration": _duration(kwargs.get("duration")),
        "negative_prompt": _text("negative_prompt", kwargs.get("negative_prompt")),
        "style": _style(kwargs.get("style")),
        "seed": _seed(kwargs.get("seed")),
        "generate_audio_switch": _flag(
            "generate_audio_switch", kwargs.get("generate_audio_switch")
        ),
        "generate_multi_clip_switch": _flag(
            "generate_multi_clip_switch", kwargs.get("generate_multi_clip_switch")
        ),
        "thinking_type": _choice(
            "thinking_type", kwargs.get("thinking_type"), THINKING_TYPES, None
        ),
        "model": _model(kwargs.get("model")),
    }
    allowed = supported_durations(values["resolution"], let_server_decide=let_server_decide)
    if values["duration"] not in allowed:
        raise ValidationError(
            f"{values['resolution']} does not support {values['duration']}-second videos; "
            f"pick {join_or(allowed)} seconds, or a lower resolution.",
            field="duration",
        )
    return Params(**values)


_LABELS = {
    "prompt": "The prompt",
    "negative_prompt": "The negative prompt",
    "aspect_ratio": "Aspect ratio",
    "resolution": "Resolution",
    "duration": "Duration",
    "style": "Style",
    "seed": "Seed",
    "thinking_type": "Thinking",
    "generate_audio_switch": "Audio",
    "generate_multi_clip_switch": "Multi-clip",
    "model": "Model",
}


def join_or(options: tuple[Any, ...] | list[Any]) -> str:
    """``a, b or c``."""
    items = [str(o) for o in options]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


#: The longest text quoted back in a refusal. A longer one may be a key pasted into the wrong
#: field, and a public page must not echo keys, so it is described, not quoted.
QUOTE_MAX_CHARS = 12


def shown(value: Any) -> str:
    """A refused value as a refusal quotes it: short text and numbers as they are, else its kind."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 24 else f"a number of {len(text)} digits"
    if isinstance(value, str):
        quotable = len(value) <= QUOTE_MAX_CHARS
        return repr(value) if quotable else f"a text of {len(value)} characters"
    return f"a {type(value).__name__}"


def _text(name: str, value: Any, *, required: bool = False) -> str | None:
    label = _LABELS[name]
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"{label} is empty: describe the video you want.", field=name)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{label} must be text, not {type(value).__name__}.", field=name)
    if "\x00" in value:
        raise ValidationError(f"{label} contains a NUL character; remove it.", field=name)
    value = value.strip()
    if len(value) > PROMPT_MAX_CHARS:
        raise ValidationError(
            f"{label} is {len(value)} characters long; the limit is {PROMPT_MAX_CHARS}. "
            "Shorten it.",
            field=name,
        )
    return value


def _choice(name: str, value: Any, options: tuple[str, ...], default: str | None) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, str):
        folded = value.strip().lower()
        for option in options:
            if folded == option.lower():
                return option
    raise ValidationError(
        f"{_LABELS[name]} must be one of {join_or(options)}; got {shown(value)}.", field=name
    )


def _duration(value: Any) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_DURATION
    number: Any = value
    if isinstance(value, str):
        text = value.strip().lower().removesuffix("s").strip()
        number = int(text) if text.isdigit() else None
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int) or number not in DURATIONS:
        raise ValidationError(
            f"Duration must be {join_or(DURATIONS)} seconds; got {shown(value)}.", field="duration"
        )
    return number


def _style(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in _NO_STYLE):
        return None
    if isinstance(value, str):
        value = value.strip().lower().replace(" ", "_").replace("-", "_")
        if value == "3d":
            value = "3d_animation"
    return _choice("style", value, STYLES, None)


def _seed(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: Any = value
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValidationError(f"Seed must be a whole number; got {shown(value)}.", field="seed")
    if not SEED_MIN <= number <= SEED_MAX:
        raise ValidationError(
            f"Seed must be between {SEED_MIN} and {SEED_MAX}; got {number}.", field="seed"
        )
    return number


def pick_seed(rng: random.Random) -> int:
    """A seed for a request that names none, so that every video's seed is known."""
    return rng.randint(SEED_MIN, SEED_MAX)


#: The provider names a video's seed in its link: ``..._seed1231972948.mp4``.
_SEED_IN_URL = re.compile(r"_seed(\d+)\.")


def seed_named_in(url: str | None) -> int | None:
    """The seed a video link names (``_seed<digits>.``), or None when it names none."""
    found = _SEED_IN_URL.search(url or "")
    return int(found.group(1)) if found else None


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _flag(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValidationError(f"{_LABELS[name]} must be on or off; got {shown(value)}.", field=name)


def _model(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return MODEL_ID
    if isinstance(value, str) and value.strip() in MODEL_IDS:
        return value.strip()
    if isinstance(value, str) and value.strip().startswith("pixverse/"):
        return value.strip()  # the user's override, sent as given
    raise ValidationError(
        f"Model must be {join_or(MODEL_IDS)} (or another pixverse/ model id); got {shown(value)}.",
        field="model",
    )
