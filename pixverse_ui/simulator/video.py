"""Render a real, small H.264 MP4 for a request body: the size and length the request asked for.

Frames are drawn with Pillow (the prompt, the parameters, a moving progress bar and clock hand)
and encoded with PyAV's libx264 (yuv420p, preset ultrafast, low fps). Files are cached on disk by a
hash of the body, so the same body is rendered once, even when many threads ask at the same time.

An image-to-video body's image decides the shape (the table's ratio nearest the image's, as the
library prices it: ``params.nearest_aspect_ratio``). An image sent as a data: URI is the video's
first frame, whole (padded to the frame), and the backdrop of the others, so a test can see it
arrived; an image URL is never fetched: the frames say so, at the default 16:9.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
import tempfile
import textwrap
import threading
from array import array
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from .. import params
from .schema import DATA_URI

#: Bump when the picture changes, so old cached files are not served for new renders.
RENDER_VERSION = 1
DEFAULT_FPS = 8
AUDIO_RATE = 24_000
TONE_HZ = 440.0
TONE_AMPLITUDE = 0.04  # quiet

_key_locks: dict[str, threading.Lock] = {}
_key_locks_guard = threading.Lock()


@dataclass(frozen=True)
class VideoSpec:
    """What the picture depends on, resolved from a request body with the API's defaults."""

    prompt: str
    aspect_ratio: str
    resolution: str
    duration: int
    audio: bool
    details: tuple[str, ...]
    #: The image sent as a data: URI, decoded (the first frame); None without one.
    picture: Image.Image | None = field(default=None, compare=False, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return params.frame_size(self.aspect_ratio, self.resolution)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> VideoSpec:
        """Read a (validated) request body; ``duration`` may be the string ``"5"``."""
        picture = start_image(body)
        aspect = shape_of(body, picture)
        resolution = body.get("resolution") or params.DEFAULT_RESOLUTION
        duration = int(body.get("duration") or params.DEFAULT_DURATION)
        details = [f"{aspect} · {resolution} · {duration} s"]
        if picture is not None:
            details.append(f"from an image of {picture.width}×{picture.height} (the first frame)")
        elif body.get("image_url"):
            details.append(f"from the image at {body['image_url']} (not fetched by the simulator)")
        for name in ("style", "seed", "thinking_type", "model"):
            if body.get(name) is not None:
                details.append(f"{name}: {body[name]}")
        switches = {"generate_audio_switch": "audio", "generate_multi_clip_switch": "multi-clip"}
        on = [label for name, label in switches.items() if body.get(name)]
        if on:
            details.append("on: " + ", ".join(on))
        if body.get("negative_prompt"):
            details.append(f"avoid: {body['negative_prompt']}")
        return cls(
            prompt=str(body.get("prompt", "")),
            aspect_ratio=aspect,
            resolution=resolution,
            duration=duration,
            audio=bool(body.get("generate_audio_switch")),
            details=tuple(details),
            picture=picture,
        )


def start_image(body: Mapping[str, Any]) -> Image.Image | None:
    """The image a body sent as a data: URI, decoded (RGB); None without one (a URL is never
    fetched). ``ValueError`` when its bytes are not an image Pillow reads."""
    found = DATA_URI.fullmatch(str(body.get("image_url") or ""))
    if found is None:
        return None
    try:
        with Image.open(io.BytesIO(base64.b64decode(found.group("payload")))) as picture:
            picture.load()
            return picture.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"the image could not be read ({type(exc).__name__})") from None


def shape_of(body: Mapping[str, Any], picture: Image.Image | None) -> str:
    """The aspect ratio a body's video has: the one it asks for, else its image's nearest."""
    if body.get("aspect_ratio"):
        return str(body["aspect_ratio"])
    if picture is not None:
        return params.nearest_aspect_ratio(picture.width, picture.height)
    return params.DEFAULT_ASPECT_RATIO


def cache_key(body: Mapping[str, Any], fps: int = DEFAULT_FPS) -> str:
    """A stable hash of everything the file depends on (a data: URI by its digest)."""
    normal = dict(body)
    if isinstance(normal.get("duration"), str):
        normal["duration"] = int(normal["duration"])
    if str(normal.get("image_url") or "").startswith("data:"):
        normal["image_url"] = hashlib.sha256(normal["image_url"].encode()).hexdigest()
    blob = json.dumps({"v": RENDER_VERSION, "fps": fps, "body": normal}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def render_mp4(
    body: Mapping[str, Any], dest_dir: str | os.PathLike[str], *, fps: int = DEFAULT_FPS
) -> Path:
    """The cached MP4 for ``body`` in ``dest_dir``, rendered now if it is not there yet."""
    return ensure_mp4(body, dest_dir, fps=fps)[0]


def ensure_mp4(
    body: Mapping[str, Any], dest_dir: str | os.PathLike[str], *, fps: int = DEFAULT_FPS
) -> tuple[Path, bool]:
    """Like :func:`render_mp4`, and whether this call did the rendering (False: cache hit)."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    key = cache_key(body, fps)
    path = dest / f"{key}.mp4"
    if path.exists():
        return path, False
    with _lock_for(str(path)):
        if path.exists():
            return path, False
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{key}.", suffix=".part")
        os.close(fd)
        try:
            _encode(VideoSpec.from_body(body), Path(tmp), fps)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path, True


def _lock_for(name: str) -> threading.Lock:
    with _key_locks_guard:
        return _key_locks.setdefault(name, threading.Lock())


class RenderPool:
    """Renders in background threads (never on the event loop); one job per distinct body."""

    def __init__(
        self, cache_dir: str | os.PathLike[str], *, fps: int = DEFAULT_FPS, workers: int = 2
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.fps = fps
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sim-render")
        self._futures: dict[str, Future[Path]] = {}
        self._lock = threading.Lock()
        self.renders = 0  #: files actually encoded by this pool (cache misses)

    def submit(self, body: Mapping[str, Any]) -> Future[Path]:
        """A future for the file; a failed render is retried by the next call."""
        key = cache_key(body, self.fps)
        with self._lock:
            future = self._futures.get(key)
            if future is None or (future.done() and future.exception() is not None):
                future = self._executor.submit(self._render, dict(body))
                self._futures[key] = future
            return future

    def _render(self, body: dict[str, Any]) -> Path:
        path, fresh = ensure_mp4(body, self.cache_dir, fps=self.fps)
        if fresh:
            with self._lock:
                self.renders += 1
        return path

    def shutdown(self) -> None:
        """Stop taking work; renders in progress finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)


