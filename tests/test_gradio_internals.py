"""The Gradio internals the app relies on (``pixverse_ui/ui/gradio_internals.py``) are still there
on the pinned Gradio; an upgrade that changes one fails here, with a sentence naming it."""

from __future__ import annotations

import types

import gradio as gr
import pytest

from pixverse_ui.store import Ledger
from pixverse_ui.ui import gradio_internals
from pixverse_ui.ui.common import event_value


@pytest.fixture
def demo(tmp_path, monkeypatch):
    monkeypatch.delenv("AIMLAPI_KEY", raising=False)
    monkeypatch.setenv("PIXVERSE_UI_HOME", str(tmp_path / "home"))
    from pixverse_ui.ui import build_demo

    return build_demo(ledger=Ledger(tmp_path / "ledger.sqlite3"), download_dir=tmp_path / "videos")


def test_every_internal_the_app_relies_on_is_there_on_this_gradio(demo):
    gradio_internals.check(demo)
    tables = gradio_internals.session_tables(demo)
    assert tables == {"states": 0, "last used": 0, "message queues": 0, "event id sets": 0}


def test_a_changed_internal_is_named_in_a_sentence(demo, monkeypatch):
    monkeypatch.setattr(demo, "state_holder", types.SimpleNamespace(lock=None), raising=False)
    with pytest.raises(gradio_internals.GradioChanged, match=r"state_holder\.session_data"):
        gradio_internals.check(demo)
    monkeypatch.undo()
    monkeypatch.setattr(demo._queue, "sleep_when_free", None)
    with pytest.raises(gradio_internals.GradioChanged, match="no longer sleeps by sleep_when"):
        gradio_internals.check(demo)
    monkeypatch.undo()
    monkeypatch.setattr(gradio_internals, "SKIP_REACHABILITY_CHECK", {"_no_such_switch": False})
    with pytest.raises(gradio_internals.GradioChanged, match="_no_such_switch"):
        gradio_internals.check(demo)


def test_a_page_builds_one_fastapi_app_the_one_its_launch_serves(tmp_path, monkeypatch):
    """Gradio would build four (as the Blocks is made, as its ``with`` ends, at ``queue()``
    and at launch); and its idle queue looks for work every 20 ms, not every 1 ms."""
    import requests
    from gradio import routes
    from support import free_port

    from pixverse_ui.ui import build_demo, launch_options

    built = []
    made = routes.App.__init__

    def counted(self, *args, **kwargs):
        built.append(self)
        made(self, *args, **kwargs)

    monkeypatch.setattr(routes.App, "__init__", counted)
    monkeypatch.setenv("PIXVERSE_UI_HOME", str(tmp_path / "home"))
    demo = build_demo(ledger=Ledger(tmp_path / "ledger.sqlite3"), download_dir=tmp_path / "v")
    assert built == [] and demo.app is None, (
        f"Gradio {gr.__version__} built {len(built)} FastAPI apps for a page that was not "
        "launched: app_made_at_launch no longer skips them (gradio_internals.py)"
    )
    assert (demo._queue.sleep_when_free, demo._queue.progress_update_sleep_when_free) == (
        gradio_internals.IDLE_QUEUE_SLEEP,
        gradio_internals.PROGRESS_SLEEP,
    )
    demo.launch(
        **launch_options(
            demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port()
        )
    )
    try:
        assert built == [demo.app], f"launch built {len(built)} apps, not the one it serves"
        assert requests.get(demo.local_url, timeout=30).status_code == 200
        assert requests.get(demo.local_url + "gradio_api/info", timeout=30).status_code == 200
    finally:
        demo.close()


def test_a_component_copy_passes_its_input_through_only_when_asked(demo):
    """On the page's own components (``strict_input`` patches their classes as the page is
    built), and on a class of its own, whose parent's patch does not stand for its own."""
    gr.Textbox(elem_id="prompt")  # a copy Gradio makes for a session has the same elem_id
    assert gr.Textbox(elem_id="prompt").preprocess(["not", "text"]) == ["not", "text"]
    assert gr.Textbox(elem_id="somebody-elses").preprocess(12) == "12"  # Gradio's conversion

    class Parent:
        def __init__(self, elem_id: str) -> None:
            self.elem_id = elem_id

        def preprocess(self, payload):
            return str(payload)

    class Child(Parent):
        pass

    gradio_internals.pass_input_through(Parent, lambda c: c.elem_id == "raw")
    gradio_internals.pass_input_through(Child, lambda c: c.elem_id == "child-raw")
    assert Parent("raw").preprocess([1]) == [1] and Parent("x").preprocess([1]) == "[1]"
    assert Child("child-raw").preprocess([2]) == [2]


def test_a_custom_events_data_is_read_by_its_public_attributes():
    assert event_value(gr.EventData(None, {"id": "abc"}), "id") == "abc"
    assert event_value(gr.EventData(None, {"id": 7}), "id") is None  # not text
    assert event_value(gr.EventData(None, None), "id") is None  # no data at all
    assert event_value(gr.EventData(None, "id"), "id") is None
    assert event_value(None, "id") is None
