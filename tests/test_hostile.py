"""A public Space, tried as a hostile visitor would.

``python app.py --mcp`` runs as on a Hugging Face Space with a host key (``SPACE_ID`` set), in
front of a loopback simulator that accepts the host's key and two visitors'. Alice and Bob each
make a video with their own key. Then they, and an anonymous caller, try every way in: the file
route on every path under the ledger's home, raw ``queue/join`` calls of every registered
function (public and private) with foreign ids and malformed inputs, 100 MB bodies with and
without their length declared (the app's memory is read in ``/proc``), gradio_client on every
endpoint, the MCP tools, Chromium reading the browser's storage, and a second app behind a login
where everyone spends the host's key. Each probe asserts the exact refusal. The last test searches
every line the apps printed and every byte they served for the three keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from browser_support import STATUS_RECORDER, chromium
from support import (
    KEY_HEADER,
    RawCall,
    ServedApp,
    at_once,
    form,
    gradio_caller,
    post_body,
    queue_call,
    resident_bytes,
    running_app_py,
    visitor_token,
    with_mcp,
)

from pixverse_ui.lifecycle import Status
from pixverse_ui.simulator import SimConfig, Simulator
from pixverse_ui.store import JobRecord, Ledger
from pixverse_ui.ui import KEY_STORAGE, NOT_YOURS, VISITOR_STORAGE
from pixverse_ui.ui.guard import GENERAL_CAP, MB, too_large
from pixverse_ui.ui.variations import NOT_A_VARIANT
from pixverse_ui.visitors import SECRET_NAME

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HOST = "sk-hostile-HOST-00112233445566778899"
ALICE = "sk-hostile-ALICE-aabbccddeeff00112233"
BOB = "sk-hostile-BOB-99887766554433221100"
KEYS = (HOST, ALICE, BOB)
SPACE_ENV = {"SPACE_ID": "someone/pixverse-ui", "AIMLAPI_KEY": HOST}
ALICE_PROMPT = "alice's private heron at dawn"
BOB_PROMPT = "bob's private owl at dusk"
#: What Gradio answers a call it cannot run (the app serves errors without their text).
GENERIC = {"error": None}
NEEDS_OWN_KEY = "This Space needs your own AI/ML API key"


@dataclass
class Evidence:
    """Everything the apps printed and served during this module, searched at the end."""

    logs: list[ServedApp] = field(default_factory=list)
    served: list[bytes] = field(default_factory=list)

    def keep(self, data: bytes | str) -> None:
        self.served.append(data.encode() if isinstance(data, str) else data)


EVIDENCE = Evidence()


@dataclass
class Space:
    url: str
    home: Path
    #: This app's own Gradio cache (GRADIO_TEMP_DIR), where it publishes copies of videos.
    cache: Path
    sim: Simulator
    deps: list[dict[str, Any]]
    alice: JobRecord
    bob: JobRecord
    alice_video_url: str
    #: The app's process id, to read its memory.
    pid: int

    def index(self, name: str) -> int:
        """The function index of the event Gradio named ``name``."""
        return next(i for i, dep in enumerate(self.deps) if dep.get("api_name") == name)

    def call(self, fn: int | str, data: list[Any], **kwargs: Any) -> RawCall:
        index = self.index(fn) if isinstance(fn, str) else fn
        result = queue_call(self.url, index, data, **kwargs)
        EVIDENCE.keep(result.raw)
        return result

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        answer = requests.get(self.url + path, timeout=30, **kwargs)
        EVIDENCE.keep(answer.content)
        return answer


def _final_data(call: RawCall) -> list[Any]:
    assert call.final is not None and call.final["success"], call.messages
    return call.final["output"]["data"]


def _refusal(call: RawCall) -> dict[str, Any]:
    """The error a call ended with (``{"error": None}`` when Gradio keeps its text back)."""
    assert call.join_status == 200 and call.final is not None, (call.join_body, call.messages)
    assert call.final["success"] is False, call.final
    return call.final["output"]


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Space]:
    root = tmp_path_factory.mktemp("hostile")
    home, cache = root / "home", root / "gradio-cache"
    sim = Simulator(
        SimConfig(speed=40, seed=11, api_keys=frozenset(KEYS), cache_dir=root / "sim-videos")
    ).start()
    try:
        with running_app_py(
            home, "--mcp", AIMLAPI_BASE_URL=sim.url, GRADIO_TEMP_DIR=str(cache), **SPACE_ENV
        ) as app:
            EVIDENCE.logs.append(app)
            deps = requests.get(app.url + "/config", timeout=10).json()["dependencies"]
            partial = Space(app.url, home, cache, sim, deps, None, None, "", app.pid)  # type: ignore[arg-type]
            made = {}
            for who, key, prompt in (("alice", ALICE, ALICE_PROMPT), ("bob", BOB, BOB_PROMPT)):
                call = partial.call(
                    "generate", form(prompt=prompt, key=key, visitor=f"{who}-browser"), timeout=120
                )
                markdown, video, _ = _final_data(call)
                assert "Your video is ready" in markdown, markdown
                made[who] = video["url"]
            ledger = Ledger(home / "ledger.sqlite3")
            by_prompt = {r.prompt: r for r in ledger.history()}
            assert {r.state for r in by_prompt.values()} == {Status.DONE}
            yield Space(
                app.url,
                home,
                cache,
                sim,
                deps,
                by_prompt[ALICE_PROMPT],
                by_prompt[BOB_PROMPT],
                made["alice"],
                app.pid,
            )
    finally:
        sim.stop()


# --- 1: the file route serves nothing under the home --------------------------------------------


def test_no_path_under_the_home_is_served_to_anyone(space: Space) -> None:
    visitor_token(space.url)  # the secret that signs visitor tokens is made by then
    paths = [space.home, *sorted(space.home.rglob("*"))]
    names = {p.name for p in paths}
    assert {"ledger.sqlite3", "ledger.sqlite3-wal", SECRET_NAME} <= names, names
    videos = [p for p in paths if p.suffix == ".mp4"]
    assert len(videos) == 2, "both visitors' videos are on disk, so the probe means something"
    cache = Path(space.alice_video_url.split("file=", 1)[1]).parent.parent
    # through Gradio's own cache folder and back up: requests normalises "..", "%2E%2E" it sends
    up = f"{cache}/%2E%2E/%2E%2E{space.home}/ledger.sqlite3"
    probes = {str(p): str(p) for p in paths} | {up: up.replace("%2E", ".")}
    for sent, seen in probes.items():
        for route in ("/gradio_api/file=", "/gradio_api/file/"):  # the second is the old spelling
            answer = space.get(route + sent)
            assert (answer.status_code, answer.json()) == (
                403,
                {"detail": f"File not allowed: {seen}."},
            ), (route, sent, answer.text)
        head = requests.head(f"{space.url}/gradio_api/file={sent}", timeout=10)
        assert head.status_code == 403, sent


def test_a_visitor_gets_their_video_by_a_link_nobody_else_can_derive(space: Space) -> None:
    served_path = space.alice_video_url.split("file=", 1)[1]
    assert str(space.home) not in served_path
    assert re.search(r"/pxui-[0-9a-f]{32}/", served_path), served_path
    answer = space.get(space.alice_video_url.split(space.url, 1)[1])
    assert answer.status_code == 200
    assert answer.content == Path(space.alice.video_path).read_bytes()
    # Bob's history holds his own video only, by a link of its own
    gallery, ids, table = _final_data(space.call("list_history", [BOB, "bob-browser", *FILTERS]))
    assert ids == [space.bob.client_request_id]
    [(preview, _caption)] = [(g["image"], g["caption"]) for g in gallery]  # a still, not the MP4
    assert preview["path"].endswith(".poster.jpg") and "/pxui-" in preview["path"]
    assert BOB_PROMPT[:30] in table and ALICE_PROMPT[:30] not in table
    assert space.alice.generation_id not in json.dumps([gallery, ids, table])


# --- 2: every registered function, called raw with malformed inputs -----------------------------

#: A button turned off (Newer and Older when there is no page to go to).
DISABLED = {"__type__": "update", "interactive": False}
#: What each function answers a call whose every input is ``{"k": <Bob's key>}``: Gradio's generic
#: refusal, or the app's own sentence. Keyed by the event's name without its ``_N`` suffix.
GARBAGE_ANSWERS: dict[str, Any] = {
    "load_example": GENERIC,  # the examples table: an index, refused by Gradio
    "check": "Could not generate: The prompt must be text, not dict.",  # the page's Generate
    "generate": "Could not generate: The prompt must be text, not dict.",
    "list_history": "✗ The API key must be text, not dict.",
    "stopped": "stop",  # says the same to anyone, and offers "Watch again" of no job
    "unnamed": GENERIC,  # Stop's cancel, which needs the caller's own running event
    "on_resolution": {"__type__": "update"},  # an unknown resolution changes nothing
    "pick": GENERIC,  # no selection in the call: Gradio cannot build the handler's event data
    "quote": "✗ Aspect ratio must be one of",  # the batch's price: the form's shape, then its own
    "show_axis": "hide all",  # the controls of an axis: none for an axis that is not one
    "running": "batch buttons",  # Run and the tick box while a batch runs, for anyone
    "shown_if_any": GENERIC,  # the contact sheet after a batch: Gradio refuses what is no file
    "ready": "batch buttons",
    "use_variant": "✗ The API key must be text, not dict.",
    "variations": "Could not generate: The prompt must be text, not dict.",
    "js_fn": GENERIC,  # runs in the browser only
    # after a run: Generate enabled, Stop disabled, for anyone (a panel following a job aside)
    "idle_unless_watching": "buttons",
    "price": "",  # the form's cost: nothing to say of a form that is not one
    "set_star": "✗ The API key must be text, not dict.",
    "set_note": "✗ The API key must be text, not dict.",
    "export": "✗ The API key must be text, not dict.",
    "on_image": GENERIC,  # the form's image fields: Gradio refuses what is no image file
    # History's "Animate from this frame": the form's image fields left as they are
    "animate": "✗ The API key must be text, not dict.",
    # Compare, sent by History's cards: the ids ticked are its event data, which a call lacks
    "compare": GENERIC,
    "follow_pick": "unchanged",  # the pick after a redraw: nothing for a caller who has none
    # the pager after a redraw: page 1 of 1 for what is not a page of cards (Newer, Older off)
    "follow_pager": [1, DISABLED, "", DISABLED],
    "session_ended": [],  # the page's unload: frees the caller's own session, says nothing
    "visitor_token": "a fresh token",  # anything not a token the app signed gets a new one
    "resume": "silent",  # watches the caller's unfinished jobs again: shows nothing to anyone
    # after a load: follows the caller's running job; for a caller who is not one, none runs:
    # the page is ready, and the rest (the form, the quote of a form that is not one) unchanged
    "reattach": "ready",
    # after Stop: follows the job the panel names again, only the caller's own
    "watch_again": "✗ The API key must be text, not dict.",
    "unhide": "unchanged",  # after a failed load: only a panel still looking is changed
    "tick": "unchanged",  # the running strip and History's mark: none for a non-caller
    # the Storyboard tab: a shot slot more (one for a count that is not one), the board's
    # editing and quote, its JSON from the fields, its run, re-roll, take and zip
    "add_shot": "one slot",
    "edit_shots": "✗ The tab shows 1 to 6 shots; got a dict.",
    "quote_board": "✗ The tab shows 1 to 6 shots; got a dict.",
    "compose": GENERIC,  # the fields as JSON: a count that is not one is an error
    "storyboard": "Could not run the storyboard: The storyboard has an unknown key 'k'",
    "reroll_shot": "Could not re-roll: Run the storyboard first.",
    "choose_take": "✗ Run the storyboard first.",
    "export_board": "✗ Run the storyboard first.",
    # Run and Re-roll off while either goes, on again after: they take no input
    "running_buttons": [
        {"__type__": "update", "value": "Running…", "interactive": False},
        {"__type__": "update", "interactive": False},
    ],
    "idle_buttons": [
        {"__type__": "update", "value": "Run storyboard", "interactive": True},
        {"__type__": "update", "interactive": True},
    ],
}
#: The History filters' defaults and the first page, after the key and the visitor id in
#: ``list_history``'s inputs.
FILTERS = ["", "any", False, "any", "any time", 1]


def test_every_function_refuses_malformed_calls(space: Space) -> None:
    names = []
    for index, dep in enumerate(space.deps):
        name = re.sub(r"_\d+$", "", dep.get("api_name") or "unnamed")
        names.append(name)
        count = len(dep["inputs"])
        # one input short, every value Bob's key: Gradio dumps the inputs it got (see the log test)
        if count:
            assert _refusal(space.call(index, [BOB] * (count - 1))) == GENERIC, dep
        garbage = space.call(index, [{"k": BOB}] * count)
        expected = GARBAGE_ANSWERS[name]
        if expected == GENERIC:
            assert _refusal(garbage) == GENERIC, name
        elif name in ("check", "generate", "variations"):
            refused = _refusal(garbage)
            assert refused["error"].startswith(expected), refused
            assert refused["title"] == "Could not generate"
        elif name in ("storyboard", "reroll_shot"):
            assert _refusal(garbage)["error"].startswith(expected), (name, _refusal(garbage))
        elif name == "choose_take":  # the video, then the sentence, the rest unchanged
            assert str(_final_data(garbage)[1]).startswith(expected), name
        elif expected == "one slot":
            count, *slots = _final_data(garbage)
            assert count == 1 and [s["visible"] for s in slots] == [True] + [False] * 5, name
        elif expected == "":
            assert _final_data(garbage) == [""], name
        elif expected == "stop":
            panel, go, stop, again = _final_data(garbage)
            assert "Stopped watching." in panel and stop["interactive"] is False, name
            assert again["visible"] is False, name  # the panel named no job of theirs
        elif expected == "ready":
            panel, video, body, go, stop, *rest = _final_data(garbage)
            assert "Ready" in panel and go["interactive"] is True, name
            assert stop["interactive"] is False and not rest[-1], name  # no quote
        elif name == "watch_again":
            panel, *_, again = _final_data(garbage)
            assert panel.startswith(f'<div class="pxui-status pxui-refused"><p>{expected}'), panel
            assert again["visible"] is False, name
        elif expected == "silent":
            assert _final_data(garbage) == [], name
        elif expected == "a fresh token":
            [token] = _final_data(garbage)
            assert re.fullmatch(r"v1\.[0-9a-f]{32}\.[0-9a-f]{32}", token), token
        elif expected == "unchanged":
            data = _final_data(garbage)
            data = [value for value in data if value is not None]  # a page state's slot
            unchanged = [value.get("__type__") == "update" for value in data]
            assert data and all(unchanged), (name, data)
            assert not any(set(value.get("props", {})) - {"__type__"} for value in data), name
        elif expected == "hide all":
            assert _final_data(garbage) == [{"__type__": "update", "visible": False}] * 3, name
        elif expected == "batch buttons":
            run, tick, *_sheet = _final_data(garbage)  # and, when it starts, the sheet hidden
            assert tick["interactive"] is (name == "ready") and "value" in run, name
        elif expected == "buttons":
            go, stop = _final_data(garbage)
            assert (go["interactive"], stop["interactive"]) == (True, False), name
        elif isinstance(expected, dict):
            assert _final_data(garbage) == [expected], name
        elif isinstance(expected, list):
            assert _final_data(garbage) == expected, name
        else:
            assert str(_final_data(garbage)[-1]).startswith(expected), (name, garbage.final)
    assert set(names) == set(GARBAGE_ANSWERS), "a new event needs a row in GARBAGE_ANSWERS"
    assert space.sim.stats()["posts"] == 2, "a malformed call started a paid generation"


@pytest.mark.parametrize(
    ("prompt", "seed", "negative", "sentence"),
    [
        (["a", "heron"], None, "", "The prompt must be text, not list."),
        ({"text": "a heron"}, None, "", "The prompt must be text, not dict."),
        ("a heron", 1.5, "", "Seed must be a whole number; got 1.5."),
        ("a heron", "seven", "", "Seed must be a whole number; got 'seven'."),
        ("a heron", None, ["no", "owls"], "The negative prompt must be text, not list."),
    ],
    ids=["list-prompt", "dict-prompt", "fractional-seed", "word-seed", "list-negative"],
)
def test_odd_types_are_refused_not_coerced_and_nothing_is_sent(
    space: Space, prompt: Any, seed: Any, negative: Any, sentence: str
) -> None:
    before = space.sim.stats()["posts"]
    fields = form(prompt=prompt, seed=seed, negative=negative, key=BOB, visitor="bob-browser")
    refused = _refusal(space.call("generate", fields))
    assert refused["error"].startswith(f"Could not generate: {sentence}"), refused
    assert space.sim.stats()["posts"] == before


# --- 2b: bodies larger than anything the page sends ----------------------------------------------

#: 100 MB: ten of them at once took the app to 1.4 GB, and it kept 620 MB.
HUGE = 100_000_000


def test_huge_bodies_are_refused_before_they_are_read(space: Space, figures) -> None:
    """Ten 100 MB bodies at once, half with their length declared, half chunked (no length),
    to the queue and to the direct route. The app's memory stays where it was, and calls as
    large as the page's largest still go through."""
    routes = ("/gradio_api/queue/join", "/gradio_api/run/predict")
    before = resident_bytes(space.pid)
    answers = at_once(lambda i: post_body(space.url, routes[i % 2], HUGE, chunked=i >= 5), 10)
    grown = resident_bytes(space.pid) - before
    figures["MB resident grown by ten 100 MB bodies at once"] += max(0, grown) // MB
    assert {(a.status, a.text) for a in answers} == {(413, too_large(GENERAL_CAP))}
    assert all(a.sent < HUGE for a in answers), "the server read a whole body"
    assert grown < 50 * MB, f"the app grew by {grown / MB:.0f} MB"
    # History's pager reads back the page of cards it shows: a page of them near the cap
    cards = '<div class="pxui-history" data-page="2" data-pages="3" data-range="13–24 of 30">'
    pager = space.call("follow_pager", [cards + "x" * (GENERAL_CAP - 5000) + "</div>"])
    assert _final_data(pager)[0] == 2
    _, ids, _ = _final_data(space.call("list_history", [ALICE, "alice-browser", *FILTERS]))
    assert ids == [space.alice.client_request_id]


