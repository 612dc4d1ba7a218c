"""The page as a prototyping workspace, in a real Chromium, at desktop and phone sizes.

A refusal that leaves the last video playing, Stop only while watching, the cost before and after
in dollars and credits, the budget that refuses the start that crosses it, posters, keeping
(star, note, search), comparing two generations playing together, exporting a zip whose script
makes the same request, and a phone's first screen with the prompt and Generate on it.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
import requests
from browser_support import (
    JOB_TIMEOUT,
    PHONE,
    fill_form,
    no_traceback,
    pick,
    plays,
    screenshot_path,
    status_log,
    toast,
    video_facts,
)
from conftest import TEST_KEY
from support import sim_posts

from pixverse_ui.defaults import SIMULATOR_KEY

try:
    from playwright.sync_api import Page, expect
except ImportError:  # pragma: no cover - browser_support.chromium() says so under CI
    Page = expect = None

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def make_video(page: Page, prompt: str, **settings: str) -> None:
    """Generate one 360p video from the page and wait until *it* is ready (the panel may still
    say so of the last one when the button is pressed)."""
    fill_form(page, prompt, resolution="360p", **settings)
    before = len(status_log(page))
    page.locator("#generate").click()
    page.wait_for_function(
        """(n) => window.__statusLog.slice(n).some((t) => t.includes('Sending'))
        && window.__statusLog[window.__statusLog.length - 1].includes('Your video is ready')""",
        arg=before,
        timeout=JOB_TIMEOUT,
    )


def history_tab(page: Page, name: str = "History") -> None:
    page.get_by_role("tab", name=name).click()


# --- the form and the result ------------------------------------------------------------------


def test_a_refused_input_says_why_and_leaves_the_last_video_playing(launch_app, open_page):
    demo, _, ledger = launch_app(speed="30")
    page = open_page(demo.local_url)
    make_video(page, "A heron lifting off a misty lake")
    before = video_facts(page)
    posts = sim_posts()

    page.locator("#prompt textarea").fill("")
    page.locator("#generate").click()
    panel = page.locator("#status-panel")
    expect(panel).to_contain_text("The prompt is empty")
    expect(panel).to_contain_text("Nothing was sent")
    toast = page.get_by_test_id("toast-body").first
    expect(toast).to_contain_text("Could not generate: The prompt is empty")  # its own title
    # the last result is as it was: the same video, still playing, no error badge over it
    after = video_facts(page)
    assert after["src"] == before["src"] and after["error"] is None
    assert plays(page)
    expect(page.locator("#video")).not_to_contain_text("Error")
    assert sim_posts() == posts and len(ledger.history()) == 1
    no_traceback(page)


def test_stop_is_enabled_only_while_watching_and_generate_says_it_is_busy(launch_app, open_page):
    demo, _, _ = launch_app(speed="8")
    page = open_page(demo.local_url)
    go, stop = page.locator("#generate"), page.locator("#stop")
    expect(stop).to_be_disabled()
    expect(go).to_be_enabled()
    fill_form(page, "A lighthouse at dusk", resolution="360p")
    go.click()
    expect(page.locator("#status-panel")).to_contain_text("generating", timeout=JOB_TIMEOUT)
    expect(go).to_be_disabled()
    expect(go).to_have_text("Generating…")  # a second click is not silently ignored: it says so
    expect(stop).to_be_enabled()
    stop.click()
    expect(page.locator("#status-panel")).to_contain_text("Stopped watching")
    expect(stop).to_be_disabled()
    expect(go).to_be_enabled()
    expect(go).to_have_text("Generate")


def test_the_cost_is_shown_before_and_after_in_dollars_and_credits(launch_app, open_page):
    demo, _, ledger = launch_app(speed="30")
    page = open_page(demo.local_url)
    fill_form(page, "A paper boat in the rain", resolution="360p")
    note = page.locator("#cost-note")
    expect(note).to_contain_text("This video: about $0.28 (555,556 credits)")
    make_video(page, "A paper boat in the rain")
    panel = page.locator("#status-panel")
    expect(panel).to_contain_text(re.compile(r"about \$0\.28 \(555,556 credits\)"))
    expect(note).to_contain_text(  # the provider's dollars, the simulator's pretend ones
        "Spent today: $0.28 (555,556 credits) (simulated: nothing is charged)"
    )
    [record] = ledger.history()
    assert record.credits_used == 555_556


def test_the_daily_budget_refuses_the_start_that_crosses_it(launch_app, open_page, make_live_sim):
    # a key on the host: real money, as far as the page knows (the simulator's is never limited)
    api = make_live_sim(api_keys=frozenset({TEST_KEY}))
    demo, _, ledger = launch_app(
        PIXVERSE_UI_DAILY_BUDGET="0.50", AIMLAPI_KEY=TEST_KEY, AIMLAPI_BASE_URL=api.url
    )
    page = open_page(demo.local_url)
    make_video(page, "First of the day")
    note = page.locator("#cost-note")
    expect(note).to_contain_text("of $0.50; $0.22 left.")
    expect(note).not_to_contain_text("simulated")
    posts = api.stats()["posts"]
    page.locator("#prompt textarea").fill("Second of the day")
    page.locator("#generate").click()
    panel = page.locator("#status-panel")
    expect(panel).to_contain_text("would bring today's spending to $0.56")
    expect(panel).to_contain_text("over your daily limit of $0.50")
    assert api.stats()["posts"] == posts and len(ledger.history()) == 1
    no_traceback(page)


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
    from pixverse_ui.simulator.video import render_mp4
    from pixverse_ui.store import DONE, FAILED, RUNNING

    body = params.validate(prompt, resolution="360p", aspect_ratio=aspect_ratio).to_body()
    job = f"job-{len(ledger.history(limit=1000))}"
    owner = ledger.owner_of(SIMULATOR_KEY)  # whose history a private simulator page shows
    ledger.record(client_request_id=job, owner=owner, endpoint="simulator", body=body)
    ledger.update(job, state=RUNNING, generation_id=f"gen-{job}", status="queued")
    if failed:
        ledger.update(job, state=FAILED, status="error", error="the provider failed it")
    else:
        video = render_mp4(body, videos)
        ledger.update(job, state=DONE, status="completed", video_path=str(video))
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
    page = open_page(demo.local_url)
    older = PAGE_SIZE + 1  # with the four below: a page and five more
    for n in range(older):
        add_generation(ledger, f"An older take number {n}", failed=True)
    add_generation(ledger, f"<img src=x onerror=alert(1)> take {older}", failed=True)
    fox = add_generation(ledger, "A red fox in the snow", videos=video_cache)
    add_generation(ledger, "A blue whale under the ice", videos=video_cache, aspect_ratio="9:16")
    add_generation(ledger, "A heron at dawn", videos=video_cache, aspect_ratio="1:1")
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
    page = open_page(demo.local_url, viewport=PHONE, phone=True)
    add_generation(ledger, "A lighthouse in the rain", videos=video_cache)
    add_generation(ledger, "Unbroken" + "x" * 120 + " words", failed=True)
    tall = add_generation(ledger, "A waterfall, portrait", videos=video_cache, aspect_ratio="9:16")
    ledger.set_note(tall, ledger.owner_of(SIMULATOR_KEY), "keep the spray; " + "y" * 80)
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


# --- compare --------------------------------------------------------------------------------------


def test_two_generations_compare_side_by_side_playing_together(launch_app, open_page):
    demo, _, _ = launch_app(speed="100")
    page = open_page(demo.local_url)
    make_video(page, "A kite over the dunes", style="anime")
    make_video(page, "A kite over the dunes", style="clay")
    history_tab(page, "Compare")
    choices = page.locator("#compare-choices label")
    expect(choices).to_have_count(2)
    for i in range(2):
        choices.nth(i).click()
    page.locator("#compare").click()
    view = page.locator("#compare-view")
    expect(view.locator("video")).to_have_count(2)
    differs = view.locator("tr.pxui-differs")
    expect(differs).to_have_count(2)  # the style, and the seed each was given
    expect(differs.first).to_contain_text("style")
    expect(differs.last).to_contain_text("seed")
    view.locator(".pxui-play-all").click()
    page.wait_for_function(
        """() => { const v = [...document.querySelectorAll('#compare-view video')];
        return v.length === 2 && v.every((x) => x.currentTime > 0.5 && !x.paused); }""",
        timeout=15_000,
    )
    view.locator("video").first.evaluate("(v) => v.pause()")  # one pauses: both pause
    page.wait_for_function(
        "() => [...document.querySelectorAll('#compare-view video')].every((x) => x.paused)"
    )


# --- variations: the quote first, videos that play, "Use this one" ------------------------------


def set_count(page: Page, count: int) -> None:
    """Type ``count`` into the seeds slider's number box, as a person would."""
    box = page.locator("#count input[type=number]")
    box.fill(str(count))
    box.press("Enter")


