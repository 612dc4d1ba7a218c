"""Save a finished video to disk: inside the deadline, checked to be a video, all or nothing.

A transfer is read in whatever pieces arrive (``read1``), and before each read the socket may
wait no longer than the time left, so a link that declares its length and then sends a byte
every few seconds is cut at the deadline, not after it. What arrived counts only when it is a
video: not empty, exactly the length the server declared (counted on the wire, so a body the
server compressed anyway is measured as sent), and an MP4/QuickTime file (``ftyp`` at byte 4) or
a ``video/*`` content type. Anything else is refused with a sentence that says what the link
returned, and the temporary ``.part-*`` file goes with the attempt.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3.exceptions

from . import errors

#: Read at most this much at a time (a read returns as soon as anything has arrived).
CHUNK = 1024 * 1024
#: An MP4 or QuickTime file names its brand in a box that starts at byte 4.
SIGNATURE = b"ftyp"
#: ``.part-*`` files older than this are left over from a killed process, and removed.
STALE_PART_SECONDS = 3600.0
PART_PREFIX = ".part-"
#: A folder is swept for stale ``.part-*`` files at most this often: a sweep lists the whole
#: folder, every video in it, which was a tenth of a download's CPU with a thousand videos.
SWEEP_EVERY = 600.0

_swept: dict[Path, float] = {}
_swept_lock = threading.Lock()


@dataclass(frozen=True)
class Saved:
    """A verified video on disk."""

    path: Path
    size: int
    #: Bytes as they came over the wire (differs from ``size`` when the server compressed them).
    wire_bytes: int
    content_type: str


def is_video(head: bytes, content_type: str) -> bool:
    """Whether a body that starts with ``head`` is a video: an ``ftyp`` box, or ``video/*``."""
    return head[4:8] == SIGNATURE or content_type.split(";")[0].strip().lower().startswith("video/")


def what_it_is(head: bytes, size: int, content_type: str) -> str:
    """A few words for a body that is not a video, for the sentence a person reads."""
    kind = content_type.split(";")[0].strip() or "no content type"
    if size == 0:
        return f"an empty answer ({kind})"
    if "html" in kind or head.lstrip()[:1] == b"<":
        return f"a web page, not a video ({kind}, {size:,} bytes)"
    return f"something that is not a video ({kind}, {size:,} bytes)"


def save(
    response: requests.Response,
    dest: Path,
    *,
    max_bytes: int,
    seconds_left: Callable[[], float | None],
    read_timeout: float,
) -> Saved:
    """Stream ``response``'s body to ``dest`` through a ``.part-*`` file and an atomic rename.

    ``seconds_left()`` is the time to the deadline (None: no deadline). Raises
    ``DownloadError`` (``retryable`` when a new attempt may do better) and leaves nothing behind.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if _sweep_due(dest.parent):
        remove_stale_parts(dest.parent)
    declared = _declared_length(response)
    if declared is not None and declared > max_bytes:
        response.close()
        raise too_big(declared, max_bytes)
    content_type = response.headers.get("Content-Type", "")
    fd, tmp_name = tempfile.mkstemp(prefix=PART_PREFIX, suffix=dest.suffix, dir=dest.parent)
    tmp = Path(tmp_name)
    raw = response.raw
    try:
        with response, os.fdopen(fd, "wb") as out:
            head, size = b"", 0
            while True:
                left = seconds_left()
                if left is not None and left <= 0:
                    raise _at_deadline(raw.tell(), declared)
                _wait_at_most(response, read_timeout if left is None else min(read_timeout, left))
                chunk = raw.read1(CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise too_big(size, max_bytes)
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                out.write(chunk)
            wire = raw.tell()
        if declared is not None and wire != declared:
            raise errors.DownloadError(
                f"The video download stopped after {wire:,} of {declared:,} bytes.",
                retryable=True,
            )
        if size == 0 or not is_video(head, content_type):
            raise errors.DownloadError(
                f"The video's link returned {what_it_is(head, size, content_type)}.",
                retryable=True,
            )
        os.replace(tmp, dest)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        left = seconds_left()
        if left is not None and left <= _SLACK:  # the socket's wait was cut to the deadline
            raise _at_deadline(raw.tell(), declared) from None
        if isinstance(exc, OSError) and not isinstance(exc, (TimeoutError, ConnectionError)):
            raise errors.DownloadError(
                f"Could not save the video in {dest.parent} ({exc.strerror or exc}).",
                hint="Free some space or choose another folder; the job is kept in the ledger "
                "and `pixverse-ui resume` fetches it again.",
            ) from None
        raise errors.DownloadError(
            f"The video download was interrupted ({type(exc).__name__}).", retryable=True
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Saved(dest, size, wire, content_type)


#: A read that failed this close to the deadline was cut by it.
_SLACK = 0.05


def _at_deadline(received: int, declared: int | None) -> errors.DownloadError:
    of = "?" if declared is None else f"{declared:,}"
    return errors.DownloadError(
        f"The video download was still going at the deadline ({received:,} of {of} bytes).",
        retryable=True,
    )


def too_big(size: int, max_bytes: int) -> errors.DownloadError:
    return errors.DownloadError(
        f"The video is {size / 1e6:.0f} MB or more, over the {max_bytes / 1e6:.0f} MB limit; "
        "it was not saved.",
        hint="Raise max_download_bytes if this is expected.",
    )


def remove_stale_parts(folder: Path, *, older_than: float = STALE_PART_SECONDS) -> int:
    """Remove ``.part-*`` files a killed process left in ``folder``; returns how many."""
    cutoff = time.time() - older_than
    removed = 0
    for part in folder.glob(PART_PREFIX + "*"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
        except OSError:
            pass  # another process took it first
    return removed


def _sweep_due(folder: Path) -> bool:
    """Whether ``folder`` has not been swept in this process for ``SWEEP_EVERY`` seconds."""
    now = time.monotonic()
    with _swept_lock:
        if now - _swept.get(folder, -SWEEP_EVERY) < SWEEP_EVERY:
            return False
        _swept[folder] = now
        return True


def _declared_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None


def _wait_at_most(response: requests.Response, seconds: float) -> None:
    """Let the next read on the response's socket block for at most ``seconds``."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(0.01, seconds))
