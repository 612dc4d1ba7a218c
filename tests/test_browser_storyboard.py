"""The Storyboard tab in a real Chromium, on a desktop and on a phone: three shots built in the
tab (shots 2 and 3 start from the last frame of the shot before), the quote before anything
starts, Run, each shot's card going from running to done, the stitched video playing, and a
re-roll of shot 2 that sends exactly shot 2 and the stale shot 3 chained after it; on the desktop
an earlier take chosen back for free, then Export. On the phone the shots stand in one column,
every button is reachable, and nothing scrolls sideways."""

from __future__ import annotations

import pytest
from browser_support import DESKTOP, JOB_TIMEOUT, PHONE, history_tab, no_traceback, pick, plays

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - browser_support.chromium() says so under CI
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PROMPTS = ("A fox wakes in the snow", "The fox looks up at a crow", "The fox runs into the woods")
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= innerWidth + 1"
#: Every distinct set of the cards' states (``running,waiting,waiting``...), in order, recorded
#: in the page: a state may last less than a poll from Python would see.
CARD_RECORDER = """() => {
  window.__cardLog = [];
  new MutationObserver(() => {
    const cards = [...document.querySelectorAll('#sb-strip .pxui-sb-card')];
    const states = cards.map((card) => card.dataset.state).join(',');
    const log = window.__cardLog;
    if (cards.length && log[log.length - 1] !== states) log.push(states);
  }).observe(document, {subtree: true, childList: true, attributes: true});
}"""


def card_states(page) -> list[str]:
    return page.locator("#sb-strip .pxui-sb-card").evaluate_all(
        "(cards) => cards.map((card) => card.dataset.state)"
    )


