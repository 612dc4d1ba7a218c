"""The image a video starts from (image-to-video): where it comes from, what is checked, and
what is sent.

    from pixverse_ui.images import Frame, prepare
    prepare("https://example.com/fox.jpg")     # a URL: sent as given, never fetched here
    prepare("fox.png")                         # a file: checked, sent as a data: URI
    prepare(pil_image)                         # a PIL.Image: sent as a PNG data: URI
    prepare(Frame(generation, "last"))         # a frame of a generation's video, read with PyAV

An ``http(s)`` URL is sent as given: the app never fetches a URL someone typed (a server that
did would fetch whatever a stranger names). Anything else becomes bytes that are checked with
Pillow (really a PNG, JPEG or WebP; at most ``MAX_BYTES`` and ``MAX_SIDE`` pixels a side, a bound
of ours until the provider states its own) and sent as a ``data:image/...;base64,`` URI. Every
refusal is a ``ValidationError`` with a sentence, before anything is recorded or sent.

The ledger keeps a local image as a file named by its SHA-256 in the home's ``images`` folder
(:func:`keep`), written before the POST, and its source, SHA-256, width and height in the job's
row; :func:`recorded` makes the image of a ledger row again, so a re-run sends the same bytes.

Pillow and PyAV are imported when first needed, so importing ``pixverse_ui`` stays quick.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from .errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image as PILImage

#: The largest image sent, in bytes (as a file; its data: URI is a third longer).
MAX_BYTES = 10 * 1024 * 1024
#: The longest side sent, in pixels.
MAX_SIDE = 4096
#: The longest URL sent as given.
MAX_URL_CHARS = 2048
#: Pillow's format names taken, and the MIME type each is sent as.
MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
#: The folder of the ledger's home that keeps the local images jobs started from.
IMAGES_DIR = "images"

#: Where an image came from (the ledger's ``image_source``).
URL = "url"  # an http(s) URL, sent as given
FILE = "file"  # a local file
PIL = "pil"  # a PIL.Image handed to the library
FRAME = "frame"  # a frame of a video
DATA = "data"  # a data: URI handed in as text
SOURCES = (URL, FILE, PIL, FRAME, DATA)

FIRST, LAST = "first", "last"
#: ``scheme://`` (or ``data:``) starts a URI; anything else is a path (``C:\fox.png`` too).
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://|^(data):", re.IGNORECASE)
_DATA_URI = re.compile(r"^data:(image/[A-Za-z0-9.+-]+);base64,", re.IGNORECASE)
_FIELD = "image"
_KINDS = "a PNG, JPEG or WebP file, an http(s) URL, a PIL image or a frame of a video"


@dataclass(frozen=True)
class InputImage:
    """A checked image a video starts from: what is sent, and what the ledger keeps of it.

    For a URL only ``url`` is known (nothing is fetched). For the others the bytes are ``data``
    (in memory) or at ``path`` (the ledger's copy), with their SHA-256, size and MIME type.
    """

    source: str
    url: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    mime: str | None = None
    #: What was given, for sentences: a file's path, ``last frame of fox.mp4``, the URL.
    origin: str = ""
    data: bytes | None = field(default=None, repr=False, compare=False)
    path: str | None = None

    @property
    def is_url(self) -> bool:
        """Sent as a URL, as given."""
        return self.source == URL

    def content(self) -> bytes:
        """The image's bytes (``ValidationError`` when the kept copy is gone or changed)."""
        if self.data is not None:
            return self.data
        if self.path is None:
            raise ValidationError("This image has no bytes: it is a URL.", field=_FIELD)
        try:
            data = Path(self.path).read_bytes()
        except OSError:
            raise ValidationError(
                f"The image this generation started from is no longer at {self.path}.",
                field=_FIELD,
            ) from None
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise ValidationError(
                f"The image at {self.path} has changed since the generation was made from it.",
                field=_FIELD,
            )
        return data

    def image_url(self) -> str:
        """What is sent as ``image_url``: the URL as given, or the bytes as a data: URI."""
        if self.url is not None:
            return self.url
        return f"data:{self.mime};base64,{base64.b64encode(self.content()).decode('ascii')}"

    def describe(self) -> str:
        """``image 640×360`` (``image URL`` for a URL): how settings lines name it."""
        if self.width and self.height:
            return f"image {self.width}×{self.height}"
        return "image URL"

    def columns(self) -> dict[str, Any]:
        """What the ledger keeps of it, by column (``Ledger.record(image=...)``)."""
        return {
            "image_source": self.source,
            "image_url": self.url,
            "image_path": self.path,
            "image_sha256": self.sha256,
            "image_width": self.width,
            "image_height": self.height,
        }


class KeptImage(Protocol):
    """What a ledger row keeps of its image (``store.JobRecord``'s ``image_*`` columns)."""

    image_source: str | None
    image_url: str | None
    image_path: str | None
    image_sha256: str | None
    image_width: int | None
    image_height: int | None


@dataclass(frozen=True)
class Frame:
    """The first or last frame of a video: ``video`` is its path, or anything with a
    ``video_path`` (a ``Generation``, a ``HistoryItem``)."""

    video: Any
    which: str = FIRST


def prepare(value: Any) -> InputImage:
    """``value`` checked and made ready to send; ``ValidationError`` with a sentence if not.

    ``value``: an ``http(s)`` URL or a ``data:image/...;base64,`` URI (text), a path (text or
    ``os.PathLike``), a ``PIL.Image.Image``, a :class:`Frame` or a tuple ``(video, "first")``
    (or ``"last"``), or an ``InputImage`` already prepared (taken as it is).
    """
    if isinstance(value, InputImage):
        return value
    if isinstance(value, Frame):
        return _from_frame(value)
    if isinstance(value, tuple) and len(value) == 2:
        return _from_frame(Frame(*value))
    if isinstance(value, os.PathLike):
        return _from_file(Path(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValidationError(f"The image is empty: give {_KINDS}.", field=_FIELD)
        scheme = _SCHEME.match(text)
        if scheme:
            return _from_uri(text, (scheme.group(1) or scheme.group(2)).lower())
        return _from_file(Path(text).expanduser())
    if _is_pil(value):
        return _from_pil(value, PIL, "a PIL image")
    raise ValidationError(
        f"The image must be {_KINDS}; got a {type(value).__name__}.", field=_FIELD
    )


def keep(image: InputImage, home: str | os.PathLike[str]) -> InputImage:
    """Write a local image's bytes into ``home``'s ``images`` folder (once per SHA-256), before
    the job's row, so the ledger can send them again; the image read from that copy from now on
    (checked against its SHA-256 when it is sent), so a job holds no image in memory. A URL is
    kept as its text alone."""
    if image.is_url:
        return image
    folder = Path(home) / IMAGES_DIR
    dest = folder / f"{image.sha256}{SUFFIXES[image.mime or 'image/png']}"
    if image.path is not None and Path(image.path) == dest and dest.is_file():
        return replace(image, data=None)
    if not dest.is_file():
        data = image.content()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{image.sha256}.", suffix=".part")
        except OSError as exc:
            raise _not_kept(folder, exc) from None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, dest)
        except OSError as exc:
            raise _not_kept(folder, exc) from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return replace(image, path=str(dest), data=None)


def _not_kept(folder: Path, exc: OSError) -> ValidationError:
    return ValidationError(
        f"The image could not be kept with the job in {folder} ({exc.strerror or exc}).",
        field=_FIELD,
    )


def recorded(record: KeptImage) -> InputImage | None:
    """The image a ledger row's job started from (None for text-to-video): its URL, or its copy
    in the home, read when it is sent."""
    source = record.image_source
    if not source:
        return None
    if source == URL:
        return InputImage(URL, url=record.image_url, origin=record.image_url or "")
    path = record.image_path or ""
    mime = next((m for m, s in SUFFIXES.items() if path.endswith(s)), "image/png")
    return InputImage(
        source,
        sha256=record.image_sha256,
        width=record.image_width,
        height=record.image_height,
        mime=mime,
        origin=path,
        path=path,
    )


def read_frame(video: str | os.PathLike[str], which: str = FIRST) -> PILImage:
    """The first or the last decoded frame of ``video`` (RGB), read with PyAV.

    The last is found by seeking to the last keyframe and decoding to the end (what a full decode
    would end on, without decoding the whole video); should the seek find nothing, by decoding
    the whole video.
    """
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        if which == FIRST:
            for frame in container.decode(stream):
                return frame.to_image()
            raise ValueError("the video has no frames")
        last = None
        if stream.duration:
            container.seek(stream.duration, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                last = frame
        if last is None:
            container.seek(0)
            for frame in container.decode(stream):
                last = frame
        if last is None:
            raise ValueError("the video has no frames")
        return last.to_image()


# --- the sources --------------------------------------------------------------------------------


def _from_uri(text: str, scheme: str) -> InputImage:
    if scheme == "data":
        return _from_data_uri(text)
    if scheme not in ("http", "https"):
        raise ValidationError(
            f"An image URL must start with http:// or https://, not {scheme}://: give a public "
            "URL, or a local file as its path.",
            field=_FIELD,
        )
    if len(text) > MAX_URL_CHARS:
        raise ValidationError(
            f"The image URL is {len(text):,} characters long; the limit is {MAX_URL_CHARS:,}.",
            field=_FIELD,
        )
    try:
        host = urlsplit(text).hostname
    except ValueError:
        host = None
    if not host or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in text):
        raise ValidationError(
            "The image URL is not a URL: it needs a host, and no spaces.", field=_FIELD
        )
    return InputImage(URL, url=text, origin=text)


def _from_data_uri(text: str) -> InputImage:
    found = _DATA_URI.match(text)
    if found is None:
        raise ValidationError(
            "A data: URI for an image must read data:image/png;base64,… (or image/jpeg, "
            "image/webp).",
            field=_FIELD,
        )
    payload = text[found.end() :]
    if len(payload) * 3 // 4 > MAX_BYTES + 2:
        raise ValidationError(
            _too_big("The image in the data: URI", len(payload) * 3 // 4), field=_FIELD
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("The data: URI's base64 cannot be read.", field=_FIELD) from None
    return _from_bytes(data, DATA, "a data: URI")


def _from_file(path: Path) -> InputImage:
    shown = str(path)
    try:
        stat = path.stat()
    except OSError:
        raise ValidationError(f"There is no image file at {shown}.", field=_FIELD) from None
    if not path.is_file():
        raise ValidationError(f"{shown} is not a file: give an image file.", field=_FIELD)
    if stat.st_size > MAX_BYTES:
        raise ValidationError(_too_big(shown, stat.st_size), field=_FIELD)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"The image file {shown} cannot be read ({exc.strerror or exc}).", field=_FIELD
        ) from None
    return _from_bytes(data, FILE, shown)


def _from_bytes(data: bytes, source: str, origin: str) -> InputImage:
    """Bytes checked with Pillow: a whole PNG, JPEG or WebP within our bounds."""
    mime, width, height = inspect(data, origin, decode=True)
    digest = hashlib.sha256(data).hexdigest()
    return InputImage(source, sha256=digest, width=width, height=height, mime=mime,
                      origin=origin, data=data)  # fmt: skip


def inspect(data: bytes, origin: str, *, decode: bool = False) -> tuple[str, int, int]:
    """The MIME type, width and height of ``data`` if it is a PNG, JPEG or WebP within our
    bounds, read from its header (``decode``: the whole image decodes too); else
    ``ValidationError``. An image of more pixels than Pillow opens (a decompression bomb) is
    refused as too large, from its header."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_BYTES:
        raise ValidationError(_too_big(origin, len(data)), field=_FIELD)
    not_an_image = ValidationError(
        f"{origin} is not an image Pillow can read: give a PNG, JPEG or WebP file.", field=_FIELD
    )
    try:
        with Image.open(io.BytesIO(data)) as picture:
            kind, (width, height) = picture.format, picture.size
            mime = MIME_TYPES.get(kind or "")
            if mime is None:
                raise ValidationError(
                    f"{origin} is a {kind} image; send a PNG, JPEG or WebP.", field=_FIELD
                )
            _check_size(origin, width, height)
            if decode:
                picture.load()  # the whole image decodes, not only its header
    except ValidationError:
        raise
    except Image.DecompressionBombError:
        raise ValidationError(
            f"{origin} has more pixels than Pillow will open; at most {MAX_SIDE:,} a side is "
            "sent. Make it smaller.",
            field=_FIELD,
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise not_an_image from None
    return mime, width, height


def _from_pil(picture: PILImage, source: str, origin: str) -> InputImage:
    """A PIL image, encoded as a PNG (lossless), within our bounds."""
    width, height = picture.size
    _check_size(origin, width, height)
    if picture.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
        picture = picture.convert("RGBA" if "A" in picture.getbands() else "RGB")
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return _from_bytes(out.getvalue(), source, origin)


def _from_frame(frame: Frame) -> InputImage:
    if frame.which not in (FIRST, LAST):
        raise ValidationError(
            f"A frame of a video is its 'first' or its 'last'; got {frame.which!r:.20}.",
            field=_FIELD,
        )
    video = getattr(frame.video, "video_path", frame.video)
    if video is None:
        raise ValidationError("That generation has no video yet to take a frame of.", field=_FIELD)
    path = Path(video)
    if not path.is_file():
        raise ValidationError(f"There is no video at {path} to take a frame of.", field=_FIELD)
    import av

    try:
        picture = read_frame(path, frame.which)
    except (av.FFmpegError, ValueError, IndexError):
        raise ValidationError(
            f"{path} is not a video PyAV can read a frame of.", field=_FIELD
        ) from None
    return _from_pil(picture, FRAME, f"the {frame.which} frame of {path.name}")


def _check_size(origin: str, width: int, height: int) -> None:
    if width < 1 or height < 1 or max(width, height) > MAX_SIDE:
        raise ValidationError(
            f"{origin} is {width}×{height} pixels; at most {MAX_SIDE:,} a side is sent. "
            "Make it smaller.",
            field=_FIELD,
        )


def _too_big(origin: str, size: int) -> str:
    return (
        f"{origin} is {size / 1024 / 1024:.1f} MB; at most {MAX_BYTES // 1024 // 1024} MB is sent. "
        "Make it smaller, or give it as a public https URL."
    )


def _is_pil(value: Any) -> bool:
    """Whether ``value`` is a PIL image, without importing Pillow for anything else."""
    module = type(value).__module__ or ""
    if not module.startswith("PIL."):
        return False
    from PIL import Image

    return isinstance(value, Image.Image)
