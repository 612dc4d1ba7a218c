"""What Gradio's upload route takes from a stranger: one image, checked before a byte is stored.

Gradio writes an upload into ``GRADIO_TEMP_DIR`` as it parses the body, whatever it is. So the
guard (:mod:`.guard`) reads an upload's body into memory first (at most ``UPLOAD_CAP`` bytes,
at most ``MAX_AT_ONCE`` uploads at a time), and hands Gradio a body only when it holds exactly
one file that is a PNG, JPEG or WebP by its content (its first bytes, then Pillow's reading of
its header; the name and the declared type count for nothing), of at most ``images.MAX_BYTES``
and ``images.MAX_SIDE`` pixels a side: a 20,000 × 20,000 PNG of a few kilobytes is refused from
its header, before anything decodes it. What Gradio gets is a body rebuilt from what was
checked (the file's bytes under a plain name), so Gradio's parser cannot read it otherwise than
this module did. Anything else is answered with a status and a sentence, and nothing is written.

Uploads are counted as starts are, by two names, and one must fit under both (``UploadRate``: at
most ``PER_WINDOW`` in ``WINDOW`` seconds each): the caller's address (as
``common.client_address`` finds it behind the app's proxies), and the visitor, when the upload
carries the page's visitor cookie (``VISITOR_COOKIE``: the browser's signed visitor token, which
the page writes when the server hands it over; a token the app did not sign names no one).
Gradio's upload request carries no field of ours, but a browser sends the page's cookies with it,
so the cookie is how a page's upload says whose it is. An upload without it (``gradio_client``'s
``handle_file``) is counted by its address alone: a cookie can be left out, an address cannot.
What was uploaded is removed with Gradio's cache after ``publish.MAX_AGE``
(``page.build_demo`` gives Gradio's ``delete_cache``, which removes uploaded files too).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .. import images
from ..errors import ValidationError

#: Gradio's upload route, by how its path ends.
UPLOAD_ROUTE = "/gradio_api/upload"
#: The most body an upload may carry: one image of ``images.MAX_BYTES`` and its multipart framing.
UPLOAD_CAP = images.MAX_BYTES + 64 * 1024
#: Uploads whose bodies are held in memory at once (each at most ``UPLOAD_CAP``); more are asked
#: to try again.
MAX_AT_ONCE = 8
#: Uploads one address (and one visitor) may make in ``WINDOW`` seconds.
PER_WINDOW = 30
WINDOW = 600.0
#: The cookie the page keeps its visitor token in, which its uploads carry (``ui/visitor.py``).
VISITOR_COOKIE = "pxui_visitor"

NOT_AN_IMAGE = "This app takes images only: a PNG, JPEG or WebP file."
ONE_IMAGE = "Send one image at a time, as the field 'files' of a multipart form."
BUSY = "Too many images are being uploaded right now; try again in a moment."
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
_BOUNDARY = re.compile(rb"boundary=(?:\"([^\"]{1,70})\"|([^\s;\"]{1,70}))", re.IGNORECASE)
_DISPOSITION = re.compile(rb"^content-disposition:(.*)$", re.IGNORECASE | re.MULTILINE)
_NAME = re.compile(rb';\s*name="([^"]*)"', re.IGNORECASE)
_FILENAME = re.compile(rb';\s*filename="([^"]*)"', re.IGNORECASE)


class Refused(Exception):
    """An upload refused: the status and the sentence the caller gets."""

    def __init__(self, status: int, words: str) -> None:
        super().__init__(words)
        self.status, self.words = status, words


def too_fast(count: int, window: float, who: str = "This address") -> str:
    """The sentence an upload over the rate gets (``who``: "This address", "This browser")."""
    return (
        f"{who} has uploaded {count} images in the last {window / 60:g} minutes, the "
        "most this app takes; try again later."
    )


class UploadRate:
    """Uploads counted by address, and by visitor when one is known, each in a sliding window
    (``clock()`` tells the time)."""

    def __init__(
        self,
        per_window: int = PER_WINDOW,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_window, self.window, self.clock = per_window, window, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, address: str, visitor: str | None = None) -> None:
        """Count one upload from ``address`` (and ``visitor``, a visitor's id, if known), or
        raise :class:`Refused` (429) when either is over the rate: then neither counts it."""
        now = self.clock()
        names = [(f"address:{address}", "This address")]
        if visitor is not None:
            names.append((f"visitor:{visitor}", "This browser"))
        with self._lock:
            for key in [k for k, d in self._seen.items() if not d or d[-1] <= now - self.window]:
                del self._seen[key]  # names idle for a whole window are forgotten
            counts = []
            for key, who in names:
                seen = self._seen.setdefault(key, deque())
                while seen and seen[0] <= now - self.window:
                    seen.popleft()
                if len(seen) >= self.per_window:
                    raise Refused(429, too_fast(self.per_window, self.window, who))
                counts.append(seen)
            for seen in counts:
                seen.append(now)


_held = 0
_held_lock = threading.Lock()


@contextmanager
def reading() -> Iterator[None]:
    """Hold one of ``MAX_AT_ONCE`` places for an upload's body in memory; :class:`Refused` (503)
    when all are taken."""
    global _held
    with _held_lock:
        if _held >= MAX_AT_ONCE:
            raise Refused(503, BUSY)
        _held += 1
    try:
        yield
    finally:
        with _held_lock:
            _held -= 1


def checked_body(content_type: bytes, body: bytes) -> tuple[bytes, bytes]:
    """The upload's body rebuilt around its one checked image, and its content type; or
    :class:`Refused` with a sentence."""
    found = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith(b"multipart/form-data") or found is None:
        raise Refused(400, ONE_IMAGE)
    boundary = found.group(1) or found.group(2)
    parts = body.split(b"--" + boundary)
    files: list[bytes] = []
    for part in parts[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep or not data.endswith(b"\r\n"):
            raise Refused(400, ONE_IMAGE)
        disposition = _DISPOSITION.search(head)
        if disposition is None:
            raise Refused(400, ONE_IMAGE)
        name = _NAME.search(disposition.group(1))
        if _FILENAME.search(disposition.group(1)) is None or name is None:
            raise Refused(400, ONE_IMAGE)  # the upload route takes files, nothing else
        if name.group(1) != b"files":
            raise Refused(400, ONE_IMAGE)
        files.append(data[:-2])
    if len(files) != 1:
        raise Refused(400, ONE_IMAGE)
    image = files[0]
    suffix = check_image(image)
    fresh = secrets.token_hex(16).encode()
    rebuilt = (
        b"--" + fresh + b"\r\n"
        b'Content-Disposition: form-data; name="files"; filename="image' + suffix + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + image + b"\r\n--" + fresh + b"--\r\n"
    )
    return rebuilt, b"multipart/form-data; boundary=" + fresh


def check_image(data: bytes) -> bytes:
    """The suffix ``data`` is stored under if it is an image this app takes (by its first bytes,
    then its header read by Pillow, without decoding it); else :class:`Refused` (415, 413)."""
    if not (data.startswith(_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")):
        raise Refused(415, NOT_AN_IMAGE)
    try:
        mime, _, _ = images.inspect(data, "The image")
    except ValidationError as exc:
        raise Refused(413 if len(data) > images.MAX_BYTES else 415, exc.user_message) from None
    return images.SUFFIXES[mime].encode()