def stitched_plays(page) -> str:
    """Wait until the stitched video has loaded whole, play it (muted) until it moves on; its
    source."""
    page.wait_for_function(
        "() => (document.querySelector('#sb-video video') || {}).readyState === 4",
        timeout=JOB_TIMEOUT,
    )
    assert plays(page, "#sb-video video")
    return page.evaluate("() => document.querySelector('#sb-video video').currentSrc")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_three_shots_are_quoted_run_stitched_and_one_is_rerolled(launch_app, open_page, size):
    from pixverse_ui.simulator import embedded

    phone = size == "phone"
    demo, _, ledger = launch_app(speed="40")
    page = open_page(demo.local_url, viewport=PHONE if phone else DESKTOP, phone=phone)
    history_tab(page, "Storyboard")
    expect(page.locator("#sb-title")).to_be_visible()
    page.locator("#sb-title textarea, #sb-title input").first.fill("The fox")
    pick(page, "sb-resolution", "360p")
    page.locator("#sb-add").click()  # two shots are shown to begin with
    for k, prompt in enumerate(PROMPTS, 1):
        page.locator(f"#sb-prompt-{k} textarea").fill(prompt)
    for k in (2, 3):
        page.locator(f"#sb-chain-{k} input").check()
    expect(page.locator("#sb-chain-1")).to_be_hidden()  # the first shot starts from nothing
    quote = page.locator("#sb-quote")
    expect(quote).to_contain_text("These 3 videos:")
    expect(quote).to_contain_text("credits")
    expect(quote).to_contain_text("simulated")
    if phone:  # the shots in one column, each as wide as the screen allows
        boxes = [page.locator(f"#sb-slot-{k}").bounding_box() for k in (1, 2, 3)]
        assert all(b is not None for b in boxes)
        assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"], boxes
        assert all(b["x"] >= 0 and b["x"] + b["width"] <= PHONE[0] for b in boxes), boxes
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
    assert embedded().stats()["posts"] == 0  # nothing is sent before Run

    page.evaluate(CARD_RECORDER)
    page.locator("#sb-run").click()
    # off while it runs: a second press would pay for every shot again
    expect(page.locator("#sb-run")).to_be_disabled()
    expect(page.locator("#sb-reroll")).to_be_disabled()
    expect(page.locator("#sb-progress")).to_contain_text("These 3 videos:", timeout=JOB_TIMEOUT)
    page.wait_for_function(
        "() => window.__cardLog.some((states) => states.includes('running'))", timeout=JOB_TIMEOUT
    )
    first = stitched_plays(page)
    expect(page.locator("#sb-run")).to_be_enabled()
    assert card_states(page) == ["done"] * 3
    cards = page.evaluate("() => window.__cardLog")
    # per-shot progress: shot 1 ran while the chained shots waited for its last frame
    assert any(states.startswith("running,waiting") for states in cards), cards
    progress = page.locator("#sb-progress")
    expect(progress).to_contain_text("Shot 2, take 1: started from shot 1's last frame")
    expect(progress).to_contain_text("Shot 3, take 1: started from shot 2's last frame")
    expect(progress).to_contain_text("Stitched into one video.")
    expect(page.locator("#sb-strip img")).to_have_count(3)
    bodies = [job["body"] for job in embedded().stats()["jobs"]]
    assert [b["prompt"] for b in bodies] == list(PROMPTS)
    assert ["image_url" in b for b in bodies] == [False, True, True]
    if phone:
        assert page.evaluate(NO_SIDEWAYS_SCROLL)

    # re-roll shot 2: exactly two POSTs, shot 2 and shot 3 (stale: made from shot 2's old take)
    page.locator("#sb-made-shot input").fill("2")
    page.locator("#sb-reroll").click()
    page.wait_for_function(
        """(old) => {
          const v = document.querySelector('#sb-video video');
          return v && v.currentSrc && v.currentSrc !== old && v.readyState === 4;
        }""",
        arg=first,
        timeout=JOB_TIMEOUT,
    )
    again = stitched_plays(page)
    assert again != first
    bodies = [job["body"] for job in embedded().stats()["jobs"]]
    assert [b["prompt"] for b in bodies[3:]] == list(PROMPTS[1:])
    assert all("image_url" in b for b in bodies[3:]) and bodies[3]["seed"] != bodies[1]["seed"]
    assert embedded().stats()["posts"] == 5
    strip = page.locator("#sb-strip")
    expect(strip).to_contain_text("take 1 of 1")  # shot 1 is kept
    expect(strip.locator(".pxui-sb-card").nth(1)).to_contain_text("take 2 of 2")
    expect(strip.locator(".pxui-sb-card").nth(2)).to_contain_text("take 2 of 2")
    assert card_states(page) == ["done"] * 3
    assert len(ledger.history()) == 5  # every take is in History
    if not phone:  # take 1 of shot 2 back, for free: shot 3 (made from take 2) is stale
        page.locator("#sb-take input").fill("1")
        page.locator("#sb-choose").click()
        expect(progress).to_contain_text("Shot 2 uses take 1.")
        expect(strip.locator(".pxui-sb-card").nth(2)).to_have_attribute("data-state", "stale")
        page.locator("#sb-take input").fill("2")
        page.locator("#sb-choose").click()
        expect(progress).to_contain_text("Shot 2 uses take 2. Stitched again.")
        assert card_states(page) == ["done"] * 3
        page.locator("#sb-export").click()
        expect(progress).to_contain_text("Exported")
        expect(page.locator("#sb-zip")).to_contain_text(".zip")
        assert embedded().stats()["posts"] == 5  # choosing and exporting send nothing
    if phone:  # what acts on a made shot is right under the cards, not a video further down
        cards = page.locator("#sb-strip").bounding_box()
        pick_shot = page.locator("#sb-made-shot").bounding_box()
        assert cards and pick_shot and 0 <= pick_shot["y"] - cards["y"] - cards["height"] < 100
    if phone:  # every button of the tab is on the screen's width, and can be pressed
        for button in ("sb-add", "sb-up", "sb-down", "sb-remove", "sb-run", "sb-reroll",
                       "sb-choose", "sb-export"):  # fmt: skip
            box = page.locator(f"#{button}").bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0], button
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
    no_traceback(page)