# --- 3: ids the caller does not own -------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and not p.name.endswith("-shm")
    }


def _unchanged(item: Any) -> bool:
    """An output the answer leaves as it was (Gradio's HTML wraps it in "props")."""
    return isinstance(item, dict) and item.get("__type__") == "update" and "value" not in item


def test_a_foreign_id_gets_the_unknown_ids_sentence_and_nothing_is_written(space: Space) -> None:
    pick = space.index("pick")
    cache = space.cache  # the app's own: no other app on the machine writes here
    assert Path(space.alice_video_url.split("file=", 1)[1]).parent.parent == cache
    before_home, before_cache = _snapshot(space.home), sorted(cache.glob("pxui-*"))
    for ident in (
        space.alice.client_request_id,
        space.alice.generation_id,
        "no-such-generation",
    ):
        answer = _final_data(
            space.call(pick, [[ident], BOB, "bob-browser"], event_data={"index": 0, "value": None})
        )
        assert answer[-1] == NOT_YOURS, (ident, answer)
        assert all(_unchanged(item) for item in answer[:-1]), json.dumps(answer)
        assert ALICE_PROMPT not in json.dumps(answer)
    for ids, index in (("not a list", 0), ([space.bob.client_request_id], 5), ([7], 0)):
        answer = _final_data(
            space.call(pick, [ids, BOB, "bob-browser"], event_data={"index": index, "value": None})
        )
        assert answer[-1] == NOT_YOURS
    anonymous = _final_data(
        space.call(
            pick, [[space.alice.client_request_id], "", "x"], event_data={"index": 0, "value": None}
        )
    )
    assert anonymous[-1].startswith("✗ " + NEEDS_OWN_KEY)
    assert _snapshot(space.home) == before_home
    assert sorted(cache.glob("pxui-*")) == before_cache
    # the owner, and only the owner, gets the item back, with its request as a download
    mine = _final_data(
        space.call(
            pick,
            [[space.alice.client_request_id], ALICE, "alice-browser"],
            event_data={"index": 0, "value": None},
        )
    )
    assert mine[0] == ALICE_PROMPT
    [download] = [  # the request as a download: the answer's one JSON file
        value for value in (o.get("value") for o in mine if isinstance(o, dict))
        if isinstance(value, dict) and str(value.get("path", "")).endswith(".json")
    ]  # fmt: skip
    assert str(space.home) not in download["path"] and "/pxui-" in download["path"]
    assert json.loads(space.get("/gradio_api/file=" + download["path"]).text)["prompt"] == (
        ALICE_PROMPT
    )


