"""What the page keeps up to date by itself (``ui/live.py``), on its handlers, without a server:
a reloaded page follows the running job to its video with no second POST, the strip of running
jobs, and History's mark that changes on a job's end and not on a poll.

The browser test of the same (``test_browser.py``) checks the wiring; this one the sentences.
"""

from __future__ import annotations

import asyncio

import gradio as gr
import pytest
from conftest import TEST_KEY
from support import advance_until, wait_for

from pixverse_ui import params
from pixverse_ui.lifecycle import Status
from pixverse_ui.store import Ledger
from pixverse_ui.ui import build_demo
from pixverse_ui.ui.common import caller
from pixverse_ui.ui.generate import GO_BUSY, GO_IDLE

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def live(tmp_path, monkeypatch, make_sim):
    """The page's LivePart on a private page whose host key reaches a simulator on the test's
    clock, and the simulator."""
    api = make_sim(speed=40)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("AIMLAPI_KEY", TEST_KEY)
    monkeypatch.setenv("AIMLAPI_BASE_URL", api.url)
    demo = build_demo(ledger=Ledger(tmp_path / "ledger.sqlite3"), download_dir=tmp_path / "v")
    tick = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "tick")
    return tick.__self__, api


def _follow(part) -> list[tuple]:
    """Everything ``reattach`` streams, to its end."""

    async def run():
        return [shown async for shown in part.reattach(None, None)]

    return asyncio.run(run())


def test_with_nothing_running_a_reload_changes_nothing(live):
    part, api = live
    [only] = _follow(part)
    assert all(value == gr.skip() for value in only)
    strip, key, mark = part.tick(None, None, None, None)
    assert (strip, key) == ("", [])
    assert part.tick(None, None, key, mark) == (gr.skip(), gr.skip(), gr.skip())
    assert api.stats()["posts"] == 0


def test_a_reloaded_page_follows_the_running_job_to_its_video_with_no_second_post(live, clock):
    part, api = live
    app = part.page.app
    who = caller(part.page, None, None, None, None)
    form = params.validate("a heron at dawn", resolution="360p", aspect_ratio="9:16")
    (job,) = app.start(who, [form])
    wait_for(lambda: job.last is not None, timeout=60)

    # the strip lists it; drawn again only when its status changes; History's mark moves
    strip, key, mark = part.tick(None, None, None, None)
    assert "1 job running" in strip and "a heron at dawn" in strip and "queued" in strip
    assert part.tick(None, None, key, mark) == (gr.skip(), gr.skip(), gr.skip())

    async def follow():
        shown = []
        async for outputs in part.reattach(None, None):
            shown.append(outputs)
            if len(shown) == 1:  # under way: the form is back, Generate says it is busy
                await asyncio.to_thread(advance_until, api, clock, "completed")
        return shown

    shown = asyncio.run(follow())
    status, video, body, go, stop, prompt, *_ = shown[0]
    assert "queued" in status and video is None and '"seed": ' in body
    assert (go["value"], go["interactive"], stop["interactive"]) == (GO_BUSY, False, True)
    assert prompt == "a heron at dawn"
    ready = [outputs for outputs in shown if "Your video is ready" in str(outputs[0])]
    assert ready and ready[-1][1] is not None  # the video, handed to the page
    *_, go, stop = shown[-1][:5]
    assert (go["value"], go["interactive"], stop["interactive"]) == (GO_IDLE, True, False)
    assert api.stats()["posts"] == 1 and app.ledger.get(job.id).state == Status.DONE

    strip, key, new_mark = part.tick(None, None, key, mark)
    assert (strip, key) == ("", []) and new_mark != mark  # History is drawn again
