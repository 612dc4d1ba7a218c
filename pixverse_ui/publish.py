"""Hand a file to one page without exposing where it lives, and keep Gradio's cache bounded.

Gradio serves ``/gradio_api/file=<path>`` for files under ``allowed_paths`` and its own cache, to
anyone who names the path. The ledger's home (the ledger, its WAL, every visitor's videos) is
therefore never an allowed path: the app blocks it. A handler that shows a video puts a copy (a
hard link where the file system allows) in a fresh folder of Gradio's cache whose name is 128
random bits, and returns that path; only the session the handler answered learns it.

What is published is made once per version of what it shows (:meth:`Publisher.derived`): the
same video, the same export of a generation, the same request file is handed out again from the
folder made the first time, however often and by whom it is asked for. A folder nobody was handed
for ``max_age`` seconds is removed, in a sweep that runs at most every ``sweep_every`` seconds
when something is published (Gradio's own ``delete_cache`` only deletes files that went through
a component's output, and never their folders), and the memo forgets what was removed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from .clock import REAL_CLOCK, Clock

#: Published copies remembered, so that a history refresh does not copy every video again.
MEMO_SIZE = 2048
#: Our folders in Gradio's cache are named so, and the sweep touches nothing else.
PREFIX = "pxui-"
#: A published folder nobody was handed for this long is removed (a page open longer than this
#: shows it again after a refresh).
MAX_AGE = 24 * 3600.0
#: How often, at most, the cache is swept for old folders.
SWEEP_EVERY = 600.0


def gradio_cache_dir() -> Path:
    """Gradio's upload and cache folder (``GRADIO_TEMP_DIR``, else ``<tmp>/gradio``)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def version(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    """A file's identity for the memo: where it is, its size and when it last changed."""
    stat = os.stat(path)
    return (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


class Publisher:
    """Puts files in unguessable folders of Gradio's cache, once per version, and removes the
    folders nobody was handed for ``max_age`` seconds (``clock.now()`` tells the time)."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        memo_size: int = MEMO_SIZE,
        clock: Clock = REAL_CLOCK,
        max_age: float = MAX_AGE,
        sweep_every: float = SWEEP_EVERY,
    ) -> None:
        self.cache_dir = cache_dir or gradio_cache_dir()
        self.memo_size = memo_size
        self.clock = clock
        self.max_age = max_age
        self.sweep_every = sweep_every
        self._memo: OrderedDict[Hashable, Path] = OrderedDict()
        self._making: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self._swept_at: float | None = None

    def file(self, path: str | os.PathLike[str]) -> str:
        """A path for ``path``'s content that Gradio may serve and nobody can derive."""
        source = Path(path)

        def link(folder: Path) -> Path:
            target = folder / source.name
            try:
                os.link(source, target)
            except OSError:  # another file system, or links not allowed
                shutil.copyfile(source, target)
            return target

        return self.derived(("file", *version(source)), link)

    def json(self, name: str, value: Any) -> str:
        """``value`` as an indented JSON file named ``name``, once per content."""
        text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
        plain = _plain(name)

        def write(folder: Path) -> Path:
            target = folder / plain
            target.write_text(text, "utf-8")
            return target

        return self.derived(("json", plain, text), write)

    def derived(self, key: Hashable, make: Callable[[Path], Path]) -> str:
        """The published path of what ``make(folder)`` writes into a new folder, made once per
        ``key`` (which names everything the file depends on) and handed out again after.

        A ``make`` that raises leaves no folder behind. Two calls with one key at once make it
        once; the second waits for the first.
        """
        self.sweep_if_due()
        known = self._known(key)
        if known is not None:
            return known
        with self._lock:
            gate = self._making.setdefault(key, threading.Lock())
        try:
            with gate:
                known = self._known(key)
                if known is not None:
                    return known
                folder = self.folder()
                try:
                    target = Path(make(folder))
                except BaseException:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise
                self._touch(folder)
                with self._lock:
                    self._memo[key] = target
                    while len(self._memo) > self.memo_size:
                        self._memo.popitem(last=False)
        finally:
            with self._lock:
                if self._making.get(key) is gate:
                    del self._making[key]
        return str(target)

    def folder(self) -> Path:
        """A new empty folder whose files Gradio may serve, named so nobody can guess it: where
        a file made for one answer is written. Prefer :meth:`derived`, which makes it once."""
        folder = self.cache_dir / f"{PREFIX}{secrets.token_hex(16)}"
        folder.mkdir(parents=True, mode=0o700)
        return folder

    def sweep_if_due(self) -> int:
        """Remove our folders nobody was handed for ``max_age`` seconds, if the last sweep was
        ``sweep_every`` seconds ago or more (or never); how many were removed."""
        now = self.clock.now()
        with self._lock:
            if self._swept_at is not None and now - self._swept_at < self.sweep_every:
                return 0
            self._swept_at = now
        return self.sweep(now)

    def sweep(self, now: float | None = None) -> int:
        """Remove our folders last handed out more than ``max_age`` seconds before ``now``, and
        forget what was in them; how many were removed."""
        cutoff = (self.clock.now() if now is None else now) - self.max_age
        removed: set[Path] = set()
        try:
            entries = list(os.scandir(self.cache_dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if not entry.name.startswith(PREFIX):
                continue
            try:
                if not entry.is_dir(follow_symlinks=False) or entry.stat().st_mtime >= cutoff:
                    continue
            except OSError:
                continue  # removed meanwhile
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.add(Path(entry.path))
        if removed:
            with self._lock:
                for key in [k for k, path in self._memo.items() if path.parent in removed]:
                    del self._memo[key]
        return len(removed)

    def _known(self, key: Hashable) -> str | None:
        """The path already published for ``key``, marked as handed out now, if it is there."""
        with self._lock:
            known = self._memo.get(key)
        if known is None:
            return None
        if not self._touch(known.parent) or not known.exists():  # swept, or removed by hand
            with self._lock:
                if self._memo.get(key) == known:
                    del self._memo[key]
            return None
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
        return str(known)

    def _touch(self, folder: Path) -> bool:
        """Mark ``folder`` as handed out now (False: it is gone). The sweep ages folders by their
        own modification time, never their files', which may be hard links to ledger videos."""
        now = self.clock.now()
        try:
            os.utime(folder, (now, now))
        except OSError:
            return False
        return True


def _plain(name: str) -> str:
    """``name`` if it is a plain file name (no folder, not ``.`` or ``..``), else ValueError."""
    if not name or name in (".", "..") or Path(name).name != name or "\\" in name:
        raise ValueError(f"not a plain file name: {name!r}")
    return name
