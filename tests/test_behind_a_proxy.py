"""An app on loopback reached through a tunnel or a reverse proxy, tried as the strangers it lets
in would (issue 28).

``python app.py --mcp`` runs as ``make run`` does (127.0.0.1, no ``--share``), so it believes it is
private: one history, the host's key, no ceiling. A tunnel (ngrok, cloudflared) or a reverse proxy
sends it requests that carry ``X-Forwarded-For``, or a ``Host`` that is not this machine; those
are strangers', and meet a public page's rules: their own key (the host's is not shared unless
``PIXVERSE_UI_SHARE_HOST_KEY=1``), their own history. A plain loopback request is the host's,
as before, and so is an agent's call that Gradio's MCP bridge makes on loopback for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from browser_support import chromium
from support import (
    RawCall,
    ServedApp,
    form,
    queue_call,
    running_app_py,
    visitor_token,
    wait_for,
    with_mcp,
)

from pixverse_ui.access import PRIVATE_PROXY_ENV
from pixverse_ui.simulator import SimConfig, Simulator
from pixverse_ui.store import Ledger

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HOST = "sk-proxy-HOST-00112233445566778899"
ALICE = "sk-proxy-ALICE-aabbccddeeff00112233"
#: What a tunnel or a reverse proxy adds to a stranger's request.
THROUGH = {
    "x-forwarded-for": {"X-Forwarded-For": "203.0.113.7"},
    "host": {"Host": "example.test"},
}
NEEDS_OWN_KEY = "This app needs your own AI/ML API key"
FILTERS = ["", "any", False, "any", "any time", 1]  # the History filters' defaults, page 1
OUTSIDE_BANNER = "**Reached through a proxy or tunnel.**"


@dataclass
class Served:
    app: ServedApp
    home: Path
    sim: Simulator | None
    deps: list[dict[str, Any]]

    def call(self, name: str, data: list[Any], headers: dict[str, str] | None = None) -> RawCall:
        index = next(i for i, dep in enumerate(self.deps) if dep.get("api_name") == name)
        return queue_call(self.app.url, index, data, headers=headers, timeout=120)

    def generate(self, prompt: str, key: str, token: str, headers: dict[str, str] | None) -> str:
        """``started`` for a call that got its video, else the sentence it was refused with."""
        done = self.call("generate", form(prompt=prompt, key=key, visitor=token), headers).final
        assert done is not None
        return "started" if done["success"] else str(done["output"]["error"])

    def history(self, key: str, token: str, headers: dict[str, str] | None) -> str:
        """The History cards (or the sentence) a caller sees."""
        done = self.call("list_history", [key, token, *FILTERS], headers).final
        assert done is not None and done["success"], done
        return str(done["output"]["data"][-1])


def _served(home: Path, sim: Simulator | None, *args: str, **env: str) -> Iterator[Served]:
    with running_app_py(home, *args, **env) as app:
        deps = requests.get(app.url + "/config", timeout=10).json()["dependencies"]
        yield Served(app, home, sim, deps)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The host's key, on loopback, in front of a simulator that knows the host's and Alice's."""
    root = tmp_path_factory.mktemp("behind-a-proxy")
    sim = Simulator(
        SimConfig(speed=40, seed=7, api_keys=frozenset({HOST, ALICE}), cache_dir=root / "sim")
    ).start()
    try:
        for served in _served(
            root / "home", sim, "--mcp", AIMLAPI_KEY=HOST, AIMLAPI_BASE_URL=sim.url
        ):
            # the host's own video, made on loopback as `make run` makes one
            assert served.generate("the host's lighthouse", "", "", None) == "started"
            yield served
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """No key on the host: the built-in simulator, on loopback."""
    yield from _served(tmp_path_factory.mktemp("behind-a-proxy-sim") / "home", None)


def test_the_host_on_loopback_is_served_as_before(live: Served) -> None:
    # a private page is one person's: another tab, another id, the same history
    assert "the host's lighthouse" in live.history("", visitor_token(live.app.url), None)
    ledger = Ledger(live.home / "ledger.sqlite3")
    [record] = [r for r in ledger.history() if r.prompt == "the host's lighthouse"]
    assert record.owner == record.paid_by == ledger.owner_of(HOST)
    # the start-up lines say what a proxy in front of it would mean, and what to set
    assert "This app is private" in live.app.output
    assert f"{PRIVATE_PROXY_ENV}=1" in live.app.output


