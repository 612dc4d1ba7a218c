"""One action, one answer, on every face (issue 29): the page's API, MCP, the CLI, the library and
the notebook, each doing the same action from the same setup, must start or refuse alike and say
the same words.

``ACTIONS`` is the table: each row says how money is set up (simulated: no key, the built-in
simulator; real: a key and ``AIMLAPI_BASE_URL`` pointing at a loopback simulator, whose jobs are
real money because their ledger endpoint is not the built-in ``simulator`` label), the daily budget
(``PIXVERSE_UI_DAILY_BUDGET``), the inputs, and what every face must answer. Each face has one
adapter that performs the action as a person (or an agent) would and returns an ``Outcome``: did it
start, everything it said, the cost words it shows, a batch's row words, a history item's words.

The words expected are the ones the one view model already has (``budget.quote``, the budget's
refusal, ``params.validate``'s sentence, ``HistoryItem.cost_text``) and, where the faces have none
in common yet, the page's (README: "States are in the page's words"): an unknown cost is "cost not
known yet" ("nothing charged" for a refused start), a state is its ``lifecycle`` word. A finished
job's cost reads as History reads it: the provider said the dollars, so no "about" (README, *Money
and budget*), and the simulator's carry "(simulated: nothing is charged)". Icons are decoration and
are not compared; words are. A pair known to answer otherwise today carries a strict xfail naming
the difference, to be removed when the service of issue 29 lands.
"""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from support import form, with_mcp

import pixverse_ui
from pixverse_ui import cli, notebook
from pixverse_ui.defaults import SIMULATOR_KEY, default_ledger, machine_owner
from pixverse_ui.history import history
from pixverse_ui.lifecycle import LABELS, STOPPED_ICON, TRANSIENT_ICON
from pixverse_ui.store import Ledger

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: The key of "real money": served by a loopback simulator that accepts it alone.
REAL_KEY = "sk-parity-KEY-0123456789abcdef"
SIMULATED, REAL = "simulated", "real"
FACES = ("page", "mcp", "cli", "library", "notebook")
#: A batch has no command in the CLI, and the library has no call that starts one (only
#: ``variations.plan`` and the building block ``variations.start_each``, which takes a start
#: function): neither face can be asked for a batch, so the batch rows leave them out.
BATCH_FACES = ("page", "mcp", "notebook")
#: The simulator's speed for every face: a 360p job takes a second or two.
SPEED = "40"

NOTHING_SENT = "Nothing was sent and nothing was charged."
PRETEND = "(simulated: nothing is charged)"
#: Cost words as every face writes them: ``[about ]$0.28 (555,556 credits)[ (simulated...)]``.
COST = re.compile(
    r"(?:about )?<?\$[\d,]+\.\d\d \([\d,]+ credits\)(?: \(simulated: nothing is charged\))?"
)
ICONS = {label.icon for label in LABELS.values()} | {TRANSIENT_ICON, STOPPED_ICON}


