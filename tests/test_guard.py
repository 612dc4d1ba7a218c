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
from support import bomb_png, png_bytes

from pixverse_ui.ui import guard
from pixverse_ui.ui.guard import GENERAL_CAP, MB, NO_DEEP_LINKS, NO_UPLOADS, RequestGuard
from pixverse_ui.ui.uploads import (
    NOT_AN_IMAGE,
    ONE_IMAGE,
    UPLOAD_CAP,
    VISITOR_COOKIE,
    UploadRate,
    too_fast,
)
from pixverse_ui.visitors import VisitorTokens


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


def multipart(*files: tuple[str, str, bytes], boundary: str = "b0undary") -> tuple[bytes, str]:
    """A multipart body of ``(field, filename, data)`` parts, and its content type."""
    body = b""
    for name, filename, data in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload(
    app: Any, body: bytes, content_type: str, headers: dict | None = None, **kwargs: Any
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=RequestGuard(app, **kwargs))
        async with httpx.AsyncClient(transport=transport, base_url="http://guarded") as client:
            return await client.post(
                "/gradio_api/upload",
                content=body,
                headers={"content-type": content_type, **(headers or {})},
            )

    return asyncio.run(asyncio.wait_for(go(), timeout=60))


class Keeper(Reader):
    """A Reader that keeps the bodies it read."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        self.bodies.append(message.get("body", b""))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"stored"})


def test_an_image_upload_reaches_gradio_rebuilt_around_the_checked_bytes():
    app = Keeper()
    image = png_bytes(320, 180)
    answer = upload(app, *multipart(("files", "../../etc/fox.png", image)))
    assert (answer.status_code, answer.text) == (200, "stored")
    (body,) = app.bodies
    assert image in body and b"../" not in body and b'filename="image.png"' in body


@pytest.mark.parametrize(
    ("files", "status", "words"),
    [
        ([("files", "notes.png", b"just some text, named .png")], 415, NOT_AN_IMAGE),
        ([("files", "fake.png", b"\x89PNG\r\n\x1a\n" + b"x" * 100)], 415, "not an image"),
        ([("files", "bomb.png", bomb_png())], 415, "more pixels than Pillow will open"),
        ([("files", "big.png", png_bytes(4097, 8))], 415, "4097×8 pixels"),
        ([("files", "a.png", png_bytes()), ("files", "b.png", png_bytes())], 400, ONE_IMAGE),
        ([("other", "a.png", png_bytes())], 400, ONE_IMAGE),
        ([], 400, ONE_IMAGE),
    ],
    ids=["text", "png-magic-only", "bomb", "too-wide", "two", "wrong-field", "none"],
)
def test_an_upload_that_is_not_one_image_is_refused_before_gradio_sees_it(files, status, words):
    app = Keeper()
    answer = upload(app, *multipart(*files))
    assert answer.status_code == status and words in answer.text, answer.text
    assert app.bodies == []


def test_an_upload_over_10_mb_is_refused_declared_or_chunked():
    app = Keeper()
    body, kind = multipart(("files", "big.png", png_bytes() + b"x" * UPLOAD_CAP))
    assert upload(app, body, kind).status_code == 413
    for chunked in (False, True):
        refused = post(app, "/gradio_api/upload/", UPLOAD_CAP + 1, chunked=chunked)
        assert (refused.status_code, refused.text) == (413, guard.too_large(UPLOAD_CAP))
    assert app.bodies == []
    other = post(Reader(), "/gradio_api/run/predict", 2 * MB, chunked=True)
    assert (other.status_code, other.text) == (413, guard.too_large(GENERAL_CAP))


def test_uploads_are_counted_by_address_behind_the_proxies_the_app_knows():
    now = [0.0]
    rate = UploadRate(per_window=2, window=60.0, clock=lambda: now[0])
    app = Keeper()
    good = multipart(("files", "a.png", png_bytes()))
    assert [upload(app, *good, uploads=rate).status_code for _ in range(2)] == [200, 200]
    refused = upload(app, *good, uploads=rate)
    assert (refused.status_code, refused.text) == (429, too_fast(2, 60.0))
    now[0] = 61.0
    assert upload(app, *good, uploads=rate).status_code == 200


def test_uploads_are_counted_by_visitor_too_as_starts_are(tmp_path):
    """A browser's uploads carry its visitor cookie: a visitor moving between addresses meets
    its own count, and people behind one address share the address's; a token the app did not
    sign, or none, is counted by its address alone. A refusal is a sentence, and nothing is
    handed on to be stored."""
    now = [0.0]
    rate = UploadRate(per_window=2, window=60.0, clock=lambda: now[0])
    tokens = VisitorTokens(tmp_path)
    alice, bob = tokens.issue(), tokens.issue()
    app = Keeper()
    good = multipart(("files", "a.png", png_bytes()))

    def send(address: str, token: str | None = None) -> httpx.Response:
        headers = {"x-forwarded-for": address}
        if token is not None:
            headers["cookie"] = f"theme=dark; {VISITOR_COOKIE}={token}"
        return upload(
            app, *good, headers=headers, uploads=rate, proxy_hops=1, visitor_of=tokens.visitor_of
        )

    assert [send(f"10.0.0.{i}", alice).status_code for i in (1, 2)] == [200, 200]
    refused = send("10.0.0.3", alice)  # a third address: the same browser
    assert (refused.status_code, refused.text) == (429, too_fast(2, 60.0, "This browser"))
    assert len(app.bodies) == 2
    assert send("10.0.0.3", bob).status_code == 200  # that address had counted nothing
    forged = "v1." + "0" * 32 + "." + "0" * 32
    assert [send("10.0.0.4", token).status_code for token in (forged, None)] == [200, 200]
    behind_one = send("10.0.0.4", bob)  # two people behind one address share its count
    assert (behind_one.status_code, behind_one.text) == (429, too_fast(2, 60.0))
    assert len(app.bodies) == 5
    now[0] = 61.0
    assert send("10.0.0.9", alice).status_code == 200


@pytest.mark.parametrize(
    ("path", "answer"),
    [
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
