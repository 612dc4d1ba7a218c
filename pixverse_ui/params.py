"""The one table of the API's enums, defaults and rules, and validation into a frozen ``Params``.

Everything else (the client, the UI dropdowns, the CLI choices, the simulator) reads its choices
from here; nothing else spells ``"1080p"``.

Two models share one endpoint (``MODELS``): a generation is text-to-video or image-to-video by
whether it has an image (``validate(prompt, image=...)``, see ``images.py``). Image-to-video takes
every field text-to-video takes but ``aspect_ratio`` (the image decides the shape), and needs
``image_url``; an aspect ratio given with an image is refused before anything is sent.
"""

from __future__ import annotations

import math
import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from . import images
from .errors import ValidationError

# --- the API's enums -------------------------------------------------------------------------

#: The model id sent: the one the provider's only working example uses (docs/provider-contract.md).
MODEL_ID = "pixverse/v5-5-text-to-video"
#: Both spellings the provider's page uses are accepted as input.
MODEL_IDS = (MODEL_ID, "pixverse/v5.5/text-to-video")
#: Image-to-video, the same way: the dashed id is sent, both are accepted.
IMAGE_MODEL_ID = "pixverse/v5-5-image-to-video"
IMAGE_MODEL_IDS = (IMAGE_MODEL_ID, "pixverse/v5.5/image-to-video")


@dataclass(frozen=True)
class Model:
    """One of the provider's models on ``/v2/video/generations``: its ids (the first is sent),
    whether it starts from an image, and the body field it takes that the other does not."""

    kind: str
    ids: tuple[str, ...]
    takes_image: bool
    own_field: str


TEXT_TO_VIDEO = Model("text-to-video", MODEL_IDS, False, "aspect_ratio")
IMAGE_TO_VIDEO = Model("image-to-video", IMAGE_MODEL_IDS, True, "image_url")
MODELS = (TEXT_TO_VIDEO, IMAGE_TO_VIDEO)


def model_for(image: bool) -> Model:
    """The model a generation is for: image-to-video when it has an image."""
    return IMAGE_TO_VIDEO if image else TEXT_TO_VIDEO


def model_named(model_id: Any) -> Model | None:
    """The model an id names (either spelling), or None for an id of neither."""
    return next((m for m in MODELS if model_id in m.ids), None)


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


def nearest_aspect_ratio(width: int, height: int) -> str:
    """The table's ratio closest to ``width``:``height`` (by how many times wider or taller):
    the shape an image-to-video job is priced, timed and drawn at."""
    wanted = math.log(width / height)
    return min(ASPECT_RATIOS, key=lambda ar: abs(math.log(_RATIO[ar][0] / _RATIO[ar][1]) - wanted))


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

    ``None`` means "not set by the user": such fields are left out of the request body. With an
    ``image`` (image-to-video) ``aspect_ratio`` is None: the image decides the shape.
    """

    prompt: str
    aspect_ratio: str | None = DEFAULT_ASPECT_RATIO
    resolution: str = DEFAULT_RESOLUTION
    duration: int = DEFAULT_DURATION
    negative_prompt: str | None = None
    style: str | None = None
    seed: int | None = None
    generate_audio_switch: bool | None = None
    generate_multi_clip_switch: bool | None = None
    thinking_type: str | None = None
    model: str = MODEL_ID
    #: The image the video starts from (image-to-video), checked; None for text-to-video.
    image: images.InputImage | None = None

    @classmethod
    def build(cls, prompt: Any = None, **kwargs: Any) -> Params:
        """Same as :func:`validate`."""
        return validate(prompt, **kwargs)

    def _set(self) -> dict[str, Any]:
        """The fields set, by name (the image as it is)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def to_body(self) -> dict[str, Any]:
        """The JSON body for ``POST /v2/video/generations``: unset optional fields are omitted,
        and an image is its ``image_url`` (a local image's bytes as a data: URI)."""
        body = self.to_record()
        if self.image is not None:
            body["image_url"] = self.image.image_url()
        return body

    def to_record(self) -> dict[str, Any]:
        """The body as the ledger keeps it: as sent, but for a local image's data: URI (the
        ledger keeps the image as a file, see ``images.keep``)."""
        body = self._set()
        image = body.pop("image", None)
        if image is not None and image.is_url:
            body["image_url"] = image.url
        return body

    def replace(self, **changes: Any) -> Params:
        """A validated copy with some fields changed. Adding or removing an image changes the
        model with it (unless it is an id of the user's own) and drops the aspect ratio."""
        merged = self._set()
        if {"image", "image_url"} & set(changes):
            merged.pop("image", None)
            if model_named(merged.get("model")) is not None:
                merged.pop("model")
            merged.pop("aspect_ratio", None)
        merged.update(changes)
        return validate(merged.pop("prompt"), **merged)

    @property
    def kind(self) -> str:
        """``text-to-video`` or ``image-to-video``."""
        return model_for(self.image is not None).kind

    @property
    def frame_ratio(self) -> str:
        """The aspect ratio the video is expected in, and priced and timed at: the one asked; for
        an image, the table's ratio nearest the image's (the widest, 16:9, for a URL, whose size
        is not known here: a price is then never below what the image's own would be)."""
        if self.aspect_ratio is not None:
            return self.aspect_ratio
        image = self.image
        if image is not None and image.width and image.height:
            return nearest_aspect_ratio(image.width, image.height)
        return DEFAULT_ASPECT_RATIO

    def priced(self) -> dict[str, Any]:
        """What the price of a start depends on (``pricing.py``): its shape."""
        return {
            "aspect_ratio": self.frame_ratio,
            "resolution": self.resolution,
            "duration": self.duration,
        }

    @property
    def size(self) -> tuple[int, int]:
        """Expected (width, height) of the video."""
        return frame_size(self.frame_ratio, self.resolution)

    def summary(self) -> str:
        """A short human line: ``16:9 · 720p · 5 s · anime`` (``image 640×360 · 720p · 5 s``)."""
        first = self.aspect_ratio or (self.image.describe() if self.image else DEFAULT_ASPECT_RATIO)
        bits = [first, self.resolution, f"{self.duration} s"]
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
#: Also taken by :func:`validate`: the image under the name the API gives it.
ALIASES = ("image_url",)
#: Spellings people use for "no style".
_NO_STYLE = {"", "none", "no style", "default"}