@dataclass(frozen=True)
class Expect:
    """What every face must answer."""

    started: bool
    #: Ledger rows the action leaves (None: not counted, as for history items seeded by the test).
    jobs: int | None
    #: A fragment every face's words must hold: the refusal whole, or a batch's quote.
    says: str = ""
    #: A started generation's cost words, exactly as shown once it is done.
    cost: str = ""
    #: A batch: each variant's state word once the batch is over.
    rows: tuple[str, ...] = ()
    #: History items: prompt -> (state word, cost words), as a history shows them.
    items: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """One row of the table."""

    name: str
    #: Whose money: ``SIMULATED`` (no key) or ``REAL`` (a key and a loopback API).
    money: str
    #: ``PIXVERSE_UI_DAILY_BUDGET``, None for unset.
    budget: str | None
    #: ``generate`` (one video), ``batch`` (three seeds) or ``items`` (read a history).
    kind: str
    expect: Expect
    resolution: str = "360p"
    duration: int = 5
    faces: tuple[str, ...] = FACES
    #: ``PIXVERSE_UI_SIM_FAULTS`` for the built-in simulator ("" for none).
    faults: str = ""
    #: Faces that answer otherwise today, and how (issue 29): strict xfails.
    differs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What one face answered, normalised."""

    started: bool
    #: Everything it said: the refusal, the status, the quote, the table.
    said: str
    jobs: int | None = None
    cost: str = ""
    rows: tuple[str, ...] = ()
    items: dict[str, tuple[str, str]] = field(default_factory=dict)


# --- the history items of the "item words" row ----------------------------------------------------

REFUSED_ITEM, RUNNING_ITEM, DONE_ITEM = "a refused fox", "a running fox", "a finished fox"


def seed_items(ledger: Ledger) -> None:
    """Three generations of this machine's person on the simulator: one the API refused, one
    running whose cost the API has not said, one done that the simulator priced."""
    owner = ledger.owner_of(SIMULATOR_KEY)
    for crid, prompt in (("c-refused", REFUSED_ITEM), ("c-running", RUNNING_ITEM),
                         ("c-done", DONE_ITEM)):  # fmt: skip
        body = pixverse_ui.validate(prompt, resolution="360p", seed=7).to_body()
        ledger.record(client_request_id=crid, owner=owner, endpoint="simulator", body=body)
    ledger.update("c-refused", state="rejected", error="The API refused the request.")
    ledger.update("c-running", generation_id="g-running", state="running", status="queued")
    ledger.update("c-done", generation_id="g-done", state="running", status="queued")
    ledger.update(
        "c-done", state="done", status="completed", credits_used=555_556, usd_spent=0.277778
    )


# --- the table -----------------------------------------------------------------------------------

SIM_COST = f"$0.28 (555,556 credits) {PRETEND}"
REAL_COST = "$0.28 (555,556 credits)"
ACTIONS = [
    Action(
        "generate-within-budget-simulated", SIMULATED, "1", "generate",
        Expect(started=True, jobs=1, cost=SIM_COST),
    ),
    Action(
        "generate-over-budget-simulated", SIMULATED, "0.10", "generate",
        Expect(started=True, jobs=1, cost=SIM_COST),
    ),
    Action(
        "generate-within-budget-real", REAL, "1", "generate",
        Expect(started=True, jobs=1, cost=REAL_COST),
    ),
    Action(
        "generate-over-budget-real", REAL, "0.10", "generate",
        Expect(
            started=False, jobs=0,
            says="This start (about $0.28) would bring today's spending to $0.28, over your daily "
            f"limit of $0.10; $0.10 is left today. {NOTHING_SENT}",
        ),
    ),
    Action(
        "batch-over-budget-simulated", SIMULATED, "1", "batch",
        Expect(
            started=True, jobs=3, rows=("done",) * 3,
            says=f"These 3 videos: about $1.88 (3,750,000 credits) {PRETEND} in all; from the "
            "rate card, at an assumed 2,000,000 credits per dollar. Spent today: $0.00 (0 credits) "
            f"{PRETEND}; limits count real money only.",
        ),
        resolution="540p", faces=BATCH_FACES,

    ),
    Action(
        "batch-over-budget-real", REAL, "1", "batch",
        Expect(
            started=False, jobs=0,
            says="This start (about $1.88) would bring today's spending to $1.88, over your daily "
            f"limit of $1.00; $1.00 is left today. {NOTHING_SENT}",
        ),
        resolution="540p", faces=BATCH_FACES,
    ),
    Action(
        "batch-within-budget-real", REAL, "5", "batch",
        Expect(
            started=True, jobs=3, rows=("done",) * 3,
            says="These 3 videos: about $0.83 (1,666,668 credits) in all; from the rate card, at "
            "an assumed 2,000,000 credits per dollar. Spent today: $0.00 (0 credits) of $5.00; "
            "$5.00 left.",
        ),
        faces=BATCH_FACES,
    ),
    Action(
        "batch-failed-simulated", SIMULATED, None, "batch",
        Expect(started=True, jobs=3, rows=("failed",) * 3),
        faces=BATCH_FACES, faults="fail@post",  # the API takes each job, then fails it

    ),
    Action(
        "refused-input", SIMULATED, None, "generate",
        Expect(
            started=False, jobs=0,
            says="1080p does not support 8-second videos; pick 5 or 10 seconds, or a lower "
            f"resolution. {NOTHING_SENT}",
        ),
        resolution="1080p", duration=8,
    ),
    Action(
        "item-words", SIMULATED, None, "items",
        Expect(
            started=True, jobs=None,
            items={
                REFUSED_ITEM: ("refused", "nothing charged"),
                RUNNING_ITEM: ("running", "cost not known yet"),
                DONE_ITEM: ("done", SIM_COST),
            },
        ),
    ),
]  # fmt: skip


def cases() -> list[Any]:
    params = []
    for action in ACTIONS:
        for face in action.faces:
            marks = []
            if face in action.differs:
                reason = f"issue 29: {action.differs[face]}"
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            params.append(pytest.param(action, face, id=f"{action.name}-{face}", marks=marks))
    return params


# --- the faces -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What a face needs to run an action: the app launcher and the output capture."""

    launch_app: Callable[..., Any]
    capsys: Any