# --- drawing and encoding ----------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _background(spec: VideoSpec) -> Image.Image:
    """The still part of every frame: a gradient tinted by the prompt, and all the text."""
    width, height = spec.size
    if spec.picture is not None:  # the image, darkened so that the text reads over it
        image = ImageEnhance.Brightness(_first_frame(spec)).enhance(0.45)
    else:
        digest = hashlib.sha256(spec.prompt.encode()).digest()
        dark = (digest[0] // 6, digest[1] // 6, 40 + digest[2] // 6)
        light = (60 + digest[3] // 3, 60 + digest[4] // 3, 90 + digest[5] // 3)
        ramp = Image.linear_gradient("L").rotate(45, expand=False).resize((width, height))
        image = ImageOps.colorize(ramp, dark, light)
    draw = ImageDraw.Draw(image)
    short = min(width, height)
    margin = short // 16
    title_size, text_size = short // 14, short // 24
    draw.text(
        (margin, margin), "PixVerse v5.5 simulator", font=_font(title_size), fill=(255, 255, 255)
    )
    y = margin + title_size * 2
    chars = max(12, int((width - 2 * margin) / (text_size * 0.55)))
    max_lines = max(2, int((height * 0.55 - y) / (text_size * 1.3)))
    lines = textwrap.wrap(spec.prompt, chars) or ["(no prompt)"]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, chars - 1)] + "…"
    body_font = _font(text_size)
    for line in lines:
        draw.text((margin, y), line, font=body_font, fill=(255, 255, 230))
        y += int(text_size * 1.3)
    y += text_size // 2
    small = _font(max(8, text_size * 3 // 4))
    for detail in spec.details:
        for line in textwrap.wrap(detail, int(chars * 1.3))[:2]:
            draw.text((margin, y), line, font=small, fill=(200, 220, 255))
            y += int(text_size * 1.05)
    return image


def _first_frame(spec: VideoSpec) -> Image.Image:
    """The image sent, whole, in the middle of the frame (bars where its shape differs)."""
    assert spec.picture is not None
    return ImageOps.pad(spec.picture, spec.size, Image.Resampling.LANCZOS, color=(0, 0, 0))


def _frame(base: Image.Image, t: float, duration: int, font: Any) -> Image.Image:
    """``base`` with the moving parts for time ``t``: progress bar, clock hand, time label."""
    image = base.copy()
    draw = ImageDraw.Draw(image)
    width, height = image.size
    short = min(width, height)
    margin = short // 16
    bar_h = max(4, short // 40)
    top = height - margin - bar_h
    draw.rectangle((margin, top, width - margin, top + bar_h), outline=(255, 255, 255))
    filled = margin + int((width - 2 * margin) * min(1.0, t / duration))
    draw.rectangle((margin, top, filled, top + bar_h), fill=(255, 200, 60))
    radius = short // 10
    cx, cy = width - margin - radius, top - margin - radius
    draw.ellipse(
        (cx - radius, cy - radius, cx + radius, cy + radius),
        outline=(255, 255, 255),
        width=max(1, short // 200),
    )
    angle = 2 * math.pi * (t % 1.0) - math.pi / 2
    draw.line(
        (cx, cy, cx + radius * 0.9 * math.cos(angle), cy + radius * 0.9 * math.sin(angle)),
        fill=(255, 200, 60),
        width=max(2, short // 120),
    )
    draw.text(
        (margin, top - margin - short // 24),
        f"{t:4.1f} s / {duration} s",
        font=font,
        fill=(255, 255, 255),
    )
    return image


def _encode(spec: VideoSpec, path: Path, fps: int) -> None:
    width, height = spec.size
    base = _background(spec)
    first = _first_frame(spec) if spec.picture is not None else None
    font = _font(min(width, height) // 24)
    frames = spec.duration * fps
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # one thread: on frames this small x264's threads cost more than they save (a 360p 5 s
        # video, 0.094 -> 0.072 CPU-s)
        stream.options = {"preset": "ultrafast", "crf": "30", "threads": "1"}
        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="mono") if spec.audio else None
        for index in range(frames):
            if index == 0 and first is not None:
                picture = first
            else:
                picture = _frame(base, index / fps, spec.duration, font)
            frame = av.VideoFrame.from_image(picture)
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if audio is not None:
            _encode_tone(out, audio, spec.duration)


def _encode_tone(out: Any, stream: Any, duration: int) -> None:
    """A quiet sine tone as long as the video."""
    total = duration * AUDIO_RATE
    chunk = 1024
    for start in range(0, total, chunk):
        count = min(chunk, total - start)
        samples = array(
            "h",
            (
                int(
                    32767
                    * TONE_AMPLITUDE
                    * math.sin(2 * math.pi * TONE_HZ * (start + i) / AUDIO_RATE)
                )
                for i in range(count)
            ),
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=count)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
