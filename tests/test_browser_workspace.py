"""The page as a prototyping workspace, in a real Chromium, at desktop and phone sizes.

A refusal that leaves the last video playing, Stop only while watching, the cost before and after
in dollars and credits, the budget that refuses the start that crosses it, comparing two
generations playing together, Variations, and a phone's first screen with the prompt and
Generate on it. History's tests are in ``test_browser_history.py``.
"""

from __future__ import annotations

import re

import pytest
import requests
from browser_support import (
    DESKTOP,
    DROPDOWNS,
    JOB_TIMEOUT,
    PHONE,
    compare_from_history,
    fill_form,
    history_tab,
    make_video,
    no_traceback,
    pick,
    plays,
    screenshot_path,
    toast,
    video_facts,
)
from conftest import TEST_KEY
from support import sim_posts

try:
    from playwright.sync_api import Page, expect
except ImportError:  # pragma: no cover - browser_support.chromium() says so under CI
    Page = expect = None

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


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
    # after: the provider's own dollars (no "about"), marked as the simulator's pretend money
    expect(panel).to_contain_text("$0.28 (555,556 credits) (simulated: nothing is charged)")
    expect(panel).not_to_contain_text("about $0.28")
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


# --- compare --------------------------------------------------------------------------------------


def test_two_generations_compare_side_by_side_playing_together(launch_app, open_page):
    demo, _, _ = launch_app(speed="100")
    page = open_page(demo.local_url)
    make_video(page, "A kite over the dunes", style="anime")
    make_video(page, "A kite over the dunes", style="clay", aspect_ratio="9:16")
    view = compare_from_history(page, 2)  # a tick on each of History's cards, then its Compare
    differs = view.locator("tr.pxui-differs")
    expect(differs).to_have_count(3)  # the style, the shape, and the seed each was given
    for name in ("style", "aspect_ratio", "seed"):
        expect(view.locator("tr.pxui-differs", has_text=name)).to_have_count(1)
    # the tall one is bounded: no video taller than most of the screen
    tallest, screen = page.evaluate(
        """() => [Math.max(...[...document.querySelectorAll('#compare-view video')]
            .map((v) => v.getBoundingClientRect().height)), window.innerHeight]"""
    )
    assert 0 < tallest <= 0.7 * screen + 1, (tallest, screen)
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
    # the strip of running jobs lets go of it as it lands
    expect(page.locator("#running-jobs")).not_to_contain_text("running")
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=screenshot_path("screenshot-phone.png"))  # the README's phone picture
    # no tab scrolls sideways, with a video in each
    shown_in = {
        "History": "#history-table", "Compare": "#compare-view",
        "Variations": "#run-variations", "Storyboard": "#sb-title",
    }  # fmt: skip
    for tab, inside in shown_in.items():
        history_tab(page, tab)  # through Gradio's "…" menu where the row has no room for it
        expect(page.locator(inside)).to_be_visible()
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= width + 1, (tab, wide)


# --- how the form looks ---------------------------------------------------------------------------


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_the_settings_share_one_baseline_and_their_words_fit(launch_app, open_page, phone):
    demo, _, _ = launch_app(speed="30")
    page = open_page(demo.local_url, viewport=PHONE if phone else DESKTOP, phone=phone)
    # 1080p: the duration says under its label what it does not offer; the longest style
    pick(page, "resolution", "1080p")
    expect(page.locator("#duration")).to_contain_text("1080p does not offer 8 s.")
    pick(page, "style", "cyberpunk")
    blocks = [page.locator(f"#{name}").bounding_box() for name in DROPDOWNS]
    boxes = [page.locator(f"#{name} input").bounding_box() for name in DROPDOWNS]
    assert len({round(block["height"]) for block in blocks}) == 1, blocks  # one height
    rows: dict[int, list[float]] = {}
    for block, box in zip(blocks, boxes, strict=True):
        rows.setdefault(round(block["y"]), []).append(box["y"] + box["height"])
    assert len(rows) == (2 if phone else 1), rows  # a phone has two rows of two
    for bottoms in rows.values():  # each row's boxes on one baseline
        assert max(bottoms) - min(bottoms) <= 1, rows
    # each value is whole and clear of its arrow
    for name in DROPDOWNS:
        clear = page.evaluate(
            """(id) => { const box = document.querySelector(`#${id} input`);
            const arrow = document.querySelector(`#${id} .icon-wrap`).getBoundingClientRect();
            const text = box.getBoundingClientRect().left + parseFloat(getComputedStyle(box)
                .paddingLeft) + box.scrollWidth - parseFloat(getComputedStyle(box).paddingRight);
            return box.scrollWidth <= box.clientWidth && text <= arrow.left + 1; }""",
            name,
        )
        assert clear, name
    # the examples' words are never broken inside ("cyberpun/k")
    broken = page.evaluate(
        """() => [...document.querySelectorAll('#examples td')].filter((cell) => {
            const words = cell.innerText.trim().split(/\\s+/).length, lines = new Set();
            const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
            for (let node = walk.nextNode(); node; node = walk.nextNode()) {
              const range = document.createRange(); range.selectNodeContents(node);
              for (const rect of range.getClientRects()) lines.add(Math.round(rect.top));
            }
            return cell.offsetParent !== null && lines.size > words;
        }).map((cell) => cell.innerText)"""
    )
    assert broken == [], broken
    # bold words in one font: the theme's bold face, not the few-letter semibold file
    faces = page.evaluate(
        """() => [...document.fonts].filter((f) => f.family.includes('Source Sans')
            && f.status === 'loaded').map((f) => f.weight)"""
    )
    assert "700" in faces and "600" not in faces, faces
    if phone:  # the banner takes two lines; the first screen shows the prompt and Generate
        banner = page.locator("#mode-banner").bounding_box()
        assert banner["height"] <= 90, banner
        expect(page.locator("#mode-banner")).to_contain_text("the same as pixverse-ui list")
    no_traceback(page)