PROMPT = "a red fox in the snow"


def rows_in(ledger: Ledger) -> int:
    return len(ledger.history())


def cost_words(text: str) -> str:
    """The last cost words in ``text`` (HTML unescaped), "" if there are none."""
    found = COST.findall(html.unescape(text))
    return found[-1] if found else ""


def word(state: str) -> str:
    """A state as shown, its icon (decoration) dropped: ``✓ done`` is ``done``."""
    state = state.strip()
    head, _, rest = state.partition(" ")
    return rest.strip() if head in ICONS and rest else state


def on_page(action: Action, setup: Setup) -> Outcome:
    """The page's API, as another program calls it (gradio_client): ``/generate``,
    ``/variations``, ``/list_history``."""
    _, client, ledger = setup.launch_app(SPEED)
    if action.kind == "items":
        seed_items(ledger)
        _, _, cards = client.predict("", "v1", api_name="/list_history")
        return Outcome(True, cards, items=card_words(cards))
    fields = form(prompt=PROMPT, resolution=action.resolution, duration=action.duration)
    try:
        if action.kind == "generate":
            status, _video, _body = client.predict(*fields, api_name="/generate")
            return Outcome(True, status, rows_in(ledger), cost=cost_words(status))
        _gallery, note, _sheet, _cards = client.predict(
            *fields[:10], "seeds", 3, [], [], False, "", "v1", api_name="/variations"
        )
    except Exception as exc:  # gradio_client's AppError: the toast's words
        return Outcome(False, str(exc), rows_in(ledger))
    return Outcome(True, note, rows_in(ledger), rows=table_words(note))


def card_words(cards: str) -> dict[str, tuple[str, str]]:
    """Each History card's prompt -> (state, cost): the facts are state · settings · cost ·
    time."""
    found = {}
    for card in re.findall(r'<li class="pxui-card".*?</li>', cards, flags=re.S):
        prompt = re.search(r'<p class="pxui-prompt">(.*?)</p>', card, flags=re.S)
        facts = re.search(r'<p class="pxui-facts">(.*?)</p>', card, flags=re.S)
        assert prompt and facts, card
        parts = html.unescape(re.sub(r"<[^>]+>", "", facts[1])).split(" · ")
        found[html.unescape(prompt[1]).removeprefix("★ ")] = (word(parts[0]), parts[-2])
    return found


def table_words(note: str) -> tuple[str, ...]:
    """The state of each row of the batch's table (``| 1 | settings | ✓ done | 0:05 |``)."""
    cells = re.findall(r"^\| \d+ \| [^|]* \| ([^|]*) \| [^|]* \|$", note, flags=re.M)
    return tuple(word(cell) for cell in cells)


