"""What the server keeps for a browser session is freed when the page closes.

Pages are opened as a browser opens them (``benchmarks.sessions.Pages``): the page, its
heartbeat connection, the events its load starts; closing one ends its heartbeat, as closing the
tab does. Gradio's per-session tables are read in the app's process.
"""

from __future__ import annotations

import pytest
from support import wait_for

from benchmarks.sessions import Pages, resident_bytes
from pixverse_ui.ui import page as page_module
from pixverse_ui.ui.sessions import session_tables, tables_holding

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pandas, in Gradio


@pytest.fixture
def app(launch_app, tmp_path):
    """The page on the simulator, with its own Gradio cache folder."""
    demo, _, _ = launch_app(GRADIO_TEMP_DIR=str(tmp_path / "gradio"))
    return demo


def test_a_pages_state_is_kept_while_it_is_open_and_freed_when_it_closes(app):
    pages = Pages(app.local_url)
    assert pages.heartbeat, "the page opens no heartbeat: the server cannot know it closed"
    before = session_tables(app)
    with pages.page() as session:
        assert tables_holding(app, session), "an open page's session is kept nowhere"
    # Gradio hears of a closed heartbeat at its next beat (15 s), then runs the unload: a
    # generous bound, for a loaded machine. Other sessions (the test client's own) may come and
    # go meanwhile, so the check is on this session, and on no table having grown.
    try:
        wait_for(lambda: not tables_holding(app, session), timeout=90)
    except AssertionError:
        kept = tables_holding(app, session)
        raise AssertionError(f"the closed page is still kept in {kept}") from None
    after = session_tables(app)
    assert all(after[name] <= before[name] for name in before), f"{after} grew from {before}"


def test_sessions_that_never_close_are_bounded(launch_app, tmp_path, monkeypatch):
    monkeypatch.setattr(page_module, "SESSIONS_KEPT", 5)
    demo, _, _ = launch_app(GRADIO_TEMP_DIR=str(tmp_path / "gradio"))
    pages = Pages(demo.local_url)
    for _ in range(8):  # API callers: no heartbeat, so no end the server hears of
        with pages.page(heartbeat=False):
            pass
    assert len(demo.state_holder.session_data) == 5


@pytest.mark.slow
def test_after_1000_sessions_have_ended_the_per_session_tables_are_back_to_their_size(app, figures):
    pages = Pages(app.local_url)
    pages.visit()  # Gradio's own lazy caches fill on the first
    wait_for(lambda: session_tables(app)["states"] == 0, timeout=30)
    before, memory = session_tables(app), resident_bytes()
    for _ in range(1000):
        pages.visit()
    wait_for(lambda: session_tables(app) == before, timeout=120)
    figures["sessions left of 1,000 closed"] += session_tables(app)["states"]
    figures["kB grown over 1,000 sessions"] += (resident_bytes() - memory) // 1024


@pytest.mark.browser
def test_closing_the_tab_frees_what_the_server_kept_for_it(app, open_page):
    page = open_page(app.local_url)  # the page's load and its events have run
    assert len(app.state_holder.session_data) == 1
    page.close()
    wait_for(lambda: not any(session_tables(app).values()), timeout=60)


def test_an_event_that_answers_after_the_page_closed_is_forgotten_too(app):
    """The page's timer ticks every few seconds: a tick sent as the tab closes may reach the
    server after the unload freed the session, and Gradio keeps the session again for it. The
    session is forgotten once more, a little later."""
    import requests

    tick = next(i for i, f in app.fns.items() if getattr(f.fn, "__name__", "") == "tick")
    pages = Pages(app.local_url)
    with pages.page() as session:
        pass
    wait_for(lambda: session not in app.state_holder.session_data, timeout=30)
    late = requests.post(  # the tick that was on its way when the tab closed
        f"{app.local_url}gradio_api/run/predict",
        json={"fn_index": tick, "data": [None, None, None, None], "session_hash": session},
        timeout=30,
    )
    assert late.status_code == 200, late.text
    assert session in app.state_holder.session_data  # kept again, for the late event
    wait_for(lambda: session not in app.state_holder.session_data, timeout=60)
