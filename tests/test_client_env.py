"""What the client takes from the environment: proxies and a CA bundle, read once; never ~/.netrc.

The proxy is a small HTTP server on loopback that answers as the API would: the API's own
address in these tests is a name that never resolves, so nothing leaves the machine.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses

from pixverse_ui import errors
from pixverse_ui.client import Client
from pixverse_ui.clock import ManualClock

KEY = "sk-env-KEY-0123456789abcdef"
NOWHERE = "http://api.pixverse-ui.invalid"  # .invalid never resolves


class _Proxy(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Proxy.seen.append((self.path, self.headers.get("Authorization", "")))
        body = json.dumps({"id": "g-1", "status": "generating"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_proxy_the_environment_names_is_used(proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with Client(api_key=KEY, base_url=NOWHERE, clock=ManualClock(), retries=0) as client:
        state = client.retrieve("g-1")
    assert state.status == "generating"
    [(target, auth)] = _Proxy.seen
    assert target == f"{NOWHERE}/v2/video/generations?generation_id=g-1"
    assert auth == f"Bearer {KEY}"


def test_no_proxy_leaves_its_hosts_out(proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "pixverse-ui.invalid")
    with (
        Client(api_key=KEY, base_url=NOWHERE, clock=ManualClock(), retries=0) as client,
        pytest.raises(errors.APIConnectionError, match="did not resolve"),
    ):
        client.retrieve("g-1")
    assert _Proxy.seen == []  # went straight for the host, which does not resolve


def test_a_netrc_entry_never_replaces_the_key(tmp_path, monkeypatch):
    """requests reads ~/.netrc for a host it has no auth for, and its password replaces the
    Authorization header: the key would not be sent and the password would be."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.example.test login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    base = "https://api.example.test"
    with (
        responses.RequestsMock() as http,
        Client(api_key=KEY, base_url=base, clock=ManualClock()) as client,
    ):
        http.get(base + "/v2/video/generations", json={"id": "g-1", "status": "queued"})
        client.retrieve("g-1")
        assert http.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"