def run_batch_and_use_the_second(page: Page, ledger) -> None:
    """Run the batch the tab describes; its videos play in place, each in its own shape, and
    the second's **Use this one** puts its seed into the form."""
    run = page.locator("#run-variations")
    run.click()
    expect(run).to_be_disabled()  # until the batch is over: one press, one batch
    cards = page.locator("#batch-view .pxui-batch-card")
    expect(cards).to_have_count(2, timeout=JOB_TIMEOUT)
    videos = page.locator("#batch-view video")
    expect(videos).to_have_count(2, timeout=JOB_TIMEOUT)
    page.wait_for_function(
        """() => [...document.querySelectorAll('#batch-view video')]
        .every((v) => v.readyState >= 1 && v.duration > 0)""",
        timeout=30_000,
    )
    for i in range(2):
        facts = videos.nth(i).evaluate(
            """async (v) => { v.muted = true; await v.play(); const box = v.getBoundingClientRect();
            return {w: v.videoWidth, h: v.videoHeight, bw: box.width, bh: box.height,
                    poster: v.poster}; }"""
        )
        assert (facts["w"], facts["h"]) == (640, 360), facts  # 360p 16:9
        assert facts["bw"] / facts["bh"] == pytest.approx(16 / 9, rel=0.02), facts
        assert ".poster.jpg" in facts["poster"]
    page.wait_for_function(
        "() => [...document.querySelectorAll('#batch-view video')].every((v) => v.currentTime > 0)"
    )
    expect(run).to_be_enabled(timeout=JOB_TIMEOUT)
    expect(page.locator("#contact-sheet a").first).to_be_visible()
    second = cards.nth(1)
    caption = second.locator("figcaption").inner_text()
    seed = re.search(r"#2 · seed (\d+)", caption).group(1)
    [record] = [
        r for r in ledger.history() if r.client_request_id == second.get_attribute("data-id")
    ]
    assert str(record.request["seed"]) == seed  # the card's seed is the one sent
    second.get_by_role("button", name="Use this one").click()
    expect(page.locator("#batch-used")).to_contain_text(f"seed {seed}")
    expect(toast(page).first).to_contain_text(f"seed {seed} into the form")  # seen on a phone
    page.get_by_role("button", name="Advanced").click()
    expect(page.locator("#seed input")).to_have_value(seed)


