"""What the browser suite needs besides its tests: Chromium, where failures go, page helpers."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

try:
    from playwright.sync_api import Page, expect
except ImportError:  # pragma: no cover - chromium() says so under CI
    Page = expect = None

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ENV = "PIXVERSE_UI_CHROMIUM"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VISITOR_STORAGE = "pixverse-ui-visitor"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

#: Every distinct text of the status panel, in order, recorded in the page itself (polling from
#: Python could miss a state that lasts a few hundred milliseconds).
STATUS_RECORDER = """
window.__statusLog = [];
new MutationObserver(() => {
  const panel = document.querySelector('#status-panel');
  if (!panel) return;
  const text = panel.innerText;
  const log = window.__statusLog;
  if (log[log.length - 1] !== text) log.push(text);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def missing(reason: str) -> None:
    """Under CI a missing browser fails the suite; elsewhere the suite is skipped, saying why."""
    if _in_ci():
        pytest.fail(f"CI=true and the browser suite cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str:
    """The Chromium binary: ``$PIXVERSE_UI_CHROMIUM``, Debian's /usr/bin/chromium, or PATH."""
    candidates = [os.environ.get(CHROMIUM_ENV, ""), "/usr/bin/chromium"]
    candidates += [shutil.which(name) or "" for name in ("chromium", "chromium-browser")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    missing(f"no Chromium at /usr/bin/chromium or on PATH (set {CHROMIUM_ENV})")
    raise AssertionError("unreachable")


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by playwright (never ``playwright install``)."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:  # pragma: no cover - playwright is in requirements-dev.txt
        missing("the playwright package is not installed (pip install -r requirements-dev.txt)")
        raise
    path = chromium_path()
    expect.set_options(timeout=15_000)  # the machine may be shared: bounded, but not tight
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


def artifact_path(item: pytest.Item, suffix: str) -> Path:
    """``test-artifacts/<test id>.<suffix>`` (the folder is git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / (re.sub(r"[^\w.-]+", "_", item.nodeid).strip("_") + suffix)


def foreign(urls: list[str]) -> list[str]:
    """The URLs that go to a host other than this machine (data: and blob: are local)."""
    out = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            continue
        if parts.hostname not in LOCAL_HOSTS:
            out.append(url)
    return out


def status_words(texts: list[str]) -> list[str]:
    """The bold status words the panel went through (``queued``, ``generating``…), in order."""
    words: list[str] = []
    for text in texts:
        match = re.search(r"\b(queued|generating|completed|error|failed)\b", text)
        if match and (not words or words[-1] != match.group(1)):
            words.append(match.group(1))
    return words


#: True once the status panel has shown two elapsed times (``0:03``) while generating.
ELAPSED_MOVED = """() => new Set(window.__statusLog
    .filter(text => text.includes('generating'))
    .flatMap(text => [...text.matchAll(/elapsed (\\d+:\\d\\d)/g)].map(m => m[1]))).size >= 2"""


# --- fixtures (import them into a browser test module: pytest finds them there) ----------------

#: What History says once drawn (``open_page`` waits for it).
HISTORY_DRAWN = re.compile(r"No generations yet|Generations \d")
#: Generous bounds: the machine is shared; a 360p job at these speeds takes 2 to 6 s.
JOB_TIMEOUT = 60_000
DROPDOWNS = ("aspect-ratio", "resolution", "duration", "style")
DESKTOP = (1280, 1000)
PHONE = (390, 844)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def open_page(browser, request):
    """``open_page(url)``: a fresh context and page that records every request it makes.

    At teardown: a screenshot and the page text if the test failed, and a check that nothing was
    asked of another host.
    """
    opened: list[tuple[Page, list[str]]] = []
    failures_before = request.session.testsfailed  # the call's report is counted before teardown

    def open_(
        url: str, *, viewport: tuple[int, int] = DESKTOP, phone: bool = False, ready: bool = True
    ) -> Page:
        width, height = viewport
        context = browser.new_context(
            viewport={"width": width, "height": height},
            is_mobile=phone,
            has_touch=phone,
            device_scale_factor=3 if phone else 1,
        )
        context.set_default_timeout(20_000)
        context.add_init_script(STATUS_RECORDER)
        seen: list[str] = []
        context.on("request", lambda r: seen.append(r.url))
        page = context.new_page()
        page.on("websocket", lambda ws: seen.append(ws.url))
        page.requests_seen = seen  # type: ignore[attr-defined]
        opened.append((page, seen))
        page.goto(url)
        if not ready:  # the test looks at the load itself
            return page
        expect(page.locator("#generate")).to_be_visible()
        # the page is ready once the load event has given this browser a visitor id
        page.wait_for_function(f"() => !!localStorage.getItem('{VISITOR_STORAGE}')")
        # History is drawn: empty, or the jobs a test wrote before the page opened
        expect(page.locator("#history-table")).to_contain_text(HISTORY_DRAWN)
        expect(page.locator("#cost-note")).to_contain_text("credits")  # the load's chain ran
        return page

    yield open_
    failed = request.session.testsfailed > failures_before
    for page, seen in opened:
        if failed and not page.is_closed():
            try:
                page.screenshot(path=artifact_path(request.node, ".png"), full_page=True)
                artifact_path(request.node, ".txt").write_text(page.inner_text("body"), "utf-8")
            except Exception as exc:  # a broken page must not hide the test's own failure
                print(f"could not save the failure screenshot: {exc}")
        page.context.close()
        assert not foreign(seen), f"the page asked other hosts: {foreign(seen)}"


# --- helpers ------------------------------------------------------------------------------------


def pick(page: Page, elem_id: str, value: str) -> None:
    """Choose ``value`` in a Gradio dropdown the way a person does: open it, click the option."""
    box = page.locator(f"#{elem_id} input")
    if box.input_value() == value:
        return
    box.click()
    options = page.locator(f"#{box.get_attribute('aria-controls')}")
    option = options.get_by_role("option", name=value, exact=True)
    if elem_id == "resolution":  # the duration choices follow; wait for them before going on
        with page.expect_response(lambda r: "/gradio_api/run/predict" in r.url):
            option.click()
    else:
        option.click()
    expect(box).to_have_value(value)


def offered(page: Page, elem_id: str) -> list[str]:
    """The options a dropdown offers (it is opened, read and closed again)."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    options = page.locator(f"#{box.get_attribute('aria-controls')}").get_by_role("option")
    expect(options.first).to_be_visible()
    labels = [o.get_attribute("aria-label") or "" for o in options.all()]
    box.press("Escape")
    page.locator("#prompt textarea").click()  # move the focus away: the list closes
    return labels


def values(page: Page) -> dict[str, str]:
    """What the form shows."""
    fields = {f: page.locator(f"#{f} input").input_value() for f in DROPDOWNS}
    fields["prompt"] = page.locator("#prompt textarea").input_value()
    fields["negative-prompt"] = page.locator("#negative-prompt textarea").input_value()
    return fields


def fill_form(page: Page, prompt: str, *, negative: str = "", **dropdowns: str) -> None:
    """Type the prompt and choose the settings (resolution before duration, as a person would)."""
    page.locator("#prompt textarea").fill(prompt)
    if negative:
        page.locator("#negative-prompt textarea").fill(negative)
    for field in ("resolution", "aspect_ratio", "style", "duration"):
        if field in dropdowns:
            pick(page, field.replace("_", "-"), dropdowns[field])


def status_log(page: Page) -> list[str]:
    return page.evaluate("() => window.__statusLog")


def toast(page: Page):
    return page.get_by_test_id("toast-text")


def video_facts(page: Page) -> dict:
    """Wait until the player has decoded enough to play through; then its size and length."""
    page.wait_for_function(
        "() => (document.querySelector('#video video') || {}).readyState === 4",
        timeout=20_000,
    )
    return page.evaluate(
        """() => { const v = document.querySelector('#video video');
        return {width: v.videoWidth, height: v.videoHeight, duration: v.duration,
                error: v.error && v.error.message, src: v.currentSrc}; }"""
    )


def plays(page: Page, player: str = "#video video") -> bool:
    """Press play (muted, as autoplay rules allow) and wait until the picture moves on."""
    page.evaluate(
        "(sel) => { const v = document.querySelector(sel); v.muted = true; v.play(); }", player
    )
    page.wait_for_function(
        "(sel) => document.querySelector(sel).currentTime > 0.5", arg=player, timeout=10_000
    )
    return True


def make_video(page: Page, prompt: str, **settings: str) -> None:
    """Generate one 360p video from the page and wait until *it* is ready (the panel may still
    say so of the last one when the button is pressed)."""
    fill_form(page, prompt, resolution="360p", **settings)
    generate_and_wait(page)


def generate_and_wait(page: Page) -> None:
    """Press Generate with the form as it is, and wait until *its* video is ready."""
    before = len(status_log(page))
    page.locator("#generate").click()
    page.wait_for_function(
        """(n) => window.__statusLog.slice(n).some((t) => t.includes('Sending'))
        && window.__statusLog[window.__statusLog.length - 1].includes('Your video is ready')""",
        arg=before,
        timeout=JOB_TIMEOUT,
    )


def history_tab(page: Page, name: str = "History") -> None:
    """Open a workspace tab by name. Tabs that do not fit the row (a phone, a narrow column)
    are moved by Gradio into its "…" menu: such a tab is opened from there, as a person would."""
    page.get_by_role("tablist").first.wait_for()
    tab = page.get_by_role("tab", name=name)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.locator(".overflow-menu > button").first.click()
    page.locator(".overflow-dropdown button", has_text=name).first.click()


#: History's cards (the one view of it) and their stills.
CARDS = "#history-table .pxui-card"
STILLS = "#history-table img.pxui-still"


def history_card(page: Page, words: str):
    """The History card whose text has ``words``."""
    return page.locator(CARDS).filter(has_text=words)


def pick_card(page: Page, words: str | None = None) -> None:
    """Pick a History card as a person does: a click on its prompt (the first card's when no
    ``words``)."""
    card = history_card(page, words) if words else page.locator(CARDS).first
    card.locator(".pxui-prompt").click()


def compare_from_history(page: Page, count: int) -> Any:
    """Tick the first ``count`` cards in History and press its Compare, as a person would;
    returns the Compare view once it shows their videos."""
    history_tab(page)
    ticks = page.locator("#history-table .pxui-tick")
    expect(ticks).to_have_count(count)
    for i in range(count):
        ticks.nth(i).click()
    page.locator("#history-table .pxui-compare-go").click()
    view = page.locator("#compare-view")
    expect(view.locator("video")).to_have_count(count)
    return view


def screenshot_path(name: str) -> Path:
    """Where a picture the README shows is written: ``docs/`` under ``make screenshot``
    (``UPDATE_SCREENSHOT=1``), ``test-artifacts/`` in every other run."""
    folder = ROOT / "docs" if os.environ.get("UPDATE_SCREENSHOT") == "1" else ARTIFACTS
    folder.mkdir(exist_ok=True)
    return folder / name


def badge_shown(page: Page, elem_id: str) -> bool:
    """Whether Gradio's red "Error" badge is drawn over a component (its status tracker shows
    an error and is not made transparent)."""
    return page.evaluate(
        """(id) => [...document.querySelectorAll(`#${id} [data-testid=status-tracker]`)]
            .some((tracker) => tracker.querySelector('.error')
                && getComputedStyle(tracker).opacity !== '0'
                && getComputedStyle(tracker).display !== 'none')""",
        elem_id,
    )


def no_traceback(page: Page) -> None:
    text = page.inner_text("body")
    assert "Traceback" not in text and 'File "' not in text
