"""History and the image a job started from: the card shows it (a URL job only its host, in
words), a pick loads it back into the form so Generate sends the same image, and "Animate from
this frame" loads a picked video's first or last frame as the form's image, sending nothing;
Compare shows each image beside its video.

Driven through the page's handlers on a built (not served) app in simulator mode."""

from __future__ import annotations

import asyncio
import base64
import html
import re
from pathlib import Path

import gradio as gr
import pytest
from support import form, png_bytes, sim_posts

from pixverse_ui.images import read_frame
from pixverse_ui.simulator import embedded

URL = "https://pictures.example.com/fox.png?size=large"


@pytest.fixture
def page(tmp_path, monkeypatch):
    """(history part, generate part, ledger) of an app built over a ledger in ``tmp_path``."""
    from pixverse_ui.store import Ledger
    from pixverse_ui.ui import build_demo

    monkeypatch.setenv("PIXVERSE_UI_SIM_SPEED", "40")
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    demo = build_demo(ledger=ledger, download_dir=tmp_path / "videos")
    pick = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "pick")
    return pick.__self__, pick.__self__.generate, ledger


def run(generate, image, prompt="a red fox wakes") -> None:
    """The page's Generate with ``image`` (as the hidden image field holds it), to the end."""

    async def follow() -> None:
        async for _ in generate.generate(*form(prompt=prompt, aspect=None, image=image)):
            pass

    asyncio.run(follow())


def sent_image() -> str:
    return embedded().stats()["jobs"][-1]["body"]["image_url"]