def test_variations_quote_before_run_then_play_in_place_and_use_one_on_desktop_and_phone(
    launch_app, open_page
):
    demo, _, ledger = launch_app(speed="30")
    page = open_page(demo.local_url, viewport=(1280, 900))
    phone = open_page(demo.local_url, viewport=PHONE, phone=True)  # used after the desktop's
    page.locator("#prompt textarea").fill("A teapot spinning")
    history_tab(page, "Variations")
    quote = page.locator("#batch-quote")
    # the quote is there as the tab opens, before Run, in dollars and credits (720p by default)
    expect(quote).to_contain_text(
        "These 3 videos: about $3.33 (6,666,666 credits) (simulated: nothing is charged) in all"
    )
    expect(quote).to_contain_text("Spent today: $0.00 (0 credits)")
    fill_form(page, "A teapot spinning", resolution="360p")  # the form's shape moves it
    expect(quote).to_contain_text("These 3 videos: about $0.83 (1,666,668 credits)")
    tick = page.locator("#batch-confirm")
    expect(tick).to_be_hidden()  # three need no tick
    set_count(page, 5)
    expect(quote).to_contain_text("These 5 videos: about $1.39 (2,777,780 credits)")
    expect(quote).to_contain_text("More than 4 generations at once need the tick below.")
    expect(tick).to_be_visible()
    set_count(page, 2)
    expect(quote).to_contain_text("These 2 videos: about $0.56 (1,111,112 credits)")
    expect(tick).to_be_hidden()
    run_batch_and_use_the_second(page, ledger)
    expect(quote).to_contain_text("Spent today: $0.56 (1,111,112 credits)")  # the batch's cost
    link = page.locator("#contact-sheet a").first
    sheet = requests.get(requests.compat.urljoin(demo.local_url, link.get_attribute("href")))
    assert sheet.content[:8] == b"\x89PNG\r\n\x1a\n"
    no_traceback(page)

    # the same on a phone: the quote first, then the batch, and nothing wider than the screen
    fill_form(phone, "A teapot spinning on a phone", resolution="360p")
    history_tab(phone, "Variations")
    expect(phone.locator("#batch-quote")).to_contain_text(
        re.compile(r"These 3 videos: about \$0\.83 \(1,666,668 credits\)")
    )
    set_count(phone, 2)
    run_batch_and_use_the_second(phone, ledger)
    width = PHONE[0]
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= width
    widest = phone.evaluate(
        """() => Math.max(...[...document.querySelectorAll('#batch-view *, #batch-quote')]
        .map((el) => el.getBoundingClientRect().right))"""
    )
    assert widest <= width, widest


