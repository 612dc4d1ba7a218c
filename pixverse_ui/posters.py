"""Posters: one still frame of a video as a small JPEG, and a contact sheet of a batch as a PNG.

    from pixverse_ui.posters import contact_sheet, poster
    still = poster(Path("videos/abc.mp4"))           # videos/abc.poster.jpg, made once
    sheet = contact_sheet([(still_video, "seed 123"), ...], Path("batch.png"))

A poster is decoded with PyAV (one frame, at ``at`` seconds or the last one before it) and written
with Pillow next to its video as ``<name>.poster.jpg``, at most ``POSTER_WIDTH`` pixels wide. It is
made once: a poster newer than its video is returned as it is. A video that is missing, empty or
not a video raises ``PosterError`` with a sentence; renderers that would rather show nothing use
``poster_or_none``. Files are written to a temporary name and renamed, so a reader never sees half
a picture.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont

from .errors import PosterError

log = logging.getLogger(__name__)

POSTER_SUFFIX = ".poster.jpg"
#: Posters are previews: small and quick to send (a 16:9 poster is 320x180).
POSTER_WIDTH = 320
JPEG_QUALITY = 82
#: A contact sheet's cell: the poster, then a caption below it.
CAPTION_HEIGHT = 28
GAP = 8
_BACKGROUND = (24, 24, 32)
_CAPTION = (235, 235, 245)
_MISSING = (70, 70, 84)


def poster_path(video_path: Path) -> Path:
    """Where the poster of ``video_path`` goes: ``<name>.poster.jpg`` beside it."""
    return video_path.with_name(video_path.stem + POSTER_SUFFIX)


def poster(video_path: Path, *, at: float = 1.0) -> Path:
    """The poster of ``video_path`` (the frame at ``at`` seconds), made if it is not there yet.

    Raises ``PosterError`` when the video is missing, empty or cannot be decoded.
    """
    video_path = Path(video_path)
    target = poster_path(video_path)
    try:
        made = video_path.stat()
    except OSError:
        raise PosterError(f"There is no video at {video_path.name} to take a still from") from None
    if made.st_size == 0:
        raise PosterError(f"The video {video_path.name} is empty: there is no frame to show")
    try:
        if target.stat().st_mtime >= made.st_mtime:
            return target
    except OSError:
        pass  # not made yet
    frame = _frame_at(video_path, at)
    frame.thumbnail((POSTER_WIDTH, POSTER_WIDTH * 4))
    _save(frame.convert("RGB"), target, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return target


def poster_or_none(video_path: Path | None, *, at: float = 1.0) -> Path | None:
    """Like :func:`poster`, but None (logged) instead of an error, for previews."""
    if video_path is None:
        return None
    try:
        return poster(video_path, at=at)
    except PosterError as exc:
        log.info("no poster: %s", exc.message)
        return None


def contact_sheet(items: Sequence[tuple[Path, str]], dest: Path, *, columns: int = 3) -> Path:
    """A PNG grid of the videos' posters, each with its caption (``"seed 123"``) under it.

    A video that has no poster gets a grey cell with its caption, so the sheet still shows the
    whole batch. Returns ``dest``.
    """
    if not items:
        raise PosterError("A contact sheet needs at least one video", hint="Nothing was written.")
    columns = max(1, min(int(columns), len(items)))
    stills = [_open_poster(Path(path)) for path, _ in items]
    shown = [s for s in stills if s is not None]
    cell_w = POSTER_WIDTH
    cell_h = max((s.height for s in shown), default=POSTER_WIDTH * 9 // 16)
    rows = math.ceil(len(items) / columns)
    sheet = Image.new(
        "RGB",
        (GAP + columns * (cell_w + GAP), GAP + rows * (cell_h + CAPTION_HEIGHT + GAP)),
        _BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for index, ((_, caption), still) in enumerate(zip(items, stills, strict=True)):
        row, col = divmod(index, columns)
        x = GAP + col * (cell_w + GAP)
        y = GAP + row * (cell_h + CAPTION_HEIGHT + GAP)
        if still is None:
            draw.rectangle((x, y, x + cell_w - 1, y + cell_h - 1), fill=_MISSING)
            draw.text((x + 8, y + 8), "no video", font=font, fill=_CAPTION)
        else:
            sheet.paste(still, (x + (cell_w - still.width) // 2, y + (cell_h - still.height) // 2))
        text = _fit(draw, str(caption), font, cell_w - 4)
        draw.text((x + 2, y + cell_h + 6), text, font=font, fill=_CAPTION)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _save(sheet, dest, "PNG", optimize=False)
    return dest


# --- helpers --------------------------------------------------------------------------------------


def _frame_at(video_path: Path, at: float) -> Image.Image:
    """The first frame at or after ``at`` seconds; the last frame if the video is shorter."""
    try:
        with av.open(str(video_path)) as container:
            if not container.streams.video:
                raise PosterError(f"{video_path.name} has no video stream to take a still from")
            stream = container.streams.video[0]
            if at > 0 and stream.time_base:
                # seek to the keyframe before ``at``; decoding on from there is cheap
                container.seek(int(at / stream.time_base), stream=stream, backward=True)
            last = None
            for frame in container.decode(stream):
                last = frame
                if frame.time is None or frame.time >= at - 1e-6:
                    break
            if last is None:
                raise PosterError(f"{video_path.name} holds no frame to show")
            return last.to_image()
    except PosterError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise PosterError(
            f"{video_path.name} could not be read as a video ({type(exc).__name__})"
        ) from None


def _open_poster(video_path: Path) -> Image.Image | None:
    target = poster_or_none(video_path)
    if target is None:
        return None
    with Image.open(target) as image:
        image.load()
        return image.copy()


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> str:
    """``text`` cut with ``…`` until it fits ``width`` pixels."""
    text = " ".join(text.split())
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _save(image: Image.Image, target: Path, kind: str, **options: object) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        image.save(tmp, kind, **options)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
