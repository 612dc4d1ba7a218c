"""The notebook's history, compare, star, note and export outside a kernel (plain text), on a
real ledger: each is this key's only, and a foreign id reads as an unknown one."""

from __future__ import annotations

import pytest

from pixverse_ui import notebook, validate
from pixverse_ui.errors import ValidationError
from pixverse_ui.history import compare_params, history
from pixverse_ui.store import Ledger

KEY, OTHER = "sk-notebook-views-KEY-1", "sk-notebook-views-KEY-2"


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    for crid, seed, key in (("a", 1, KEY), ("b", 2, KEY), ("c", 3, OTHER)):
        body = validate("a red fox", resolution="360p", seed=seed).to_body()
        ledger.record(client_request_id=crid, owner=ledger.owner_of(key), endpoint="e", body=body)
        ledger.update(crid, generation_id=f"gen-{crid}", state="running")
        ledger.update(crid, state="failed", status="failed")
    return ledger


def test_compare_prints_the_parameters_marking_those_that_differ(ledger, capsys):
    items = notebook.compare("gen-a", "gen-b", ledger=ledger, api_key=KEY)
    assert [i.ident for i in items] == ["gen-a", "gen-b"]
    out = capsys.readouterr().out
    assert "≠ seed: 1 | 2" in out and "  prompt: a red fox | a red fox" in out
    assert [row.name for row in compare_params(items) if row.differs] == ["seed"]


@pytest.mark.parametrize("ids", [("gen-a",), ("gen-a", "gen-c"), ("gen-a", "gen-nope")])
def test_compare_needs_two_of_this_keys_generations(ledger, ids):
    with pytest.raises(ValidationError):
        notebook.compare(*ids, ledger=ledger, api_key=KEY)


def test_star_note_and_history_are_this_keys(ledger, capsys):
    notebook.star("gen-a", ledger=ledger, api_key=KEY)
    item = notebook.note("gen-a", "keep", ledger=ledger, api_key=KEY)
    assert item.starred and item.note == "keep"
    [shown] = notebook.history(starred=True, ledger=ledger, api_key=KEY)
    assert shown.ident == "gen-a"
    assert "★ a red fox — keep" in capsys.readouterr().out
    for call in (
        lambda: notebook.star("gen-c", ledger=ledger, api_key=KEY),
        lambda: notebook.note("gen-c", "mine", ledger=ledger, api_key=KEY),
        lambda: notebook.export("gen-c", ledger=ledger, api_key=KEY),
    ):
        with pytest.raises(ValidationError, match="no generation gen-c in this key's history"):
            call()
    assert not any(i.starred for i in history(ledger, ledger.owner_of(OTHER)))


def test_a_video_is_referenced_by_a_path_jupyter_serves(tmp_path):
    """Inside the notebook's folder: its relative path; in a hidden or outside folder (the
    ledger's ``~/.pixverse-ui``): linked into ``pixverse-videos/`` beside the notebook."""
    from pixverse_ui.notebook_files import video_href

    here = tmp_path / "work"
    (here / "clips").mkdir(parents=True)
    inside = here / "clips" / "a.mp4"
    inside.write_bytes(b"inside")
    hidden = tmp_path / ".pixverse-ui" / "videos" / "gen-b.mp4"
    hidden.parent.mkdir(parents=True)
    hidden.write_bytes(b"from the ledger's home")
    assert video_href(inside, here) == "clips/a.mp4"
    for _ in range(2):  # the second time finds its link
        assert video_href(hidden, here) == "pixverse-videos/gen-b.mp4"
    assert (here / "pixverse-videos" / "gen-b.mp4").samefile(hidden)


def test_the_history_tables_cost_reads_in_two_lines_at_most(tmp_path, monkeypatch):
    """A simulated job's cost in the notebook's table: the figure unbroken, then the simulator's
    label unbroken (a narrow column broke the words over five lines), and the same words as the
    plain output and every other face."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    body = validate("a red fox", resolution="360p").to_body()
    owner = ledger.owner_of(KEY)
    ledger.record(client_request_id="a", owner=owner, endpoint="simulator", body=body)
    ledger.update("a", generation_id="gen-a", state="running", credits_used=555_556)
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(notebook, "in_notebook", lambda: True)
    monkeypatch.setattr(notebook, "_show", lambda page, plain, *a, **k: shown.append(page))
    [item] = notebook.history(ledger=ledger, api_key=KEY)
    assert item.cost_words() == "about $0.28 (555,556 credits) (simulated: nothing is charged)"
    [page] = shown
    nowrap = "<span style='white-space:nowrap'>"
    assert (
        f"<td style='text-align:left;padding:2px 8px'>{nowrap}about $0.28 (555,556 credits)</span>"
        f" {nowrap}(simulated: nothing is charged)</span></td>"
    ) in page
