"""A Space that shares its host key, tried as a hostile visitor would (issue 20).

``python app.py --mcp`` runs as a Hugging Face Space with ``PIXVERSE_UI_SHARE_HOST_KEY=1`` in front
of a loopback stand-in that charges $2.50 a 540p job (four times the rate card, as a provider whose
prices moved would). No host budget is set, so the default ceiling of $5.00 a day applies. Callers
come through the queue as any script can, each with a fresh browser id and session, and through
two official MCP clients without keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from support import (
    RawCall,
    ServedApp,
    at_once,
    form,
    queue_call,
    running_app_py,
    wait_for,
    with_mcp,
)

from pixverse_ui.budget import spent_since
from pixverse_ui.simulator import SimConfig, Simulator
from pixverse_ui.store import Ledger

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HOST = "sk-shared-HOST-00112233445566778899"
PRICE = 4.0
SPACE_ENV = {
    "SPACE_ID": "someone/pixverse-ui",
    "AIMLAPI_KEY": HOST,
    "PIXVERSE_UI_SHARE_HOST_KEY": "1",
}


@dataclass
class SharedSpace:
    app: ServedApp
    home: Path
    sim: Simulator
    deps: list[dict[str, Any]]

    def index(self, name: str) -> int:
        return next(i for i, dep in enumerate(self.deps) if dep.get("api_name") == name)

    def generate(self, visitor: str, **kwargs: Any) -> RawCall:
        data = form(prompt=f"a fox for {visitor}", resolution="540p", visitor=visitor)
        return queue_call(self.app.url, self.index("generate"), data, timeout=120, **kwargs)

    def host_spent(self) -> float:
        ledger = Ledger(self.home / "ledger.sqlite3")
        return spent_since(ledger, 0, payer=ledger.owner_of(HOST)).usd


def _space(tmp_path: Path, **env: str) -> Iterator[SharedSpace]:
    home = tmp_path / "home"
    sim = Simulator(
        SimConfig(
            speed=40,
            seed=3,
            api_keys=frozenset({HOST}),
            price_multiple=PRICE,
            cache_dir=tmp_path / "sim-videos",
        )
    ).start()
    try:
        with running_app_py(home, "--mcp", AIMLAPI_BASE_URL=sim.url, **SPACE_ENV, **env) as app:
            deps = requests.get(app.url + "/config", timeout=10).json()["dependencies"]
            yield SharedSpace(app, home, sim, deps)
    finally:
        sim.stop()


@pytest.fixture
def wide_open(tmp_path: Path) -> Iterator[SharedSpace]:
    """The rate per client opened wide: only the ceiling stands between a burst and the host."""
    yield from _space(
        tmp_path, PIXVERSE_UI_MAX_RUNNING="1000", PIXVERSE_UI_STARTS_PER_MINUTE="1000"
    )


@pytest.fixture
def defaults(tmp_path: Path) -> Iterator[SharedSpace]:
    yield from _space(tmp_path)


def _outcome(call: RawCall) -> str:
    """``started`` for a call that got its video, else the sentence it was refused with."""
    assert call.final is not None, call.messages
    if call.final["success"]:
        return "started"
    return str(call.final["output"].get("error"))


def test_the_page_and_the_start_up_lines_say_the_ceiling(defaults: SharedSpace) -> None:
    page = requests.get(defaults.app.url + "/config", timeout=10).text
    words = "Everyone here shares the host's key, up to $5.00 a day in all (the default; set "
    assert words in page
    wait_for(lambda: words in defaults.app.output, timeout=60)  # printed once launch returns


def test_a_burst_of_fresh_visitor_ids_stops_at_the_host_ceiling(
    wide_open: SharedSpace, figures: Any
) -> None:
    """30 callers at once, each a new browser id and session (a fresh owner budget each)."""
    outcomes = at_once(lambda i: _outcome(wide_open.generate(f"fresh-{i}")), 30, timeout=180)
    posts = wide_open.sim.stats()["posts"]
    assert len(outcomes) == 30 and 1 <= posts <= 2, outcomes
    assert outcomes.count("started") == posts and wide_open.host_spent() <= 5.0
    refusals = {o for o in outcomes if o != "started"}
    assert all(o.startswith("Could not generate: ") for o in refusals), refusals
    # once the jobs are priced, every later caller hears the ceiling's sentence
    for i in range(2 - posts):
        assert _outcome(wide_open.generate(f"late-{i}")) == "started"
    late = _outcome(wide_open.generate("last"))
    assert "past its daily limit of $5.00 for everyone using it" in late, late
    assert wide_open.sim.stats()["posts"] == 2 and wide_open.host_spent() == pytest.approx(5.0)
    figures["host-paid jobs in a burst of fresh-id starts, $5 ceiling"] += 2


def test_one_address_gets_a_few_starts_whatever_its_ids(defaults: SharedSpace) -> None:
    """Behind the Space's proxy (one hop), the address is what the proxy appended last; what the
    caller wrote before it is theirs to forge and is not trusted."""
    address = "203.0.113.50"
    first = defaults.generate("rotating-0", headers={"X-Forwarded-For": f"10.0.0.1, {address}"})
    assert _outcome(first) == "started"
    limiter_words = "were started from your network address in the last minute"
    outcomes = []
    for i in range(1, 6):  # a fresh browser id each time: only the address ties them together
        forwarded = {"X-Forwarded-For": f"10.0.0.{i}, {address}"}
        outcomes.append(_outcome(defaults.generate(f"rotating-{i}", headers=forwarded)))
    assert outcomes.count("started") == 1 and defaults.sim.stats()["posts"] == 2, outcomes
    # $5.00 took two jobs; then the ceiling speaks, and after four starts in the minute the rate
    assert all("past its daily limit" in o or limiter_words in o for o in outcomes[1:]), outcomes
    assert limiter_words in outcomes[-1], outcomes
    other = _outcome(defaults.generate("other", headers={"X-Forwarded-For": "198.51.100.2"}))
    assert "past its daily limit" in other


def test_two_mcp_agents_without_keys_share_nothing(defaults: SharedSpace) -> None:
    def text(result: Any) -> str:
        return "\n".join(getattr(part, "text", "") for part in result.content)

    async def first(mcp: Any) -> list[str]:
        anonymous = {"prompt": "agent one's secret otter"}
        named = {"prompt": "agent one's named otter", "visitor": "agent-one"}
        return [
            text(await mcp.call_tool("generate", anonymous)),
            text(await mcp.call_tool("generate", named)),
            text(await mcp.call_tool("list_history", {"visitor": "agent-one"})),
        ]

    async def second(mcp: Any) -> list[str]:
        return [
            text(await mcp.call_tool("list_history", {})),
            text(await mcp.call_tool("list_history", {"visitor": "agent-two"})),
        ]

    refused, made, own_history = with_mcp(defaults.app.url, first)
    assert "cannot spend this Space's shared key" in refused, refused
    assert "Your video is ready" in made or "completed" in made, made
    assert "agent one's named otter" in own_history
    for history in with_mcp(defaults.app.url, second):
        assert "otter" not in history, history
    assert defaults.sim.stats()["posts"] == 1
