"""What the page keeps up to date by itself (``ui/live.py``), on its handlers, without a server:
a reloaded page follows the running job to its video with no second POST, the strip of running
jobs, and History's mark that changes on a job's end and not on a poll.

The browser test of the same (``test_browser.py``) checks the wiring; this one the sentences.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import gradio as gr
import pytest
from conftest import TEST_KEY
from PIL import Image
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


#: What a fresh page's form sends its load: no aspect ratio yet, the default resolution and
#: duration.
FORM = (None, params.DEFAULT_RESOLUTION, params.DEFAULT_DURATION)


def _follow(part) -> list[tuple]:
    """Everything ``reattach`` streams, to its end."""

    async def run():
        return [shown async for shown in part.reattach(None, None, *FORM)]

    return asyncio.run(run())


def test_with_nothing_running_the_load_readies_the_form_in_one_answer(live):
    part, api = live
    g = part.generate
    [only] = _follow(part)
    status, video, body, go, stop, *rest = only
    form, rest = rest[: len(g.form)], rest[len(g.form) :]
    image, (strip, key, quote) = rest[: len(g.image_fields)], rest[len(g.image_fields) :]
    assert image == [gr.skip()] * len(g.image_fields)  # an image chosen meanwhile stays
    # the first screen with a form: ready, Generate enabled, 16:9 and its price
    assert "Ready" in status and "pxui-loading" not in status
    assert (go["value"], go["interactive"], stop["interactive"]) == (GO_IDLE, True, False)
    aspect = form[g.form.index(g.aspect)]
    assert aspect == "16:9"
    assert (strip, key) == ("", []) and "credits" in quote
    others = [value for field, value in zip(g.form, form, strict=True) if field is not g.aspect]
    assert (video, body, *others) == (gr.skip(),) * (2 + len(others))  # nothing else moves
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
        async for outputs in part.reattach(None, None, *FORM):
            shown.append(outputs)
            if len(shown) == 1:  # under way: the form is back, Generate says it is busy
                await asyncio.to_thread(advance_until, api, clock, "completed")
        return shown

    shown = asyncio.run(follow())
    status, video, body, go, stop, prompt, *_ = shown[0]
    assert "queued" in status and video is None and '"seed": ' in body
    assert (go["value"], go["interactive"], stop["interactive"]) == (GO_BUSY, False, True)
    assert prompt == "a heron at dawn"
    # in the same answer: the strip with its one clock, and the quote of the job's settings
    *_, strip, _key, quote = shown[0]
    assert "1 job running" in strip and f'data-job="{job.id}"' in strip
    assert quote == part.generate.price("9:16", "360p", 5, None, None)
    assert f'data-job="{job.id}"' in status  # what "Watch again" would follow
    ready = [outputs for outputs in shown if "Your video is ready" in str(outputs[0])]
    assert ready and ready[-1][1] is not None  # the video, handed to the page
    *_, go, stop = shown[-1][:5]
    assert (go["value"], go["interactive"], stop["interactive"]) == (GO_IDLE, True, False)
    assert api.stats()["posts"] == 1 and app.ledger.get(job.id).state == Status.DONE

    strip, key, new_mark = part.tick(None, None, key, mark)
    assert (strip, key) == ("", []) and new_mark != mark  # History is drawn again


@pytest.mark.parametrize("source", ["file", "url"])
def test_a_reloaded_page_brings_a_running_image_jobs_image_back(live, clock, tmp_path, source):
    """A reload while an image-to-video job runs: the image comes back into the form with the
    other settings (an uploaded RGBA PNG as its own bytes, a URL as given), the aspect ratio is
    left out and disabled, and the note says the image decides the shape."""
    part, api = live
    app = part.page.app
    who = caller(part.page, None, None, None, None)
    fox = tmp_path / "fox.png"
    Image.new("RGBA", (320, 180), (250, 120, 20, 90)).save(fox)
    given = str(fox) if source == "file" else "https://example.com/fox.png?size=large"
    form = params.validate("the fox looks up", resolution="360p", image=given)
    (job,) = app.start(who, [form])
    wait_for(lambda: job.last is not None, timeout=60)

    async def follow():
        shown = []
        async for outputs in part.reattach(None, None):
            shown.append(outputs)
            if len(shown) == 1:
                await asyncio.to_thread(advance_until, api, clock, "completed")
        return shown

    first = asyncio.run(follow())[0]
    form_fields = first[5 : 5 + 10]
    upload, url, image, note = first[15:19]
    assert form_fields[0] == "the fox looks up" and form_fields[3] == "360p"
    assert form_fields[2] == gr.update(value=None, interactive=False)
    assert note == gr.update(visible=True)
    if source == "file":
        assert Path(upload).read_bytes() == fox.read_bytes() and url == ""
        assert image["path"] == upload
    else:
        assert (upload, url, image) == (None, given, given)
    assert first[-1] == part.generate.price(None, "360p", 5, None, None, image)  # its own shape
    assert api.stats()["posts"] == 1


def test_watch_again_follows_the_stopped_job_to_its_video_and_no_one_elses(live, clock):
    part, api = live
    g = part.generate
    app = part.page.app
    who = caller(part.page, None, None, None, None)
    (job,) = app.start(who, [params.validate("an owl at dusk", resolution="360p")])
    wait_for(lambda: job.last is not None, timeout=60)
    panel, go, stop, again = g.stopped(f'<div data-job="{job.id}">')
    assert "Stopped watching" in panel and f'data-job="{job.id}"' in panel
    assert again["visible"] is True and go["interactive"] is True

    async def watch(shown_panel):
        shown = []
        async for outputs in part.watch_again(shown_panel, None, None):
            shown.append(outputs)
            if len(shown) == 1:
                await asyncio.to_thread(advance_until, api, clock, "completed")
        return shown

    shown = asyncio.run(watch(panel))
    status, _video, _body, go, stop, again = shown[0]
    assert (go["interactive"], stop["interactive"], again["visible"]) == (False, True, False)
    # the stopped run's end, heard late (a busy machine): Stop stays on while Watch again follows
    assert g.idle_unless_watching(status) == (gr.skip(), gr.skip())
    assert g.idle_unless_watching(panel) == g.idle()  # Stop's own panel: nothing followed
    assert any(outputs[1] is not None and "ready" in str(outputs[0]) for outputs in shown)
    assert shown[-1][3]["interactive"] is True  # Generate again at the end
    assert api.stats()["posts"] == 1  # the same job: nothing sent but polls

    # a panel naming an id that is not the caller's: a sentence, nothing followed
    [refused] = asyncio.run(watch('<div data-job="someone-elses-id">'))
    assert "no job of yours" in refused[0] and refused[5]["visible"] is False
    assert g.stopped("<p>Sending…</p>")[3]["visible"] is False  # nothing named: nothing offered