@pytest.mark.parametrize("through", THROUGH, ids=list(THROUGH))
def test_strangers_through_a_tunnel_cannot_spend_the_host_key_or_see_its_history(
    live: Served, through: str, figures: Any
) -> None:
    headers = THROUGH[through]
    assert live.sim is not None
    before = live.sim.stats()["posts"]
    token = visitor_token(live.app.url, headers=headers)
    for sent in ("", token, "claude"):
        refused = live.generate("a stranger's fox", "", sent, headers)
        assert refused.startswith(f"Could not generate: {NEEDS_OWN_KEY}"), refused
        assert live.history("", sent, headers).startswith(f"✗ {NEEDS_OWN_KEY}")
    figures["host-key starts by strangers through a tunnel"] += live.sim.stats()["posts"] - before
    assert live.sim.stats()["posts"] == before
    # with a key of their own they are welcome, and see their own history, not the host's
    assert live.generate(f"alice's heron via {through}", ALICE, token, headers) == "started"
    seen = live.history(ALICE, token, headers)
    assert f"alice's heron via {through}" in seen and "lighthouse" not in seen
    # the host hears it once, with what to set
    wait_for(lambda: "A request reached this app through a proxy or tunnel" in live.app.output)
    assert live.app.output.count("A request reached this app through a proxy or tunnel") == 1
    # the page a stranger loads says so too (a plain loopback page changes nothing)
    banner, key_box = live.call("outside_banner", [], headers).final["output"]["data"]
    assert banner.startswith(OUTSIDE_BANNER) and f"{PRIVATE_PROXY_ENV}=1" in banner
    assert key_box == {"__type__": "update", "open": True}
    unchanged = live.call("outside_banner", []).final["output"]["data"]
    assert all(value == {"__type__": "update"} for value in unchanged), unchanged


def test_an_agent_through_the_tunnel_is_a_stranger_and_one_on_loopback_the_host(
    live: Served,
) -> None:
    """Gradio's MCP bridge calls the app on loopback with the agent's own headers: what the
    tunnel added goes with them, and an agent on this machine is the host, as before."""

    def text(result: Any) -> str:
        return "\n".join(getattr(part, "text", "") for part in result.content)

    async def history(mcp: Any) -> str:
        return text(await mcp.call_tool("list_history", {}))

    through = with_mcp(live.app.url, history, headers=THROUGH["x-forwarded-for"])
    assert NEEDS_OWN_KEY in through and "lighthouse" not in through
    assert "the host's lighthouse" in with_mcp(live.app.url, history)


def test_on_the_simulator_strangers_each_have_their_own_history(simulated: Served) -> None:
    url, headers = simulated.app.url, THROUGH["host"]
    one, two = (visitor_token(url, headers=headers) for _ in range(2))
    assert simulated.generate("the first stranger's otter", "", one, headers) == "started"
    assert simulated.generate("the second stranger's crane", "", two, headers) == "started"
    first, second = (simulated.history("", token, headers) for token in (one, two))
    assert "otter" in first and "crane" not in first
    assert "crane" in second and "otter" not in second
    # the host's history on loopback is the host's alone; the strangers' are not in it
    assert simulated.generate("the host's own kite", "", "", None) == "started"
    host = simulated.history("", "", None)
    assert "kite" in host and "otter" not in host and "crane" not in host
    assert "kite" not in simulated.history("", one, headers)


@pytest.mark.browser
def test_a_stranger_s_browser_is_told_and_asked_for_a_key(live: Served) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        context = browser.new_context(extra_http_headers=THROUGH["x-forwarded-for"])
        page = context.new_page()
        page.goto(live.app.url)
        banner = page.locator("#mode-banner")
        expect(banner).to_contain_text("Reached through a proxy or tunnel")
        expect(banner).to_contain_text(f"{PRIVATE_PROXY_ENV}=1")
        expect(page.locator("#api-key input")).to_be_visible()  # the key's field is open
        expect(page.locator("#history-table")).to_contain_text(NEEDS_OWN_KEY)
        context.close()
        host = browser.new_context()
        page = host.new_page()
        page.goto(live.app.url)
        expect(page.locator("#history-table")).to_contain_text("the host's lighthouse")
        expect(page.locator("#mode-banner")).to_contain_text("Live mode.")
        host.close()
