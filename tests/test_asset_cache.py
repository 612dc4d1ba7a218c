"""Gradio's frontend files are compressed once per process, and still reach a browser intact
(``pixverse_ui/ui/asset_cache.py``), behind Gradio's own compression middleware as on a page."""

from __future__ import annotations

import brotli
import pytest
from gradio.brotli_middleware import BrotliMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import FileResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from pixverse_ui.ui import asset_cache

BROWSER = {"Accept-Encoding": "gzip, deflate, br, zstd"}


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A Gradio-like app serving ``tmp_path``'s files at /assets/, and how often each encoding
    compressed a file."""
    monkeypatch.setattr(asset_cache, "COPIES", asset_cache._Copies())
    compressed: list[str] = []
    for name, encode in dict(asset_cache._ENCODERS).items():

        def counted(body: bytes, encode=encode, name=name) -> bytes:
            compressed.append(name)
            return encode(body)

        monkeypatch.setitem(asset_cache._ENCODERS, name, counted)

    def asset(request):
        return FileResponse(tmp_path / request.path_params["name"])

    app = Starlette(
        routes=[Route("/assets/{name}", asset)],
        middleware=[Middleware(asset_cache.CompressedAssets)],  # as launch_options gives it
    )
    app.add_middleware(BrotliMiddleware, quality=4)  # as Gradio adds its own, outside ours
    with TestClient(app) as client:
        yield client, compressed


def test_a_file_is_compressed_once_and_every_browser_gets_it_whole(served, tmp_path):
    client, compressed = served
    script = b"export const answer = 42;\n" * 2000
    (tmp_path / "index.js").write_bytes(script)
    for _ in range(3):
        answer = client.get("/assets/index.js", headers=BROWSER)
        assert answer.status_code == 200 and answer.headers["content-encoding"] == "br"
        assert answer.content == script  # decoded by the client, as a browser does
        assert int(answer.headers["content-length"]) < len(script) // 10
        assert "accept-encoding" in answer.headers["vary"].lower()
    only_gzip = client.get("/assets/index.js", headers={"Accept-Encoding": "gzip"})
    assert only_gzip.headers["content-encoding"] == "gzip" and only_gzip.content == script
    plain = client.get("/assets/index.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == script
    assert compressed == ["br", "gzip"]


def test_a_copy_is_answered_without_asking_gradio_again_with_the_same_headers(served, tmp_path):
    client, compressed = served
    path = tmp_path / "index.css"
    path.write_bytes(b"body { color: red; }\n" * 500)
    first = client.get("/assets/index.css", headers=BROWSER)
    path.unlink()  # Gradio could no longer answer: the copy does
    again = client.get("/assets/index.css", headers=BROWSER)
    assert again.content == first.content == b"body { color: red; }\n" * 500
    assert again.headers == first.headers and first.headers["etag"]
    assert compressed == ["br"]


def test_ranges_revalidations_small_files_and_other_routes_are_left_to_gradio(served, tmp_path):
    client, compressed = served
    (tmp_path / "big.js").write_bytes(b"let a = 1;\n" * 1000)
    (tmp_path / "small.js").write_bytes(b"let a = 1;\n")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG" + b"\0" * 4000)
    first = client.get("/assets/big.js", headers=BROWSER)
    again = client.get(
        "/assets/big.js", headers={**BROWSER, "If-None-Match": first.headers["etag"]}
    )
    assert again.content in (b"", first.content)  # Starlette's own answer, 304 or whole
    part = client.get("/assets/big.js", headers={**BROWSER, "Range": "bytes=0-9"})
    assert part.content[:10] == b"let a = 1;"
    assert client.get("/assets/small.js", headers=BROWSER).content == b"let a = 1;\n"
    png = client.get("/assets/logo.png", headers=BROWSER)
    assert "content-encoding" not in png.headers and png.content.startswith(b"\x89PNG")
    assert compressed == ["br"]  # big.js, once


def test_the_copies_stay_under_their_bound(monkeypatch):
    monkeypatch.setattr(asset_cache, "MAX_CACHED_BYTES", 10)
    copies = asset_cache._Copies()
    copy = asset_cache._Copy({"type": "http.response.start", "status": 200}, b"12345678")
    copies.put(("/assets/a.js", "br"), copy)
    copies.put(("/assets/b.js", "br"), copy)  # would pass the bound: not kept
    assert copies.get(("/assets/a.js", "br")) == copy
    assert copies.get(("/assets/b.js", "br")) is None
    assert brotli.decompress(asset_cache._brotli(b"abc" * 200)) == b"abc" * 200
