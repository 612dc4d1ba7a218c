"""Hand a file to one page without exposing where it lives.

Gradio serves ``/gradio_api/file=<path>`` for files under ``allowed_paths`` and its own cache, to
anyone who names the path. The ledger's home (the ledger, its WAL, every visitor's videos) is
therefore never an allowed path: the app blocks it. A handler that shows a video puts a copy (a
hard link where the file system allows) in a fresh folder of Gradio's cache whose name is 128
random bits, and returns that path; only the session the handler answered learns it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

#: Published copies remembered, so that a history refresh does not copy every video again.
MEMO_SIZE = 2048


def gradio_cache_dir() -> Path:
    """Gradio's upload and cache folder (``GRADIO_TEMP_DIR``, else ``<tmp>/gradio``)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


class Publisher:
    """Copies files into unguessable folders of Gradio's cache, once per version of a file."""

    def __init__(self, cache_dir: Path | None = None, *, memo_size: int = MEMO_SIZE) -> None:
        self.cache_dir = cache_dir or gradio_cache_dir()
        self.memo_size = memo_size
        self._memo: OrderedDict[tuple[str, int, int], Path] = OrderedDict()
        self._lock = threading.Lock()

    def file(self, path: str | os.PathLike[str]) -> str:
        """A path for ``path``'s content that Gradio may serve and nobody can derive."""
        source = Path(path)
        stat = source.stat()
        key = (os.path.abspath(source), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._memo.get(key)
            if known is not None and known.exists():
                self._memo.move_to_end(key)
                return str(known)
        target = self.folder() / source.name
        try:
            os.link(source, target)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(source, target)
        with self._lock:
            self._memo[key] = target
            while len(self._memo) > self.memo_size:
                self._memo.popitem(last=False)
        return str(target)

    def json(self, name: str, value: Any) -> str:
        """``value`` as an indented JSON file named ``name``, for one download."""
        target = self.folder() / name
        target.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", "utf-8")
        return str(target)

    def folder(self) -> Path:
        """A new empty folder whose files Gradio may serve, named so nobody can guess it: where
        a file made for one answer (an export, a contact sheet) is written."""
        folder = self.cache_dir / f"pxui-{secrets.token_hex(16)}"
        folder.mkdir(parents=True, mode=0o700)
        return folder
