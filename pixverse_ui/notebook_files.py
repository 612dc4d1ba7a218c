"""A video's address in a notebook: a path relative to the kernel's working folder.

Jupyter serves the files under the folder it was started in, by relative URL, and refuses
``file://`` links and hidden folders; the ledger's videos live in ``~/.pixverse-ui`` (hidden, and
usually outside). A video that Jupyter would not serve where it is gets a hard link (a copy on
another file system) in ``pixverse-videos/`` of the working folder, and that path is its address:
the notebook holds a reference of a few bytes, never the MP4 itself.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Where videos from outside the notebook's folder are linked, in the notebook's folder.
LINKED = "pixverse-videos"


def video_href(video: Path, folder: Path | None = None) -> str:
    """A relative URL to ``video`` that Jupyter's file server serves from ``folder`` (default:
    the working folder, which is the notebook's own in a kernel)."""
    here = (folder or Path.cwd()).resolve()
    source = video.resolve()
    try:
        inside = source.relative_to(here)
    except ValueError:
        inside = None
    if inside is not None and not any(part.startswith(".") for part in inside.parts):
        return inside.as_posix()
    target = here / LINKED / source.name
    if not _same(source, target):
        target.parent.mkdir(exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(source, target)
    return f"{LINKED}/{source.name}"


def _same(source: Path, target: Path) -> bool:
    """``target`` already holds what ``source`` does (its link, or a copy of its size)."""
    try:
        return target.samefile(source) or target.stat().st_size == source.stat().st_size
    except OSError:
        return False