# --- a phone's first screen -------------------------------------------------------------------


def test_on_a_phone_the_prompt_and_generate_are_on_the_first_screen(launch_app, open_page):
    demo, _, _ = launch_app(speed="30")
    page = open_page(demo.local_url, viewport=PHONE, phone=True)
    width, height = PHONE
    for selector in ("#prompt textarea", "#generate"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["y"] + box["height"] <= height, (selector, box)
    # nothing scrolls sideways: the examples wrap
    wide = page.evaluate(
        """() => [...document.querySelectorAll('#examples, #examples table')]
        .some((el) => el.scrollWidth > el.clientWidth + 1)"""
    )
    assert not wide
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 1
    # the examples sit in the form, after Generate and the settings, before the workspace
    generate = page.locator("#generate").bounding_box()
    examples = page.locator("#examples").bounding_box()
    tabs = page.get_by_role("tab", name="History").bounding_box()
    assert generate and examples and tabs and generate["y"] < examples["y"] < tabs["y"]
    make_video(page, "A phone-sized fox")
    facts = video_facts(page)
    assert facts["error"] is None and facts["width"] == 640
    expect(page.locator("#mode-banner")).to_contain_text("the same as pixverse-ui list")
    # while a job runs, its status is right under Generate, before the settings
    status = page.locator("#status-panel").bounding_box()
    negative = page.locator("#negative-prompt").bounding_box()
    button = page.locator("#generate").bounding_box()
    assert status and negative and button and button["y"] < status["y"] < negative["y"]
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=screenshot_path("screenshot-phone.png"))  # the README's phone picture
    # no tab scrolls sideways, with a video in each
    for tab in ("History", "Compare", "Variations"):
        page.get_by_role("tab", name=tab).click()
        expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= width + 1, (tab, wide)
