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
    CARDS,
    PHONE,
    STILLS,
    history_card,
    history_tab,
    make_video,
    no_traceback,
    pick,
    pick_card,
    screenshot_path,
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
    cards, stills = page.locator(CARDS), page.locator(STILLS)
    expect(stills).to_have_count(2)  # stills, not blank players
    assert page.locator("#history-table video").count() == 0
    src = stills.first.get_attribute("src") or ""
    assert ".poster.jpg" in src
    # each generation once: one card, one picture, its prompt once in the whole tab
    tab = page.locator("#history-tab")
    expect(cards).to_have_count(2)
    expect(tab.locator("img")).to_have_count(2)
    expect(tab.get_by_text("A red fox in the snow")).to_have_count(1)

    pick_card(page, "red fox")
    expect(page.locator("#picked-note")).to_contain_text("Loaded")
    page.locator("#star-toggle input").check()
    expect(page.locator("#picked-note")).to_contain_text("Starred")
    page.locator("#note textarea").fill("the light is right; try seed 4")
    page.locator("#save-note").click()
    expect(page.locator("#picked-note")).to_contain_text("Note saved")
    expect(page.locator("#history-table")).to_contain_text("try seed 4")

    page.locator("#history-starred input").check()
    expect(stills).to_have_count(1)
    expect(cards).to_contain_text("red fox")
    page.locator("#history-starred input").uncheck()
    expect(stills).to_have_count(2)
    search = page.locator("#history-search textarea")
    expect(page.locator("#history-search")).to_contain_text("Searches as you type")
    search.fill("seed 4")  # words of the note find it too
    search.press("Enter")
    expect(stills).to_have_count(1)
    expect(cards).to_contain_text("red fox")
    search.fill("")
    search.press_sequentially("whale", delay=50)  # typed, no Enter: it searches once typing pauses
    expect(cards).to_contain_text("blue whale")
    expect(stills).to_have_count(1)
    expect(cards).not_to_contain_text("red fox")
    starred = [r for r in ledger.history() if r.starred]
    assert [r.prompt for r in starred] == ["A red fox in the snow"]
    assert starred[0].note == "the light is right; try seed 4"


def test_export_gives_a_zip_of_the_video_and_the_request_it_sent(launch_app, open_page, tmp_path):
    from pixverse_ui.simulator import embedded

    demo, _, _ = launch_app(speed="30")
    page = open_page(demo.local_url)
    make_video(page, "An export of a kite festival", style="clay")
    pick_card(page)
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
    stills = page.locator(STILLS)
    expect(stills).to_have_count(3)  # the stills of the finished ones

    # pick the fox, third of the cards; a search moves it to second: it stays picked there
    acting = page.locator("#acting-on")
    pick_card(page, "red fox")
    expect(acting).to_contain_text("A red fox in the snow")
    expect(cards.locator(".pxui-card.pxui-picked")).to_contain_text("red fox")
    search = page.locator("#history-search textarea")
    search.fill("the")
    search.press("Enter")
    expect(stills).to_have_count(2)
    expect(cards.locator(".pxui-card").first).to_contain_text("blue whale")
    expect(cards.locator(".pxui-card.pxui-picked")).to_have_count(1)
    expect(cards.locator(".pxui-card.pxui-picked")).to_contain_text("red fox")
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
    cards = page.locator(CARDS)
    expect(cards).to_have_count(3)
    expect(page.locator(STILLS)).to_have_count(2)
    expect(page.locator("#history-tab img")).to_have_count(2)  # each once: no second view
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    for box in (cards.nth(i).bounding_box() for i in range(3)):
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    # the 9:16 still in its own shape, whole (not a cropped square), nothing over it
    still = cards.filter(has_text="waterfall").locator("img.pxui-still")
    expect(still).to_be_visible()
    box = still.bounding_box()
    assert box is not None and abs(box["height"] / box["width"] - 16 / 9) < 0.05, box
    still.scroll_into_view_if_needed()
    fits = still.evaluate("(i) => getComputedStyle(i).objectFit")
    assert fits == "contain"
    on_top = still.evaluate(
        """(i) => { const r = i.getBoundingClientRect();
        return document.elementFromPoint(r.left + 4, r.top + 4) === i; }"""
    )
    assert on_top, "something covers the still's first row"
    no_traceback(page)


# --- compare: picked from History's cards -------------------------------------------------------


def tick(page: Page, words: str) -> None:
    """Tick a card's "compare" box, as a person does (a click on its label)."""
    history_card(page, words).locator(".pxui-tick").click()


def test_compare_picks_from_history_refuses_a_fifth_and_heads_columns_by_prompt_and_time(
    launch_app, open_page, video_cache
):
    demo, _, ledger = launch_app(speed="30")
    prompts = [f"Take {n}: a kite over the dunes" for n in range(1, 6)]
    for n, prompt in enumerate(prompts):  # written before the pages open
        add_generation(ledger, prompt, videos=video_cache, aspect_ratio="9:16" if n else "16:9")
    add_generation(ledger, "A take that failed", failed=True)
    for viewport, phone in (((1280, 900), False), (PHONE, True)):
        page = open_page(demo.local_url, viewport=viewport, phone=phone)
        show_history(page)
        cards = page.locator(CARDS)
        expect(cards).to_have_count(6)
        # a finished video has a tick; the failed one has nothing to compare
        expect(page.locator("#history-table .pxui-tick")).to_have_count(5)
        expect(history_card(page, "failed").locator(".pxui-tick")).to_have_count(0)
        bar = page.locator("#history-table .pxui-compare-bar")
        said, go = bar.locator(".pxui-compare-said"), bar.locator(".pxui-compare-go")
        expect(said).to_contain_text("Tick two to four finished videos")
        expect(go).to_be_disabled()
        for prompt in prompts[:4]:
            tick(page, prompt)
        expect(go).to_be_enabled()
        expect(go).to_have_text("Compare 4")
        # the fifth is refused at the tick, with a sentence; the four stay ticked
        tick(page, prompts[4])
        expect(said).to_contain_text("Compare shows at most four videos")
        fifth = history_card(page, prompts[4]).locator(".pxui-tick input")
        expect(fifth).not_to_be_checked()
        for prompt in prompts[:4]:
            expect(history_card(page, prompt).locator(".pxui-tick input")).to_be_checked()
        # a tick picks nothing: the form is as it was
        expect(page.locator("#acting-on")).to_contain_text("Pick a video")
        # untick one, tick the fifth: four again, the fifth among them
        tick(page, prompts[0])
        tick(page, prompts[4])
        expect(said).not_to_contain_text("at most")
        expect(fifth).to_be_checked()
        page.screenshot(path=screenshot_path(f"history-ticked-{viewport[0]}.png"), full_page=True)
        go.click()
        view = page.locator("#compare-view")
        expect(view.locator("video")).to_have_count(4)  # the Compare tab opened by itself
        expect(view).to_be_visible()
        heads = view.locator("thead th")
        expect(heads).to_have_count(5)
        for n, prompt in enumerate(prompts[1:], 1):  # in the order they were ticked
            expect(heads.nth(n)).to_contain_text(prompt[:30])
            expect(heads.nth(n)).to_contain_text("UTC")  # and when it was made
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
        page.screenshot(path=screenshot_path(f"compare-{viewport[0]}.png"), full_page=True)
        no_traceback(page)