def test_use_this_one_loads_the_callers_own_variant_and_no_one_elses(space: Space) -> None:
    """Variations' **Use this one** names a variant by its id in the event's data: Bob naming
    Alice's gets the unknown id's sentence and a form left as it was; Alice gets hers."""
    use = space.index("use_variant")
    for ident in (space.alice.client_request_id, space.alice.generation_id, "no-such-one", 7):
        answer = _final_data(space.call(use, [BOB, "bob-browser"], event_data={"id": ident}))
        assert answer[-1] == NOT_A_VARIANT, (ident, answer)
        assert all(_unchanged(item) for item in answer[:-1]), json.dumps(answer)
        assert ALICE_PROMPT not in json.dumps(answer)
    nothing = _final_data(space.call(use, [BOB, "bob-browser"]))  # no event data at all
    assert nothing[-1] == NOT_A_VARIANT
    mine = _final_data(
        space.call(use, [ALICE, "alice-browser"], event_data={"id": space.alice.client_request_id})
    )
    assert mine[0] == ALICE_PROMPT and mine[6] == str(space.alice.request["seed"])  # a text box
    assert f"seed {space.alice.request['seed']}" in mine[-1]


# --- 4: gradio_client on every endpoint ---------------------------------------------------------


def test_every_public_endpoint_refuses_an_anonymous_caller_and_answers_owners_only(
    space: Space, tmp_path: Path
) -> None:
    caller = gradio_caller(space.url, download_files=str(tmp_path))
    endpoints = set(caller.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert endpoints == {
        "/generate",
        "/list_history",
        "/variations",
        "/visitor_token",
        "/storyboard",
    }
    before = space.sim.stats()["posts"]
    for api_name, args in (
        ("/generate", form(prompt="anonymous fox", visitor="stranger")),
        ("/variations", [*form()[:10], "seeds", 2, [], [], False, "", "stranger"]),
    ):
        with pytest.raises(Exception) as caught:
            caller.predict(*args, api_name=api_name)
        EVIDENCE.keep(str(caught.value))
        assert str(caught.value).startswith(f"Could not generate: {NEEDS_OWN_KEY}"), caught.value
    board = json.dumps({"resolution": "360p", "shots": [{"prompt": "an anonymous fox"}]})
    with pytest.raises(Exception) as caught:
        caller.predict(board, "", "stranger", api_name="/storyboard")
    EVIDENCE.keep(str(caught.value))
    assert NEEDS_OWN_KEY in str(caught.value), caught.value
    items, ids, table = caller.predict("", "stranger", api_name="/list_history")
    assert (items, ids) == ([], []) and table.startswith("✗ " + NEEDS_OWN_KEY)
    items, ids, table = caller.predict(BOB, "any-browser", api_name="/list_history")
    EVIDENCE.keep(json.dumps([items, ids, table]))
    assert ids == [space.bob.client_request_id] and ALICE_PROMPT[:30] not in table
    with pytest.raises(Exception) as caught:
        caller.predict(*form(prompt=["x"], key=BOB, visitor="b"), api_name="/generate")
    assert str(caught.value).startswith("Could not generate: The prompt must be text, not list.")
    assert space.sim.stats()["posts"] == before


# --- 5: the MCP tools -----------------------------------------------------------------------------


def test_mcp_tools_answer_each_agent_for_its_own_key_only(space: Space) -> None:
    def text(result: Any) -> str:
        return "\n".join(getattr(part, "text", "") for part in result.content)

    async def as_bob(mcp: Any) -> list[str]:
        return [text(await mcp.call_tool("list_history", {}))]

    async def as_nobody(mcp: Any) -> list[str]:
        return [
            text(await mcp.call_tool("generate", {"prompt": "an anonymous fox"})),
            text(await mcp.call_tool("list_history", {})),
        ]

    [bob_history] = with_mcp(space.url, as_bob, headers={KEY_HEADER: BOB})
    EVIDENCE.keep(bob_history)
    assert BOB_PROMPT[:30] in bob_history and ALICE_PROMPT[:30] not in bob_history
    refused, nobody_history = with_mcp(space.url, as_nobody)
    EVIDENCE.keep(refused + nobody_history)
    assert NEEDS_OWN_KEY in refused and NEEDS_OWN_KEY in nobody_history
    assert ALICE_PROMPT[:30] not in nobody_history and BOB_PROMPT[:30] not in nobody_history


# --- 6: what the browser keeps -------------------------------------------------------------------

STORAGE_DUMP = """async () => {
  const dump = {local: {...localStorage}, session: {...sessionStorage}, indexed: {}};
  for (const info of (await indexedDB.databases())) {
    const db = await new Promise((ok, no) => {
      const r = indexedDB.open(info.name); r.onsuccess = () => ok(r.result); r.onerror = no; });
    for (const name of db.objectStoreNames) {
      const rows = await new Promise((ok, no) => {
        const r = db.transaction(name).objectStore(name).getAll();
        r.onsuccess = () => ok(r.result); r.onerror = no; });
      dump.indexed[info.name + '/' + name] = rows;
    }
    db.close();
  }
  return JSON.stringify(dump);
}"""


@pytest.mark.browser
def test_the_browser_keeps_the_key_only_while_remember_is_ticked(space: Space) -> None:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.add_init_script(STATUS_RECORDER)
        page = context.new_page()
        page.on("response", lambda r: _keep_body(r))
        page.goto(space.url)
        # ready once the load event has run (it restores the key field, from nothing here)
        page.wait_for_function(f"() => !!localStorage.getItem('{VISITOR_STORAGE}')")
        page.locator("#history-table").get_by_text(NEEDS_OWN_KEY).wait_for()  # no key yet
        page.locator("#api-key input").fill(ALICE)
        page.locator("#prompt textarea").fill("alice's browser fox")
        page.locator("#generate").click()
        try:
            page.locator("#status-panel").get_by_text("Your video is ready").wait_for(
                timeout=90_000
            )
        except Exception:
            raise AssertionError(page.inner_text("body")) from None

        after_run = page.evaluate(STORAGE_DUMP)
        assert ALICE not in after_run, after_run
        remember = page.get_by_label("Remember in this browser")
        remember.check()
        page.wait_for_function(f"() => localStorage.getItem('{KEY_STORAGE}') !== null")
        assert page.evaluate(f"() => localStorage.getItem('{KEY_STORAGE}')") == ALICE
        remember.uncheck()
        page.wait_for_function(f"() => localStorage.getItem('{KEY_STORAGE}') === null")
        after_untick = page.evaluate(STORAGE_DUMP)
        assert ALICE not in after_untick, after_untick
        page.reload()
        page.locator("#generate").wait_for()
        assert page.locator("#api-key input").input_value() == ""
        assert ALICE not in page.evaluate(STORAGE_DUMP)
        context.close()
    assert space.get("/gradio_api/runs").status_code == 404  # Gradio's run history is off


def _keep_body(response: Any) -> None:
    try:
        EVIDENCE.keep(response.body())
    except Exception:  # a redirect or a stream that has no body to read
        pass


# --- 7: behind a login, everyone spending the host's key ------------------------------------------


def test_under_a_login_each_person_sees_only_their_own_history(space: Space, tmp_path) -> None:
    env = {**SPACE_ENV, "PIXVERSE_UI_AUTH": "alice:pw-alice-1,bob:pw-bob-2"}
    with running_app_py(tmp_path / "home", AIMLAPI_BASE_URL=space.sim.url, **env) as app:
        EVIDENCE.logs.append(app)
        alice = gradio_caller(app.url, auth=("alice", "pw-alice-1"))
        bob = gradio_caller(app.url, auth=("bob", "pw-bob-2"))
        done = alice.predict(*form(prompt="alice's login heron", visitor="a"), api_name="/generate")
        assert "Your video is ready" in done[0]
        mine = bob.predict(*form(prompt="bob's own-key owl", key=BOB), api_name="/generate")
        assert "Your video is ready" in mine[0]
        seen = {
            who: client.predict("", "some-browser", api_name="/list_history")[-1]
            for who, client in (("alice", alice), ("bob", bob))
        }
        EVIDENCE.keep(json.dumps(seen))
        anonymous = requests.get(f"{app.url}/gradio_api/file={tmp_path / 'home'}", timeout=10)
        EVIDENCE.keep(anonymous.content)
    assert "alice's login heron" in seen["alice"] and "bob's own-key owl" not in seen["alice"]
    assert "bob's own-key owl" in seen["bob"] and "alice's login heron" not in seen["bob"]
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": {"error": "Not authenticated", "auth_message": None}}


# --- 8: afterwards, no key anywhere -------------------------------------------------------------


def test_no_key_in_any_line_printed_or_byte_served(space: Space) -> None:
    """Runs last: every log line of both apps and everything they served in this module."""
    logs = "\n".join(app.output for app in EVIDENCE.logs)
    assert "Received inputs:" in logs, "the malformed calls' dumps were not in the log to search"
    assert "Received inputs:\n    [***]" in logs
    assert len(EVIDENCE.served) > 50
    leaks = [f"log: {key[:16]}" for key in KEYS if key in logs]
    leaks += [
        f"served #{i}: {key[:16]}"
        for i, data in enumerate(EVIDENCE.served)
        for key in KEYS
        if key.encode() in data
    ]
    assert not leaks, leaks
