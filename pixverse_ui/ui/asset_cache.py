"""Gradio's page assets compressed once per process, not at every request.

Gradio compresses every JavaScript and CSS file of its frontend each time a browser asks for it
(Brotli at quality 4, or gzip), and routes and reads each file again: together about a third of
the CPU a page load costs the server (the compression alone about 8%; see RESULTS.md). These
files are the installed Gradio's own and never change while the process runs, so
:class:`CompressedAssets` (inside Gradio's compression middleware) compresses each one once and
answers later requests from the copy, marked with its encoding, which Gradio's middleware then
passes on as it is (``gradio_internals.check`` checks that it still does). Later requests are
answered from the copy without asking Gradio again (Gradio's routing and file reading cost twice
what the compression did): these routes serve the installed Gradio's files, which stay as they
are while the process runs (an upgrade restarts the app).
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass

import brotli
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The routes of Gradio's own frontend files (its build, and its static images and fonts).
ASSET_PREFIXES = ("/assets/", "/static/")
#: The types Gradio compresses (``gradio.brotli_middleware``'s list, of those it serves here).
COMPRESSIBLE = (".js", ".mjs", ".css", ".html", ".json", ".svg", ".txt", ".md")
#: Smaller answers are sent as they are (Gradio's own threshold).
MINIMUM_SIZE = 400
#: What the copies may weigh in all; past it, a file is compressed per request as before.
MAX_CACHED_BYTES = 64 * 1024 * 1024
#: Request headers that ask for part of a file or a conditional answer: left to Gradio.
_PASSED_ON = ("range", "if-range", "if-none-match", "if-modified-since")


def _brotli(body: bytes) -> bytes:
    return brotli.compress(body, quality=4, mode=brotli.MODE_TEXT, lgwin=22)


def _gzip(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=9, mtime=0)


#: Encodings in the order a browser's ``Accept-Encoding`` is served (Gradio's preference).
_ENCODERS = {"br": _brotli, "gzip": _gzip}


@dataclass(frozen=True)
class _Copy:
    start: Message  # the answer's status and headers, as sent
    body: bytes


class _Copies:
    """The compressed copies, by path and encoding, shared by every page of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._copies: dict[tuple[str, str], _Copy] = {}
        self._bytes = 0

    def get(self, key: tuple[str, str]) -> _Copy | None:
        return self._copies.get(key)

    def put(self, key: tuple[str, str], copy: _Copy) -> None:
        with self._lock:
            old = self._copies.get(key)
            size = len(copy.body) - (len(old.body) if old else 0)
            if self._bytes + size <= MAX_CACHED_BYTES:
                self._copies[key] = copy
                self._bytes += size


COPIES = _Copies()


def _encoding(scope: Scope) -> str | None:
    if scope["type"] != "http" or scope.get("method") != "GET":
        return None
    path = scope.get("path", "")
    if not path.startswith(ASSET_PREFIXES) or not path.lower().endswith(COMPRESSIBLE):
        return None
    headers = Headers(scope=scope)
    if any(name in headers for name in _PASSED_ON):
        return None
    accepted = headers.get("accept-encoding", "")
    return next((name for name in _ENCODERS if name in accepted), None)


class CompressedAssets:
    """ASGI middleware: Gradio's frontend files sent compressed from a copy made once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        encoding = _encoding(scope)
        if encoding is None:
            return await self.app(scope, receive, send)
        key = (scope.get("root_path", "") + scope["path"], encoding)
        copy = COPIES.get(key)
        if copy is not None:
            await send(copy.start)
            await send({"type": "http.response.body", "body": copy.body})
            return
        start: Message = {}
        parts: list[bytes] = []

        async def collect(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app(scope, receive, collect)
        headers = MutableHeaders(raw=list(start.get("headers", [])))
        body = b"".join(parts)
        if start.get("status") != 200 or "content-encoding" in headers or len(body) < MINIMUM_SIZE:
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        compressed = _ENCODERS[encoding](body)
        headers["Content-Encoding"] = encoding
        headers["Content-Length"] = str(len(compressed))
        headers.add_vary_header("Accept-Encoding")
        copy = _Copy({**start, "headers": headers.raw}, compressed)
        COPIES.put(key, copy)
        await send(copy.start)
        await send({"type": "http.response.body", "body": copy.body})
