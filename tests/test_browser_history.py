"""History in a real Chromium: stills, keeping (star, note, search), paging, export, the seed
that a blank field picks, and History as cards on a phone. Split from
``test_browser_workspace.py`` so that the two run in parallel processes."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import requests
from browser_support import (
    PHONE,
    history_tab,
    make_video,
    no_traceback,
    pick,
)

from pixverse_ui.defaults import SIMULATOR_KEY

try:
    from playwright.sync_api import Page, expect
except ImportError:  # pragma: no cover - browser_support.chromium() says so under CI
    Page = expect = None

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


# --- the history: posters, keep, export --------------------------------------------------------


def test_history_shows_stills_and_finds_by_text_star_and_note(launch_app, open_page):
    demo, _, ledger = launch_app(speed="30")
    page = open_page(demo.local_url)
    make_video(page, "A red fox in the snow")
    make_video(page, "A blue whale under the ice")
    gallery = page.locator("#history-gallery")
    expect(gallery.locator("img")).to_have_count(2)  # stills, not blank players
    assert gallery.locator("video").count() == 0
    src = gallery.locator("img").first.get_attribute("src") or ""
    assert ".poster.jpg" in src

    gallery.locator("button.thumbnail-item", has_text="red fox").click()
    expect(page.locator("#picked-note")).to_contain_text("Loaded")
    page.locator("#star-toggle input").check()
    expect(page.locator("#picked-note")).to_contain_text("Starred")
    page.locator("#note textarea").fill("the light is right; try seed 4")
    page.locator("#save-note").click()
    expect(page.locator("#picked-note")).to_contain_text("Note saved")
    expect(page.locator("#history-table")).to_contain_text("try seed 4")

    page.locator("#history-starred input").check()
    expect(gallery.locator("img")).to_have_count(1)
    expect(gallery).to_contain_text("red fox")
    page.locator("#history-starred input").uncheck()
    expect(gallery.locator("img")).to_have_count(2)
    search = page.locator("#history-search textarea")
    search.fill("seed 4")  # words of the note find it too
    search.press("Enter")
    expect(gallery.locator("img")).to_have_count(1)
    search.fill("whale")
    search.press("Enter")
    expect(gallery.locator("img")).to_have_count(1)
    expect(gallery).to_contain_text("blue whale")
    starred = [r for r in ledger.history() if r.starred]
    assert [r.prompt for r in starred] == ["A red fox in the snow"]
    assert starred[0].note == "the light is right; try seed 4"


def test_export_gives_a_zip_of_the_video_and_the_request_it_sent(launch_app, open_page, tmp_path):
    from pixverse_ui.simulator import embedded

    demo, _, _ = launch_app(speed="30")
    page = open_page(demo.local_url)
    make_video(page, "An export of a kite festival", style="clay")
    page.locator("#history-gallery button.thumbnail-item").first.click()
    # as a person does: Export once the line above it names the video it acts on
    expect(page.locator("#acting-on")).to_contain_text("An export of a kite festival")
    page.locator("#export").click()
    link = page.locator("#export-file a").first
    expect(link).to_be_visible()
    href = link.get_attribute("href") or ""
    answer = requests.get(requests.compat.urljoin(demo.local_url, href), timeout=30)
    assert answer.status_code == 200
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        names = sorted(archive.namelist())
        assert len(names) == 4 and {"request.json", "reproduce.py", "reproduce.sh"} < set(names)
        [mp4] = [n for n in names if n.endswith(".mp4")]
        archive.extractall(tmp_path)
    body = json.loads((tmp_path / "request.json").read_text())
    assert body["prompt"] == "An export of a kite festival" and body["style"] == "clay"
    assert isinstance(body["seed"], int) and 0 <= body["seed"] < 2**31  # the app picked it
    assert body == embedded().stats()["jobs"][-1]["body"]  # exactly what the page sent
    assert (tmp_path / mp4).read_bytes()[4:8] == b"ftyp"
    # running reproduce.py and reproduce.sh against the simulator: tests/test_export.py
    assert '"AIMLAPI_KEY"' in (tmp_path / "reproduce.py").read_text()


def test_opening_advanced_changes_nothing_and_a_blank_seed_is_picked_and_shown(
    launch_app, open_page
):
    from pixverse_ui.simulator import embedded

    demo, _, ledger = launch_app(speed="30")
    page = open_page(demo.local_url)
    fields = ("#prompt textarea", "#negative-prompt textarea", "#resolution input", "#style input")
    before = {f: page.locator(f).input_value() for f in fields}
    page.get_by_role("button", name="Advanced").click()
    seed = page.locator("#seed input")
    expect(seed).to_be_visible()
    assert {f: page.locator(f).input_value() for f in fields} == before
    assert seed.input_value() == ""  # not 0: a number field with no value shows 0 and sends it
    make_video(page, "A seed left blank on a windmill")
    sent = embedded().stats()["jobs"][-1]["body"]
    assert isinstance(sent["seed"], int) and 0 < sent["seed"] < 2**31
    [record] = ledger.history()
    assert record.request["seed"] == sent["seed"] == record.provider_seed
    history_tab(page)
    expect(page.locator("#history-table")).to_contain_text(f"seed {sent['seed']}")


# --- history: cards, pages, and the pick that follows what is shown ------------------------------


def add_generation(
    ledger, prompt: str, *, videos=None, aspect_ratio: str = "16:9", failed: bool = False
) -> str:
    """A job of the private simulator page's person, written as the app writes one: done with a
    real MP4 rendered into ``videos``, or failed. Its client request id."""
    from pixverse_ui import params
    from pixverse_ui.lifecycle import Status
    from pixverse_ui.simulator.video import render_mp4

    body = params.validate(prompt, resolution="360p", aspect_ratio=aspect_ratio).to_body()
    job = f"job-{len(ledger.history(limit=1000))}"
    owner = ledger.owner_of(SIMULATOR_KEY)  # whose history a private simulator page shows
    ledger.record(client_request_id=job, owner=owner, endpoint="simulator", body=body)
    ledger.update(job, state=Status.RUNNING, generation_id=f"gen-{job}", status="queued")
    if failed:
        ledger.update(job, state=Status.FAILED, status="error", error="the provider failed it")
    else:
        video = render_mp4(body, videos)
        ledger.update(job, state=Status.DONE, status="completed", video_path=str(video))
    return job


def show_history(page: Page) -> None:
    """The History tab, drawn again from the ledger."""
    history_tab(page)
    page.locator("#refresh-history").click()


def test_a_search_then_a_star_stars_the_highlighted_item_and_pages_reach_every_one(
    launch_app, open_page, video_cache
):
    from pixverse_ui.ui.history import PAGE_SIZE

    demo, _, ledger = launch_app(speed="30")
    older = PAGE_SIZE + 1  # with the four below: a page and five more
    for n in range(older):  # written before the page opens (see the phone test below)
        add_generation(ledger, f"An older take number {n}", failed=True)
    add_generation(ledger, f"<img src=x onerror=alert(1)> take {older}", failed=True)
    fox = add_generation(ledger, "A red fox in the snow", videos=video_cache)
    add_generation(ledger, "A blue whale under the ice", videos=video_cache, aspect_ratio="9:16")
    add_generation(ledger, "A heron at dawn", videos=video_cache, aspect_ratio="1:1")
    page = open_page(demo.local_url)
    total = older + 4
    first = f"Generations 1–{PAGE_SIZE} of {total}, page 1 of 2"
    second = f"Generations {PAGE_SIZE + 1}–{total} of {total}, page 2 of 2"
    show_history(page)
    pager, cards = page.locator("#history-range"), page.locator("#history-table")
    expect(pager).to_contain_text(first)
    expect(cards).to_contain_text("<img src=x onerror=alert(1)> take")  # as text
    assert cards.locator("img[src='x']").count() == 0
    gallery = page.locator("#history-gallery")
    expect(gallery.locator("img")).to_have_count(3)  # the stills of the finished ones

    # pick the fox, third in the gallery; a search moves it to second: it stays picked there
    acting = page.locator("#acting-on")
    gallery.locator("button.thumbnail-item", has_text="red fox").click()
    expect(acting).to_contain_text("A red fox in the snow")
    search = page.locator("#history-search textarea")
    search.fill("the")
    search.press("Enter")
    expect(gallery.locator("img")).to_have_count(2)
    expect(gallery.locator("button.thumbnail-item").first).to_contain_text("blue whale")
    expect(gallery.locator("button.thumbnail-item.selected")).to_contain_text("red fox")
    expect(acting).to_contain_text("A red fox in the snow")
    page.locator("#star-toggle input").check()
    expect(page.locator("#picked-note")).to_contain_text("Starred")
    assert [r.client_request_id for r in ledger.history() if r.starred] == [fox]
    expect(cards.locator(".pxui-card", has_text="red fox")).to_contain_text("★")

    # every one is reached a page at a time; a filter starts again from the first page
    search.fill("")
    search.press("Enter")
    expect(pager).to_contain_text(first)
    expect(page.locator("#history-newer")).to_be_disabled()
    page.locator("#history-older").click()
    expect(pager).to_contain_text(second)
    expect(cards).to_contain_text("An older take number 0")
    expect(page.locator("#history-older")).to_be_disabled()
    pick(page, "history-period", "today")  # the same ones: only the page changes
    expect(pager).to_contain_text(first)
    page.locator("#history-older").click()
    expect(pager).to_contain_text(second)
    page.locator("#history-newer").click()
    expect(pager).to_contain_text(first)
    no_traceback(page)


def test_on_a_phone_history_is_cards_that_fit_the_screen(launch_app, open_page, video_cache):
    demo, _, ledger = launch_app(speed="30")
    width, _ = PHONE
    # written before the page opens: a page that loads while a seeded job is still "running"
    # here would watch it, and the simulator, which never made it, would fail it
    add_generation(ledger, "A lighthouse in the rain", videos=video_cache)
    add_generation(ledger, "Unbroken" + "x" * 120 + " words", failed=True)
    tall = add_generation(ledger, "A waterfall, portrait", videos=video_cache, aspect_ratio="9:16")
    ledger.set_note(tall, ledger.owner_of(SIMULATOR_KEY), "keep the spray; " + "y" * 80)
    page = open_page(demo.local_url, viewport=PHONE, phone=True)
    show_history(page)
    cards = page.locator("#history-table .pxui-card")
    expect(cards).to_have_count(3)
    expect(page.locator("#history-gallery img")).to_have_count(2)
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    for box in (cards.nth(i).bounding_box() for i in range(3)):
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    # the 9:16 still in its own shape, whole (not a cropped square), in the gallery too
    still = cards.filter(has_text="waterfall").locator("img.pxui-still")
    expect(still).to_be_visible()
    box = still.bounding_box()
    assert box is not None and abs(box["height"] / box["width"] - 16 / 9) < 0.05, box
    fits = page.locator("#history-gallery img").first.evaluate(
        "(i) => getComputedStyle(i).objectFit"
    )
    assert fits == "contain"
    no_traceback(page)