def on_mcp(action: Action, setup: Setup) -> Outcome:
    """The MCP tools, called by the official client as an agent would (no key header: the host's
    key, or the simulator)."""
    demo, _, ledger = setup.launch_app(SPEED, mcp=True)
    if action.kind == "items":
        seed_items(ledger)
    arguments: dict[str, Any] = {"prompt": PROMPT, "resolution": action.resolution}
    if action.kind == "generate":
        tool, arguments = "generate", {**arguments, "duration": action.duration}
    elif action.kind == "batch":
        tool, arguments = "variations", {**arguments, "count": 3}
    else:
        tool, arguments = "list_history", {}

    async def call(mcp: Any) -> Any:
        return await mcp.call_tool(tool, arguments)

    result = with_mcp(demo, call)
    text = "\n".join(getattr(part, "text", "") for part in result.content)
    if result.isError:
        return Outcome(False, text, rows_in(ledger))
    if action.kind == "items":
        _gallery, _ids, cards = ast.literal_eval(text)
        return Outcome(True, cards, items=card_words(cards))
    if action.kind == "generate":
        status = ast.literal_eval(text)[0]
        return Outcome(True, status, rows_in(ledger), cost=cost_words(status))
    _gallery, note, _sheet, _cards = ast.literal_eval(text)
    return Outcome(True, note, rows_in(ledger), rows=table_words(note))


def on_cli(action: Action, setup: Setup) -> Outcome:
    """``pixverse-ui`` in this process, with its own owner rule, client and ledger (nothing of
    it swapped): ``generate`` and ``list``."""
    ledger = default_ledger()
    if action.kind == "items":
        seed_items(ledger)
        code, out, err = run_cli(setup, "list")
        assert code == 0, err
        return Outcome(True, out, items=listed_words(out))
    code, out, err = run_cli(
        setup, "generate", PROMPT, "--resolution", action.resolution,
        "--duration", str(action.duration),
    )  # fmt: skip
    said = f"{out}\n{err}"
    if code != 0:
        return Outcome(False, said, rows_in(ledger))
    return Outcome(True, said, rows_in(ledger), cost=cost_words(out))


def run_cli(setup: Setup, *argv: str) -> tuple[int, str, str]:
    setup.capsys.readouterr()
    code = cli.main(list(argv))
    out, err = setup.capsys.readouterr()
    return code, out, err


#: ``list``'s first line of a job: the star, the id, the state and the time.
_LISTED = re.compile(r"^[★ ] \S+  (.+?)  \d{4}-\d\d-\d\d \d\d:\d\d$")


def listed_words(out: str) -> dict[str, tuple[str, str]]:
    """Each job of ``pixverse-ui list``: its prompt (the next line) -> (state, the cost words
    of its facts line after that, a figure or the words for none, "" when it says nothing)."""
    lines = out.splitlines()
    found = {}
    for i, line in enumerate(lines):
        head = _LISTED.match(line)
        if head:
            prompt, facts = lines[i + 1].strip(), lines[i + 2]
            unknown = [w for w in ("nothing charged", "cost not known yet") if w in facts]
            found[prompt] = (word(head[1]), cost_words(facts) or "".join(unknown))
    return found


def on_library(action: Action, setup: Setup) -> Outcome:
    """``pixverse_ui.generate`` and the history view model, as the README uses them; what a
    ``Generation`` shows of itself (its ``_repr_html_``, what Jupyter draws)."""
    ledger = default_ledger()
    if action.kind == "items":
        seed_items(ledger)
        # the README's loop: print(item.ident, item.state.word, ..., item.cost_words())
        items = history(ledger, machine_owner(ledger))
        shown = {item.prompt: (item.state.word, item.cost_words()) for item in items}
        return Outcome(True, repr(shown), items=shown)
    try:
        video = pixverse_ui.generate(PROMPT, resolution=action.resolution, duration=action.duration)
    except pixverse_ui.PixVerseError as exc:
        return Outcome(False, exc.user_message, rows_in(ledger))
    shown = video._repr_html_()
    return Outcome(True, shown, rows_in(ledger), cost=cost_words(shown))


