"""The request guard alone, in front of a stand-in app that reads whole bodies.

Bodies are sent through httpx's ASGI transport: declared, or as a stream of chunks with no
length, as a chunked upload arrives. The running app is tried in ``test_hostile.py`` (100 MB
bodies, its memory) and ``test_disk_bounds.py`` (uploads, deep links, links in inputs).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pixverse_ui.ui import guard
from pixverse_ui.ui.guard import GENERAL_CAP, MB, NO_DEEP_LINKS, NO_UPLOADS, RequestGuard


class Reader:
    """An ASGI app that reads the whole body, and answers how much it read; what it saw."""

    def __init__(self) -> None:
        self.read: list[int] = []
        self.left = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.left += 1
                await send({"type": "http.response.start", "status": 400, "headers": []})
                await send({"type": "http.response.body", "body": b"the caller left"})
                return
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.read.append(size)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})


async def _chunks(size: int, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        yield b"x" * min(piece, size - sent)
        sent += piece


def post(app: Reader, path: str, size: int, *, chunked: bool) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=RequestGuard(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://guarded") as client:
            body: Any = _chunks(size) if chunked else b"x" * size
            return await client.post(path, content=body)

    return asyncio.run(asyncio.wait_for(go(), timeout=60))


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_a_body_over_the_cap_is_refused_and_the_app_reads_no_more(chunked):
    app = Reader()
    answer = post(app, "/gradio_api/queue/join", GENERAL_CAP + 1, chunked=chunked)
    assert (answer.status_code, answer.text) == (413, guard.too_large(GENERAL_CAP))
    assert answer.headers["connection"] == "close"
    # declared: refused before the app is called; chunked: the app is told the caller left
    assert app.read == [] and app.left == (1 if chunked else 0)
    assert post(app, "/gradio_api/queue/join", GENERAL_CAP, chunked=chunked).text == str(
        GENERAL_CAP
    )


def test_one_route_can_take_more_in_one_line(monkeypatch):
    """As image-to-video will: uploads of up to 10 MB, every other route still at the cap."""
    monkeypatch.delitem(guard.REFUSED, "/gradio_api/upload")
    monkeypatch.setitem(guard.BODY_CAPS, "/gradio_api/upload", 10 * MB)
    app = Reader()
    for chunked in (False, True):
        assert post(app, "/gradio_api/upload", 10 * MB, chunked=chunked).text == str(10 * MB)
        refused = post(app, "/gradio_api/upload/", 10 * MB + 1, chunked=chunked)
        assert (refused.status_code, refused.text) == (413, guard.too_large(10 * MB))
        assert "at most 10 MB" in refused.text
        other = post(app, "/gradio_api/run/predict", 2 * MB, chunked=chunked)
        assert (other.status_code, other.text) == (413, guard.too_large(GENERAL_CAP))


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("/gradio_api/upload", (403, NO_UPLOADS)),
        ("/gradio_api/upload/", (403, NO_UPLOADS)),
        ("/gradio_api/process_recording", (403, NO_UPLOADS)),
        ("/gradio_api/deep_link", (404, NO_DEEP_LINKS)),
    ],
)
def test_refused_routes_are_answered_without_reading_the_body(path, answer):
    app = Reader()
    refused = post(app, path, 10, chunked=True)
    assert (refused.status_code, refused.text) == answer
    assert refused.headers["content-type"] == "text/plain; charset=utf-8"
    assert app.read == [] and app.left == 0


def test_the_file_route_serves_files_and_fetches_no_link_a_stranger_names():
    """Gradio's file route would fetch any public address named there and stream it back: the
    server never fetches a URL a stranger typed. The app's own files pass (to Gradio's checks)."""
    for named in ("https://example.com/x.mp4", "http://198.51.100.1/", "HTTPS://a.b/c", "http:/x"):
        assert guard.refusal(f"/gradio_api/file={named}") == (403, guard.NO_LINKS), named
    assert guard.refusal("/gradio_api/file=/tmp/gradio/pxui-abc/video.mp4") is None
    assert guard.refusal("/gradio_api/file=pxui-abc/https-named.mp4") is None

    async def get(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=RequestGuard(Reader()))
        async with httpx.AsyncClient(transport=transport, base_url="http://guarded") as client:
            return await client.get(path)

    answer = asyncio.run(get("/gradio_api/file=https://example.com/secret"))
    assert (answer.status_code, answer.text) == (403, guard.NO_LINKS)