def upload(path: Path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def pick(history, ident):
    ids = history.list_history(None, "v1")[1]
    event = gr.SelectData(None, {"index": ids.index(ident), "value": None})
    return dict(zip(history.pick_outputs, history.pick(ids, None, "v1", event, None), strict=True))


def test_a_card_shows_the_image_it_started_from_and_a_url_jobs_host(page, tmp_path):
    history, generate, ledger = page
    fox = tmp_path / "fox.png"
    fox.write_bytes(png_bytes(320, 180))
    run(generate, upload(fox))
    run(generate, URL, prompt="a heron")
    cards = history.list_history(None, "v1")[2]
    heron, from_file = re.findall(r'<li class="pxui-card".*?</li>', cards)
    # the ledger's copy, published in Gradio's cache (never a path under the home)
    [src] = re.findall(r'<img class="pxui-from" src="([^"]+)"', from_file)
    published = Path(html.unescape(src).removeprefix("gradio_api/file="))
    assert published.read_bytes() == fox.read_bytes()
    home = ledger.path.parent
    assert home not in published.parents, published
    assert 'width="56" height="31"' in from_file, from_file
    # a URL job: its host in words, nothing fetched, no picture of it
    assert "from an image at pictures.example.com" in heron
    assert 'pxui-from"' not in heron and "example.com/fox.png" not in heron


def test_a_pick_loads_the_image_back_and_generate_sends_the_same(page, tmp_path):
    history, generate, ledger = page
    fox = tmp_path / "fox.png"
    fox.write_bytes(png_bytes(320, 180, seed=2))
    run(generate, upload(fox))
    first = sent_image()
    run(generate, URL, prompt="a heron")
    [heron, fox_job] = [r.client_request_id for r in ledger.history()]

    loaded = pick(history, fox_job)
    assert loaded[generate.aspect] == {"__type__": "update", "value": None, "interactive": False}
    assert loaded[generate.image_url] == ""
    path = Path(loaded[generate.image_upload])
    assert path.read_bytes() == fox.read_bytes() and ledger.path.parent not in path.parents
    posts = sim_posts()
    run(generate, loaded[generate.image])
    assert sim_posts() == posts + 1
    assert sent_image() == first
    assert base64.b64decode(first.split(",", 1)[1]) == fox.read_bytes()
    assert "aspect_ratio" not in embedded().stats()["jobs"][-1]["body"]

    loaded = pick(history, heron)
    assert loaded[generate.image_upload] is None and loaded[generate.image_url] == URL
    run(generate, loaded[generate.image], prompt="a heron")
    assert sent_image() == URL


def test_a_text_job_picked_after_an_image_job_keeps_its_aspect_ratio(page, tmp_path):
    history, generate, ledger = page
    run(generate, URL)

    async def text_job() -> None:
        async for _ in generate.generate(*form(prompt="tall", aspect="9:16")):
            pass

    asyncio.run(text_job())
    tall = ledger.history()[0].client_request_id
    loaded = pick(history, tall)
    assert loaded[generate.image_upload] is None and loaded[generate.image] is None
    assert loaded[generate.aspect] == {"__type__": "update", "value": "9:16", "interactive": True}
    # the upload emptied by the pick: its change keeps the ratio the pick set
    _, aspect, note = generate.on_image(None, "", "9:16")
    assert aspect["value"] == "9:16" and aspect["interactive"] is True and not note["visible"]


@pytest.mark.parametrize("which", ["first", "last"])
def test_animate_from_this_frame_loads_the_frame_and_sends_nothing(page, tmp_path, which):
    from PIL import Image

    history, generate, ledger = page
    run(generate, URL)
    [job] = ledger.history()
    history.list_history(None, "v1")
    posts = sim_posts()
    said = history.animate(job.client_request_id, which, None, "v1")
    upload_path, url, image, note, aspect, line = said
    assert sim_posts() == posts, "animating only loads the form"
    frame = Image.open(upload_path).convert("RGB")
    expected = read_frame(job.video_path, which)
    assert frame.size == expected.size and frame.tobytes() == expected.tobytes()
    assert url == "" and image == upload(Path(upload_path)) and note["visible"] is True
    assert aspect == {"__type__": "update", "value": None, "interactive": False}
    assert f"The {which} frame of" in line and "Generate" in line
    assert ledger.path.parent not in Path(upload_path).parents
    # the same frame again is the same file, not another copy
    assert history.animate(job.client_request_id, which, None, "v1")[0] == upload_path


def test_animate_refuses_with_a_sentence(page):
    history, _, ledger = page
    unchanged = (gr.update(),) * 5
    assert history.animate("", "last", None, "v1") == (
        *unchanged,
        "Pick a video first, then animate from its frame.",
    )
    nobody = history.animate("no-such-job", "last", None, "v1")
    assert nobody[:5] == unchanged and "not" in nobody[5].lower()
    middle = history.animate("no-such-job", "middle", None, "v1")
    assert "'first' or the 'last'" in middle[5]


def compare_part(history):
    """The Compare tab's part of the same page (its ``compare`` event's handler)."""
    from pixverse_ui.ui.compare import ComparePart

    return ComparePart(history.page)  # the page both parts serve


def test_compare_shows_each_image_beside_its_video_headed_by_prompt_and_time(page, tmp_path):
    history, generate, ledger = page
    fox = tmp_path / "fox.png"
    fox.write_bytes(png_bytes(320, 180))
    run(generate, upload(fox), prompt="a red fox wakes in the snow")
    run(generate, URL, prompt="a heron")
    heron, from_file = [r.client_request_id for r in ledger.history()]
    compare = compare_part(history)

    def ticked(ids):
        view, tabs = compare.compare(None, "v1", gr.SelectData(None, {"index": 0, "value": ids}))
        assert tabs.selected == "compare"  # the tab opens to show it, or to say why not
        return view

    view = ticked([from_file, heron])
    assert view.count("<video") == 2
    # the file job: the ledger's copy beside its video, published (never a path of the home)
    [cell] = re.findall(
        rf'<figure class="pxui-compare-cell" data-id="{from_file}">.*?</figure>', view
    )
    [src] = re.findall(r'<img class="pxui-from" src="([^"]+)"', cell)
    published = Path(html.unescape(src).removeprefix("gradio_api/file="))
    assert published.read_bytes() == fox.read_bytes()
    assert ledger.path.parent not in published.parents
    # the URL job: its host in words beside it, nothing fetched (the URL is a parameter's text)
    assert "from an image at pictures.example.com" in view
    assert 'src="https://pictures' not in view and view.count("<img") == 1
    # the columns are headed by prompt and time, not by ids
    head = re.search(r"<thead>(.*?)</thead>", view, flags=re.S)[1]
    assert "a red fox wakes in the snow" in head and "a heron" in head and "UTC" in head
    assert from_file[:8] not in head

    # what the page's script refuses is refused here too: one, five, foreign, not a list
    assert "Tick two to four" in ticked([from_file])
    assert "Tick two to four" in ticked([from_file, heron, "a", "b", "c"])
    assert "Tick two to four" in ticked("not a list")
    assert "not" in ticked([from_file, "someone-elses"]).lower()
    assert "<video" not in ticked([from_file, from_file])  # the same one twice is one