def validate(prompt: Any = None, *, let_server_decide: bool | None = None, **kwargs: Any) -> Params:
    """Check and normalise every field; raise :class:`ValidationError` with a readable sentence.

    Accepts what people and the provider's own examples send: ``duration="5"``, either model id,
    ``style="none"``, ``resolution="1080P"``, ``image_url=`` for ``image=``. ``image`` is what
    ``images.prepare`` takes (a path, an http(s) URL, a PIL image, a frame of a video); it is read
    and checked last, after every cheaper refusal. Nothing is sent anywhere.
    """
    unknown = sorted(set(kwargs) - set(PARAM_NAMES) - set(ALIASES))
    if unknown:
        raise ValidationError(
            f"Unknown option {', '.join(map(repr, unknown))}. "
            f"Known options: {', '.join(n for n in PARAM_NAMES if n != 'prompt')}.",
            field=unknown[0],
        )
    if let_server_decide is None:
        let_server_decide = let_server_decide_default()
    source = _image_source(kwargs)
    model = model_for(source is not None)

    values: dict[str, Any] = {
        "prompt": _text("prompt", prompt, required=True),
        "aspect_ratio": _choice(
            "aspect_ratio",
            kwargs.get("aspect_ratio"),
            ASPECT_RATIOS,
            None if model.takes_image else DEFAULT_ASPECT_RATIO,
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
        "model": _model(kwargs.get("model"), model),
    }
    allowed = supported_durations(values["resolution"], let_server_decide=let_server_decide)
    if values["duration"] not in allowed:
        raise ValidationError(
            f"{values['resolution']} does not support {values['duration']}-second videos; "
            f"pick {join_or(allowed)} seconds, or a lower resolution.",
            field="duration",
        )
    if model.takes_image and values["aspect_ratio"] is not None:
        raise ValidationError(
            "An image decides the video's shape: image-to-video takes no aspect ratio. Leave "
            f"the aspect ratio out (it was {values['aspect_ratio']}).",
            field="aspect_ratio",
        )
    values["image"] = None if source is None else images.prepare(source)
    return Params(**values)


class Asked(images.KeptImage, Protocol):
    """A ledger row (``store.JobRecord``) as :func:`requested` reads it: its request body, as the
    ledger keeps it, and its image's columns."""

    @property
    def request(self) -> dict[str, Any]: ...


def requested(record: Asked) -> Params:
    """What a ledger row's job was asked with, as ``Params`` (its image read back from the row:
    see ``images.recorded``); ``ValidationError`` for a row no longer valid. Not for a row known
    by its id alone (``record.adopted``), whose request is unknown."""
    body = record.request
    image = images.recorded(record)
    if image is not None:
        body.pop("image_url", None)
    return validate(body.pop("prompt", None), let_server_decide=True, image=image, **body)


def _image_source(kwargs: Mapping[str, Any]) -> Any:
    """The image given (as ``image`` or as ``image_url``), or None; never both."""
    image, url = kwargs.get("image"), kwargs.get("image_url")
    if image is not None and url is not None:
        raise ValidationError(
            "Give the image once: as image or as image_url, not both.", field="image"
        )
    return image if image is not None else url


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
    "image": "Image",
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


#: A whole number written out: a sign, then digits (decimal digits only: ``int`` reads them).
_WHOLE = re.compile(r"[+-]?\d+")


def _seed(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: Any = value
    out_of_range = f"Seed must be between {SEED_MIN} and {SEED_MAX}; got"
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        if len(value.strip().lstrip("+-")) > len(str(SEED_MAX)):  # too long to be in range
            raise ValidationError(f"{out_of_range} {shown(value)}.", field="seed")
        number = int(value.strip())  # "-1" is a whole number: the range below refuses it
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValidationError(f"Seed must be a whole number; got {shown(value)}.", field="seed")
    if not SEED_MIN <= number <= SEED_MAX:
        raise ValidationError(f"{out_of_range} {number}.", field="seed")
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


def _model(value: Any, wanted: Model) -> str:
    """The model id to send for a generation of the ``wanted`` model (by whether it has an
    image): its first id unless the user named one of its ids, or an id of their own."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return wanted.ids[0]
    named = model_named(value.strip()) if isinstance(value, str) else None
    if named is wanted:
        return value.strip()
    if named is not None:
        need = (
            "needs an image: give one with image="
            if named.takes_image
            else "starts from no image: leave the image out"
        )
        raise ValidationError(
            f"The model {value.strip()} {need}, or leave the model out (it follows the image).",
            field="model",
        )
    if isinstance(value, str) and value.strip().startswith("pixverse/"):
        return value.strip()  # the user's override, sent as given
    known = [model_id for m in MODELS for model_id in m.ids]
    raise ValidationError(
        f"Model must be {join_or(known)} (or another pixverse/ model id); got {shown(value)}.",
        field="model",
    )
