"""One generation, one value (``outcome.Generation``): an id always, the lifecycle's state, and the
provider's word as it said it, kept apart from what our own check found, in the ledger, in the
value, in History and in ``list --json``; and old ledgers' words of ours moved out of the
provider's column.

At the HTTP transport (``responses``) on a ManualClock, and on the ledger itself."""

import sqlite3

import pytest
import responses

from pixverse_ui import errors, validate
from pixverse_ui.client import Client
from pixverse_ui.history import HistoryItem
from pixverse_ui.jobs import Jobs, Watchers
from pixverse_ui.lifecycle import Status
from pixverse_ui.outcome import Generation
from pixverse_ui.polling import watch
from pixverse_ui.store import Ledger

BASE = "https://api.example.test"
URL = BASE + "/v2/video/generations"


@pytest.fixture
def client(clock):
    return Client(api_key="sk-unit", base_url=BASE, clock=clock)


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_the_providers_word_is_kept_as_it_came_and_our_404_finding_apart(
    client, ledger, http, tmp_path
):
    """A word new to us keeps its case and spaces; when the API then says it does not know the
    id, that is our check's finding, not a provider status, and the provider's last word
    stays."""
    ledger.adopt("g", owner="me", endpoint=client.label)
    assert ledger.get("g").status is None  # adopted: the provider has said nothing yet
    http.get(URL, json={"id": "g", "status": "Thinking Hard"})
    http.get(URL, status=404, json={"detail": "Generation g not found"})
    seen = []
    with pytest.raises(errors.BadRequestError):
        for update in watch("g", client=client, ledger=ledger, download_dir=tmp_path):
            seen.append(update)
    assert seen and {u.status for u in seen} == {"Thinking Hard"}
    assert "“Thinking Hard”" in seen[0].message
    row = ledger.get("g")
    assert (row.state, row.status, row.finding) == (Status.FAILED, "Thinking Hard", "not_found")
    made = Generation.from_record(row)
    assert (made.id, made.status, made.provider_status) == ("g", Status.FAILED, "Thinking Hard")
    assert made.finding == "not_found"
    item = HistoryItem.from_record(row)
    facts = item.facts()
    assert "the API said “Thinking Hard”" in facts and "our check found: not_found" in facts
    shown = item.to_json()
    assert (shown["status"], shown["finding"], shown["state"]) == (
        "Thinking Hard",
        "not_found",
        "failed",
    )


def test_an_answer_with_no_status_leaves_the_providers_word_empty(client, ledger, http, tmp_path):
    ledger.adopt("g", owner="me", endpoint=client.label)
    http.get(URL, json={"id": "g"})
    http.get(URL, json={"id": "g", "status": "error", "error": {"name": "E", "message": "no"}})
    seen = []
    with pytest.raises(errors.GenerationFailedError):
        for update in watch("g", client=client, ledger=ledger, download_dir=tmp_path):
            seen.append(update)
    assert seen[0].status == "" and seen[0].word == "running"  # shown as ours, kept as none
    assert "named no status" in seen[0].message
    assert ledger.get("g").status == "error"


def test_a_refused_start_is_one_generation_named_by_its_client_request_id(
    client, ledger, http, tmp_path
):
    """The API refuses the POST: nothing was made, the provider named no status, and the value
    has an id all the same, the client request id, told apart by ``generation_id``."""
    http.post(URL, status=400, json={"detail": "prompt refused"})
    with pytest.raises(errors.BadRequestError) as refused:
        Jobs(client, ledger, tmp_path, hub=Watchers()).submit(validate("a fox", resolution="360p"))
    crid = refused.value.client_request_id
    row = ledger.get(crid)
    assert (row.state, row.status, row.finding) == (Status.REJECTED, None, None)
    made = Generation.from_record(row)
    assert made.id == crid and made.generation_id is None and made.provider_status is None
    assert made.status is Status.REJECTED and made.params is not None and made.created_at
    shown = HistoryItem.from_record(row).to_json()
    assert shown["id"] is None and shown["status"] is None and shown["state"] == "rejected"


def test_an_old_ledgers_words_of_ours_leave_the_providers_column_once(tmp_path, clock):
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path, clock=clock)
    body = {"prompt": "p", "resolution": "540p", "duration": 5, "aspect_ratio": "16:9"}
    rows = {  # client request id: (state, what an older version wrote as the provider's word)
        "lost": (Status.FAILED, "not_found"),
        "adopted": (Status.RUNNING, "unknown"),
        "refused": (Status.REJECTED, "rejected"),
        "unanswered": (Status.UNCONFIRMED, "unconfirmed"),
        "sending": (Status.SUBMITTING, "submitting"),
        "said-failed": (Status.FAILED, "failed"),  # the provider's own word: it stays
        "made": (Status.DONE, "completed"),
    }
    for crid in rows:
        ledger.record(client_request_id=crid, owner="me", endpoint="simulator", body=body)
    ledger.close()
    db = sqlite3.connect(path)
    with db:
        for crid, (state, word) in rows.items():
            db.execute(
                "UPDATE jobs SET state = ?, status = ?, sender = 'elsewhere:1' "
                "WHERE client_request_id = ?",
                (state.value, word, crid),
            )
        db.execute("DELETE FROM meta WHERE key = 'provider_status_apart'")  # as before it was
    db.close()
    moved = {
        r.client_request_id: (r.status, r.finding) for r in Ledger(path, clock=clock).history()
    }
    assert moved == {
        "lost": (None, "not_found"),
        "adopted": (None, None),
        "refused": (None, None),
        "unanswered": (None, None),
        "sending": (None, None),
        "said-failed": ("failed", None),
        "made": ("completed", None),
    }
    # once: a word the provider says afterwards is its own, even one of those
    again = Ledger(path, clock=clock)
    again.update("adopted", status="unknown")
    assert Ledger(path, clock=clock).get("adopted").status == "unknown"


SIM_PRICED = "$0.28 (555,556 credits) (simulated: nothing is charged)"


@pytest.mark.parametrize(
    "case, endpoint, changes, words",
    [
        ("simulated", "simulator", {"credits_used": 555_556, "usd_spent": 0.277778}, SIM_PRICED),
        ("priced", "aimlapi", {"credits_used": 555_556}, "about $0.28 (555,556 credits)"),
        ("unknown", "aimlapi", {}, "cost not known yet"),
        ("refused", "aimlapi", None, "nothing charged"),
    ],
)
def test_one_generations_cost_is_one_sentence_in_every_view(ledger, case, endpoint, changes, words):
    """The cost of one generation, worded by the value itself, by History's item, by a step
    of its watch and by the page's status panel, is the same sentence: the simulator's label
    on pretend money, ``about`` on dollars converted from credits, and the words for none."""
    from pixverse_ui.polling import Update
    from pixverse_ui.ui.common import status_html

    body = validate("a red fox", resolution="360p").to_body()
    ledger.record(client_request_id="c", owner="me", endpoint=endpoint, body=body)
    if changes is None:
        ledger.update("c", state=Status.REJECTED, error="The API refused the request.")
    else:
        ledger.update("c", generation_id="g", state=Status.RUNNING, status="generating")
        ledger.update("c", **changes)
    made = Generation.from_record(ledger.get("c"))
    assert made.cost_words() == words
    assert HistoryItem.from_record(ledger.get("c")).cost_words() == words
    assert words in HistoryItem.from_record(ledger.get("c")).facts()
    step = Update.of(made, "working")  # a step carries the generation it is about
    assert step.cost_words() == words
    assert f"<b>{words}</b>" in status_html(step)
