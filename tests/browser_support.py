"""What the browser suite needs besides its tests: Chromium, where failures go, page helpers."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ENV = "PIXVERSE_UI_CHROMIUM"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

#: Every distinct text of the status panel, in order, recorded in the page itself (polling from
#: Python could miss a state that lasts a few hundred milliseconds).
STATUS_RECORDER = """
window.__statusLog = [];
new MutationObserver(() => {
  const panel = document.querySelector('#status-panel');
  if (!panel) return;
  const text = panel.innerText;
  const log = window.__statusLog;
  if (log[log.length - 1] !== text) log.push(text);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def missing(reason: str) -> None:
    """Under CI a missing browser fails the suite; elsewhere the suite is skipped, saying why."""
    if _in_ci():
        pytest.fail(f"CI=true and the browser suite cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str:
    """The Chromium binary: ``$PIXVERSE_UI_CHROMIUM``, Debian's /usr/bin/chromium, or PATH."""
    candidates = [os.environ.get(CHROMIUM_ENV, ""), "/usr/bin/chromium"]
    candidates += [shutil.which(name) or "" for name in ("chromium", "chromium-browser")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    missing(f"no Chromium at /usr/bin/chromium or on PATH (set {CHROMIUM_ENV})")
    raise AssertionError("unreachable")


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by playwright (never ``playwright install``)."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:  # pragma: no cover - playwright is in requirements-dev.txt
        missing("the playwright package is not installed (pip install -r requirements-dev.txt)")
        raise
    path = chromium_path()
    expect.set_options(timeout=15_000)  # the machine may be shared: bounded, but not tight
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


def artifact_path(item: pytest.Item, suffix: str) -> Path:
    """``test-artifacts/<test id>.<suffix>`` (the folder is git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / (re.sub(r"[^\w.-]+", "_", item.nodeid).strip("_") + suffix)


def foreign(urls: list[str]) -> list[str]:
    """The URLs that go to a host other than this machine (data: and blob: are local)."""
    out = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            continue
        if parts.hostname not in LOCAL_HOSTS:
            out.append(url)
    return out


def status_words(texts: list[str]) -> list[str]:
    """The bold status words the panel went through (``queued``, ``generating``…), in order."""
    words: list[str] = []
    for text in texts:
        match = re.search(r"\b(queued|generating|completed|error|failed)\b", text)
        if match and (not words or words[-1] != match.group(1)):
            words.append(match.group(1))
    return words


def elapsed_clocks(text: str) -> list[str]:
    """The elapsed column of the status panel's table (``0:03``)."""
    return re.findall(r"^(\d+:\d\d)\t", text, flags=re.MULTILINE)
