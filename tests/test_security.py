"""No key leaks: run a recognisable key through the library, the CLI and the app (two visitors
and an MCP agent), then search every log record, exception, output, page, API answer and file on
disk for it.

The notebook's outputs are searched by tests/test_notebooks.py (``FAKE_KEY``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import requests
from support import KEY_HEADER, form, with_mcp

from pixverse_ui import cli, errors
from pixverse_ui.client import Client
from pixverse_ui.generation import generate
from pixverse_ui.store import Ledger

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LIB_KEY = "sk-canary-LIBRARY-7c1d2e3f4a5b6c7d"
CLI_KEY = "sk-canary-COMMAND-0a9b8c7d6e5f4a3b"
ALICE = "sk-canary-ALICE-1122334455667788"
BOB = "sk-canary-BOB-8877665544332211"
AGENT = "sk-canary-AGENT-5566778899aabbcc"  # an MCP caller, its key in a header
KEYS = (LIB_KEY, CLI_KEY, ALICE, BOB, AGENT)


class Everything(logging.Handler):
    """Every log record of every library, formatted, at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs():
    handler = Everything()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(level)


def sightings(text: str) -> list[str]:
    return [key for key in KEYS if key in text]


def files_holding_a_key(*folders: Path) -> list[str]:
    """Every file below the folders (ledger, its WAL, videos, request JSON) read as bytes."""
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path}: {key}" for key in KEYS if key.encode() in data]
    return found


def test_a_key_appears_in_no_log_output_page_answer_or_file(
    make_sim, clock, tmp_path, launch_app, all_logs, capsys, monkeypatch, figures
):
    shown: list[str] = []
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock=clock)

    # the library: a success, a failure with the provider's words, a refused key
    sim = make_sim()
    client = Client(api_key=LIB_KEY, base_url=sim.url, clock=clock)
    video = generate("a canary", resolution="360p", client=client, ledger=ledger)
    with monkeypatch.context() as here:  # the player's file is linked beside the "notebook"
        here.chdir(tmp_path)
        player = video._repr_html_()
    shown += [repr(client), repr(video), player, repr(ledger.history())]
    failing = make_sim(faults="fail@get")
    with pytest.raises(errors.GenerationFailedError) as failed:
        generate(
            "a canary",
            resolution="360p",
            client=Client(api_key=LIB_KEY, base_url=failing.url, clock=clock),
            ledger=ledger,
        )
    locked = make_sim(api_keys=frozenset({"sk-someone-else"}))
    with pytest.raises(errors.AuthenticationError) as refused:
        generate(
            "a canary",
            client=Client(api_key=LIB_KEY, base_url=locked.url, clock=clock),
            ledger=ledger,
        )
    for caught in (failed.value, refused.value):
        shown += [str(caught), repr(caught), caught.user_message, repr(caught.__dict__)]

    # the command line: generate, a failure, and the history
    monkeypatch.setattr(
        cli, "make_client", lambda: Client(api_key=CLI_KEY, base_url=sim.url, clock=clock)
    )
    monkeypatch.setattr(cli, "make_ledger", lambda: ledger)
    monkeypatch.setenv("AIMLAPI_KEY", CLI_KEY)  # whose history the CLI shows: its own rule
    assert cli.main(["generate", "a canary", "--resolution", "360p", "--json"]) == 0
    assert cli.main(["list", "--json"]) == 0
    monkeypatch.setattr(
        cli, "make_client", lambda: Client(api_key=CLI_KEY, base_url=locked.url, clock=clock)
    )
    assert cli.main(["generate", "a canary"]) == 1
    out, err = capsys.readouterr()
    shown += [out, err]
    monkeypatch.delenv("AIMLAPI_KEY")  # the test set it: only what the app sets is looked for

    # the app: two visitors with their own keys, their streams, histories, the page and its API
    demo, app, _ = launch_app(mcp=True)
    for key, visitor in ((ALICE, "alice"), (BOB, "bob")):
        shown += map(str, app.submit(*form(key=key, visitor=visitor), api_name="/generate"))
        shown.append(str(app.predict(key, visitor, api_name="/list_history")))

    # an MCP agent: a video, a refusal and its history, the key in the header
    async def agent(mcp):
        return [
            await mcp.call_tool("generate", {"prompt": "a canary", "resolution": "360p"}),
            await mcp.call_tool("generate", {"prompt": ""}),
            await mcp.call_tool("list_history", {}),
        ]

    shown += [str(result) for result in with_mcp(demo, agent, headers={KEY_HEADER: AGENT})]
    base = demo.local_url.rstrip("/")
    for path in (
        "/",
        "/config",
        "/gradio_api/info",
        "/gradio_api/openapi.json",
        "/gradio_api/mcp/schema",
    ):
        shown.append(requests.get(base + path, timeout=10).text)

    leaks = [f"{i}: {key}" for i, text in enumerate(shown) for key in sightings(text)]
    leaks += [f"log: {line[:120]}" for line in all_logs if sightings(line)]
    leaks += files_holding_a_key(tmp_path)
    leaks += [f"os.environ[{name}]" for name, value in os.environ.items() if sightings(value)]
    figures["key sightings"] += len(leaks)
    assert not leaks, leaks
    assert len(all_logs) > 20, "the log capture saw nothing: the search above proves nothing"
