"""The Gradio internals the app relies on (``pixverse_ui/ui/gradio_internals.py``) are still there
on the pinned Gradio; an upgrade that changes one fails here, with a sentence naming it."""

from __future__ import annotations

import types
from pathlib import Path

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
    from gradio import brotli_middleware

    async def compresses_everything(self, message):  # as if Gradio ignored Content-Encoding
        if message["type"] == "http.response.body":
            message = {**message, "body": self._process(message["body"]) + self.br_file.finish()}
        elif message["type"] == "http.response.start":
            self.initial_message = message
            return
        await self.send(self.initial_message)
        await self.send(message)

    monkeypatch.setattr(
        brotli_middleware.BrotliResponder, "send_with_brotli", compresses_everything
    )
    with pytest.raises(gradio_internals.GradioChanged, match="already compressed"):
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
        _gradio_files_arrive_whole_from_one_compression(demo.local_url, monkeypatch)
    finally:
        demo.close()


def _gradio_files_arrive_whole_from_one_compression(url: str, monkeypatch) -> None:
    """A page's script, asked for by a browser twice, is Brotli-compressed once, and decodes to
    the file Gradio has (``asset_cache``, behind Gradio's own compression middleware)."""
    import re

    import brotli
    import requests
    from gradio.route_utils import BUILD_PATH_LIB

    from pixverse_ui.ui import asset_cache

    browser = {"Accept-Encoding": "gzip, deflate, br, zstd"}
    page = requests.get(url, headers=browser, timeout=30).text
    script = re.search(r'src="\.?/?assets/([^"]+\.js)"', page)
    assert script, "the page names no script under assets/"
    compressed = []
    encode = asset_cache._ENCODERS["br"]
    monkeypatch.setitem(
        asset_cache._ENCODERS, "br", lambda body: compressed.append(1) or encode(body)
    )
    monkeypatch.setattr(asset_cache, "COPIES", asset_cache._Copies())
    for _ in range(2):
        answer = requests.get(f"{url}assets/{script[1]}", headers=browser, stream=True, timeout=30)
        assert answer.headers["content-encoding"] == "br"
        raw = answer.raw.read()  # as sent, not decoded by requests
        original = (Path(BUILD_PATH_LIB) / script[1]).read_bytes()
        assert brotli.decompress(raw) == original
    assert len(compressed) == 1, f"the script was compressed {len(compressed)} times, not once"


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


def test_remembered_type_hints_are_each_handlers_own(demo):
    """After a page is built, Gradio gets a handler's hints as ``typing`` gives them, a bound
    method's as its function's, and each caller its own copy."""
    import typing

    from gradio import utils

    class Part:
        def handler(self, text: str, request: gr.Request) -> str:
            return text

    def plain(value: int) -> int:
        return value

    assert getattr(utils.get_type_hints, "remembers", False)
    for fn in (Part().handler, Part().handler, plain, plain):
        assert utils.get_type_hints(fn) == typing.get_type_hints(fn)
    first = utils.get_type_hints(plain)
    first["value"] = str
    assert utils.get_type_hints(plain)["value"] is int
    assert utils.is_special_typed_parameter("request", utils.get_type_hints(Part().handler))