def on_notebook(action: Action, setup: Setup) -> Outcome:
    """``pixverse_ui.notebook`` outside a kernel (its plain lines): ``generate``,
    ``variations``, ``history``."""
    ledger = default_ledger()
    setup.capsys.readouterr()
    if action.kind == "items":
        seed_items(ledger)
        notebook.history()
        out = setup.capsys.readouterr().out
        return Outcome(True, out, items=notebook_history_words(out))
    try:
        if action.kind == "generate":
            notebook.generate(PROMPT, resolution=action.resolution, duration=action.duration)
        else:
            notebook.variations(PROMPT, "seed", count=3, resolution=action.resolution)
    except pixverse_ui.PixVerseError as exc:
        out = setup.capsys.readouterr().out
        return Outcome(False, f"{out}\n{exc.user_message}", rows_in(ledger))
    out = setup.capsys.readouterr().out
    if action.kind == "generate":
        done = [line for line in out.splitlines() if line.startswith("[done]")]
        return Outcome(True, out, rows_in(ledger), cost=cost_words(done[-1] if done else ""))
    return Outcome(True, out, rows_in(ledger), rows=notebook_rows(out))


def notebook_rows(out: str) -> tuple[str, ...]:
    """Each variant's last line of the batch table (``seed 123: [done] 100% · 0:05 · ...``)."""
    last: dict[str, str] = {}
    for value, state in re.findall(r"^seed (\d+): \[(.*?)\]", out, flags=re.M):
        last[value] = state
    return tuple(word(state) for state in last.values())


def notebook_history_words(out: str) -> dict[str, tuple[str, str]]:
    """Each line of ``notebook.history``: when · prompt · settings · state · cost · took ·
    video; the state is the part that starts with a state's icon."""
    found = {}
    for line in out.splitlines():
        parts = line.split(" · ")
        at = next(
            (i for i, part in enumerate(parts) if part[:1] in ICONS and part[1:2] == " "), None
        )
        if at is not None:
            found[parts[1].removeprefix("★ ")] = (word(parts[at]), parts[at + 1])
    return found


ADAPTERS: dict[str, Callable[[Action, Setup], Outcome]] = {
    "page": on_page,
    "mcp": on_mcp,
    "cli": on_cli,
    "library": on_library,
    "notebook": on_notebook,
}


# --- the test ------------------------------------------------------------------------------------


def differences(expect: Expect, got: Outcome) -> list[str]:
    """What ``got`` answers otherwise than ``expect``, each in a line."""
    found = []
    if got.started != expect.started:
        found.append(f"started {got.started}, expected {expect.started}")
    if expect.jobs is not None and got.jobs != expect.jobs:
        found.append(f"{got.jobs} ledger rows, expected {expect.jobs}")
    if expect.says and expect.says not in got.said:
        found.append(f"does not say {expect.says!r}")
    if expect.cost and got.cost != expect.cost:
        found.append(f"cost words {got.cost!r}, expected {expect.cost!r}")
    if expect.rows and got.rows != expect.rows:
        found.append(f"batch rows {got.rows!r}, expected {expect.rows!r}")
    if expect.items and got.items != expect.items:
        found.append(f"history items {got.items!r}, expected {expect.items!r}")
    return found


@pytest.mark.parametrize(("action", "face"), cases())
def test_every_face_answers_alike(action, face, launch_app, make_live_sim, capsys, monkeypatch):
    monkeypatch.setenv("PIXVERSE_UI_SIM_SPEED", SPEED)
    monkeypatch.setenv("COLUMNS", "200")  # `list` keeps each job's facts on one line
    monkeypatch.delenv("AIMLAPI_BASE_URL", raising=False)
    monkeypatch.setenv("PIXVERSE_UI_SIM_FAULTS", action.faults)
    if action.budget is None:
        monkeypatch.delenv("PIXVERSE_UI_DAILY_BUDGET", raising=False)
    else:
        monkeypatch.setenv("PIXVERSE_UI_DAILY_BUDGET", action.budget)
    if action.money == REAL:
        api = make_live_sim(api_keys=frozenset({REAL_KEY}), speed=float(SPEED))
        monkeypatch.setenv("AIMLAPI_KEY", REAL_KEY)
        monkeypatch.setenv("AIMLAPI_BASE_URL", api.url)
    got = ADAPTERS[face](action, Setup(launch_app, capsys))
    found = differences(action.expect, got)
    assert not found, f"{face} answers otherwise:\n" + "\n".join(found) + f"\nit said:\n{got.said}"
