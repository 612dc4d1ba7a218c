"""The page in a real Chromium, on the simulator with scaled time: from a prompt to a video.

One browser is shared by the module; every test gets its own app, home and browser context (so
its own visitor). Failures leave a screenshot and the page text in ``test-artifacts/``.
"""

from __future__ import annotations

import re

import pytest
from browser_support import (
    CARDS,
    DESKTOP,
    DROPDOWNS,
    ELAPSED_MOVED,
    JOB_TIMEOUT,
    PHONE,
    STILLS,
    VISITOR_STORAGE,
    badge_shown,
    fill_form,
    foreign,
    history_card,
    no_traceback,
    offered,
    pick,
    pick_card,
    plays,
    screenshot_path,
    status_log,
    status_words,
    toast,
    values,
    video_facts,
)
from conftest import TEST_KEY
from support import advance_until, sim_posts, wait_for

from pixverse_ui.lifecycle import Status

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - browser_support.chromium() says so under CI
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


# --- 1: from a prompt to a video that plays ----------------------------------------------------


@pytest.mark.parametrize(
    ("aspect", "duration", "style", "size"),
    [("16:9", "5", "anime", (640, 360)), ("9:16", "10", "clay", (360, 640))],
    ids=["landscape", "portrait"],
)
def test_a_prompt_becomes_a_video_that_plays(launch_app, open_page, aspect, duration, style, size):
    demo, _, ledger = launch_app(speed="25")
    page = open_page(demo.local_url)
    prompt = f"A red fox trotting through fresh snow, {aspect}"
    fill_form(page, prompt, resolution="360p", aspect_ratio=aspect, style=style, duration=duration)
    assert values(page) == {
        "prompt": prompt,
        "negative-prompt": "",
        "aspect-ratio": aspect,
        "resolution": "360p",
        "duration": duration,
        "style": style,
    }

    page.locator("#generate").click()
    status = page.locator("#status-panel")
    expect(status).to_contain_text("completed", timeout=JOB_TIMEOUT)
    expect(status).to_contain_text("Your video is ready")

    # the states come in order (a short one may fall between two polls on a busy machine: the
    # stop test below holds each state on a manual clock and sees every one)
    log = status_log(page)
    assert status_words(log) in (["queued", "generating", "completed"], ["queued", "completed"])

    facts = video_facts(page)
    assert facts["error"] is None
    assert (facts["width"], facts["height"]) == size
    assert facts["duration"] == pytest.approx(int(duration), abs=0.3)
    assert plays(page)
    # on a laptop's screen (1280x900) the whole video is on the first screen, a tall one too
    page.set_viewport_size({"width": 1280, "height": 900})
    top, bottom, screen = page.evaluate(
        """() => { window.scrollTo(0, 0);
        const r = document.querySelector('#video video').getBoundingClientRect();
        return [r.top, r.bottom, window.innerHeight]; }"""
    )
    assert top >= 0 and bottom <= screen, (top, bottom, screen)

    # the request shown, and the one sent, are what was picked; the history follows on its own
    page.get_by_role("button", name="Request (JSON)").click()
    for line in (f'"aspect_ratio": "{aspect}"', '"resolution": "360p"', f'"duration": {duration}'):
        expect(page.locator("#request-json")).to_contain_text(line)
    stills = page.locator(STILLS)  # History's cards, a still for each finished video
    expect(stills).to_have_count(1)
    expect(page.locator(CARDS)).to_contain_text(prompt)
    expect(page.locator("#history-table")).to_contain_text("done")
    [record] = ledger.history()
    assert record.state == Status.DONE
    fields = ("aspect_ratio", "resolution", "duration", "style")
    sent = {k: record.request.get(k) for k in fields}
    assert sent == dict(zip(fields, (aspect, "360p", int(duration), style), strict=True))
    assert not foreign(page.requests_seen), page.requests_seen  # type: ignore[attr-defined]
    no_traceback(page)
    if aspect == "16:9":  # the README's picture
        picture = screenshot_path("screenshot.png")
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=picture)
        assert picture.stat().st_size > 10_000


# --- 2: bad input is refused in the page, and nothing is sent ----------------------------------


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("", "The prompt is empty"),
        ("A very long prompt. " * 103, "the limit is 2048"),  # 2060 characters
    ],
    ids=["empty", "too-long"],
)
def test_bad_input_shows_a_sentence_and_sends_nothing(launch_app, open_page, prompt, words):
    demo, _, ledger = launch_app()
    page = open_page(demo.local_url)
    fill_form(
        page, prompt, negative="blurry", resolution="360p", aspect_ratio="9:16", duration="10"
    )
    before_form, before_posts = values(page), sim_posts()

    # the prompt's counter says where it stands before anything is pressed
    count = page.locator("#prompt-count")
    expect(count).to_contain_text(f"{len(prompt)} / 2048 characters")
    if len(prompt) > 2048:
        expect(count).to_contain_text(f"{len(prompt) - 2048} too many")
    page.locator("#generate").click()
    expect(toast(page)).to_contain_text(words)
    expect(toast(page)).to_contain_text("Nothing was sent")
    # the sentence is in the status panel, with no "Error" badge of Gradio's drawn over it
    panel = page.locator("#status-panel")
    expect(panel).to_contain_text(words)
    assert not badge_shown(page, "status-panel")
    assert values(page) == before_form  # what was typed and picked is still there
    assert len(before_form["prompt"]) == len(prompt)
    assert sim_posts() == before_posts and ledger.history() == []
    no_traceback(page)


def test_1080p_never_offers_8_seconds_and_switching_sends_nothing(launch_app, open_page):
    demo, _, ledger = launch_app()
    page = open_page(demo.local_url)
    failed = []  # every answer of the app's that is not a success, and the page's own errors
    page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    page.on("pageerror", lambda e: failed.append(("pageerror", str(e))))
    before = sim_posts()
    duration = page.locator("#duration")
    assert offered(page, "duration") == ["5", "8", "10"]  # 720p, the default

    # 720p for 8 s, then 1080p: the duration follows, the price follows it, and nothing fails
    pick(page, "duration", "8")
    pick(page, "resolution", "1080p")
    expect(duration.locator("input")).to_have_value("5")
    expect(page.locator("#cost-note")).to_contain_text("This video: about $2.50")  # 1080p, 5 s
    pick(page, "resolution", "720p")

    pick(page, "resolution", "1080p")
    assert offered(page, "duration") == ["5", "10"]
    expect(duration).to_contain_text("1080p does not offer 8 s.")
    box = duration.locator("input")  # typing it in is not accepted either
    box.fill("8")
    box.press("Enter")
    page.locator("#prompt textarea").click()
    expect(box).to_have_value("5")

    # an example (720p, 8 s) loads whole, with 720p's choices; then 1080p: back to one it offers
    page.get_by_text("Neon koi fish swimming through a flooded arcade").click()
    expect(page.locator("#resolution input")).to_have_value("720p")
    expect(box).to_have_value("8")
    expect(duration).not_to_contain_text("does not offer")
    assert offered(page, "duration") == ["5", "8", "10"]
    expect(page.locator("#prompt textarea")).to_have_value(
        "Neon koi fish swimming through a flooded arcade"
    )
    pick(page, "resolution", "1080p")
    expect(box).to_have_value("5")  # and the person is told why it changed
    expect(duration).to_contain_text("1080p does not offer 8-second videos: changed to 5 s.")
    assert values(page)["prompt"] == "Neon koi fish swimming through a flooded arcade"
    assert values(page)["style"] == "cyberpunk"
    assert sim_posts() == before and ledger.history() == []
    assert failed == []
    no_traceback(page)


# --- 3: stop watching; the job still lands in the history --------------------------------------


def test_stop_leaves_the_job_running_and_it_lands_in_the_history(
    launch_app, open_page, make_sim, clock
):
    # the API is a simulator on the test's manual clock: the job stays queued, then generating,
    # until the test moves it on, however busy the machine is
    api = make_sim(speed=40)
    demo, _, ledger = launch_app(AIMLAPI_KEY=TEST_KEY, AIMLAPI_BASE_URL=api.url)
    page = open_page(demo.local_url)
    prompt = "A paper boat in a rainy gutter"  # short: the table cuts at 40
    fill_form(page, prompt, resolution="360p")
    page.locator("#generate").click()
    status = page.locator("#status-panel")
    expect(status).to_contain_text("queued", timeout=JOB_TIMEOUT)
    advance_until(api, clock, "generating")
    expect(status).to_contain_text("generating", timeout=JOB_TIMEOUT)
    # no news comes from the server while the job is generating: the page's own clock moves
    page.wait_for_function(ELAPSED_MOVED, timeout=JOB_TIMEOUT)

    page.locator("#stop").click()
    expect(status).to_contain_text("Stopped watching")
    [record] = ledger.history()
    assert record.state != Status.DONE
    table = page.locator("#history-table")
    expect(table).to_contain_text("running")
    expect(table).to_contain_text(prompt)

    advance_until(api, clock, "completed")
    wait_for(lambda: ledger.get(record.client_request_id).state == Status.DONE, timeout=60)
    # the page really stopped watching: the panel never went on to the finished job
    log = status_log(page)
    after_stop = log[next(i for i, text in enumerate(log) if "Stopped" in text) :]
    assert not status_words(after_stop), after_stop
    assert page.locator("#video video").count() == 0

    page.locator("#refresh-history").click()
    expect(table).to_contain_text("done")
    expect(history_card(page, prompt).locator("img.pxui-still")).to_have_count(1)

    page.reload()
    expect(page.locator("#generate")).to_be_visible()
    expect(table).to_contain_text("done")
    expect(table).to_contain_text(prompt)
    expect(page.locator(STILLS)).to_have_count(1)
    expect(history_card(page, prompt).locator("img.pxui-still")).to_have_count(1)


def test_on_a_public_page_a_reload_or_a_new_tab_keeps_the_browsers_history(launch_app, open_page):
    """The server gives the browser its visitor token when the page loads, and the browser
    keeps it: a reload and a new tab are the same visitor; another browser, or one holding an
    id from before tokens were signed, is a new one."""
    demo, _, _ = launch_app(speed="100", SPACE_ID="someone/pixverse-ui")  # public, simulator
    page = open_page(demo.local_url)
    stored = f"localStorage.getItem('{VISITOR_STORAGE}')"
    kept = f"() => {stored}"
    token = page.evaluate(kept)
    assert re.fullmatch(r"v1\.[0-9a-f]{32}\.[0-9a-f]{32}", token), token
    prompt = "A heron in the reeds, kept by this browser"
    fill_form(page, prompt, resolution="360p")
    page.locator("#generate").click()
    expect(page.locator("#status-panel")).to_contain_text(
        "Your video is ready", timeout=JOB_TIMEOUT
    )
    expect(page.locator("#history-table")).to_contain_text(prompt, timeout=JOB_TIMEOUT)

    page.reload()
    expect(page.locator("#history-table")).to_contain_text(prompt)
    assert page.evaluate(kept) == token
    tab = page.context.new_page()
    tab.goto(demo.local_url)
    expect(tab.locator("#history-table")).to_contain_text(prompt)
    assert tab.evaluate(kept) == token

    other = open_page(demo.local_url)  # another browser: a visitor of its own
    assert other.evaluate(kept) != token
    expect(other.locator("#history-table")).to_contain_text("No generations yet")
    assert prompt not in other.locator("#history-table").inner_text()
    # a browser that kept an unsigned id (the page made its own before) is a new visitor
    old = "3b241101-e2bb-4255-8caf-4136c566a962"
    other.evaluate(f"() => localStorage.setItem('{VISITOR_STORAGE}', '{old}')")
    other.reload()
    other.wait_for_function(f"() => ({stored} || '').startsWith('v1.')")
    expect(other.locator("#history-table")).to_contain_text("No generations yet")
    assert prompt not in other.locator("#history-table").inner_text()


#: After a reload: every state the page was painted in from the first frame that showed the form
#: (the prompt box visible), recorded in the page at each frame: the prompt, Generate's state,
#: the status panel's words.
FORM_RECORDER = """
window.__formLog = [];
const look = () => {
  const box = document.querySelector('#prompt textarea');
  const go = document.querySelector('#generate');
  if (box && go && box.checkVisibility({visibilityProperty: true, opacityProperty: true})) {
    const state = {prompt: box.value, go: go.disabled ? 'disabled' : 'enabled',
      status: (document.querySelector('#status-panel') || {}).innerText || ''};
    const log = window.__formLog, last = log[log.length - 1];
    if (!last || JSON.stringify(last) !== JSON.stringify(state)) log.push(state);
  }
  requestAnimationFrame(look);
};
requestAnimationFrame(look);
"""

#: The elapsed times the strip and the status panel show at one instant.
CLOCKS = """() => ['#running-jobs', '#status-panel'].map((where) =>
    (document.querySelector(`${where} .pxui-clock`) || {}).textContent || '')"""


def _seconds(clock: str) -> int:
    minutes, seconds = clock.split(":")
    return int(minutes) * 60 + int(seconds)


def _quoted(page) -> str:
    """The cost of the form the quote names: ``about $0.28 (555,556 credits)``."""
    said = page.locator("#cost-note").inner_text()
    found = re.search(r"This video: (about \$[\d.]+ \([\d,]+ credits\))", said)
    assert found, said
    return found.group(1)


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_reload_mid_job_follows_it_to_its_video_with_one_post(
    launch_app, open_page, make_sim, clock, phone
):
    api = make_sim(speed=40)  # the job stays queued until the test moves it on
    demo, _, ledger = launch_app(AIMLAPI_KEY=TEST_KEY, AIMLAPI_BASE_URL=api.url)
    page = open_page(demo.local_url, viewport=PHONE if phone else DESKTOP, phone=phone)
    prompt = "A paper boat in a rainy gutter"
    # not the form's defaults (16:9, 5 s): a quote of the page's own form would differ
    fill_form(page, prompt, resolution="360p", aspect_ratio="9:16", style="clay", duration="10")
    expect(page.locator("#cost-note")).to_contain_text("This video: about $0.56")
    quoted = _quoted(page)
    page.locator("#generate").click()
    status = page.locator("#status-panel")
    expect(status).to_contain_text("queued", timeout=JOB_TIMEOUT)

    page.context.add_init_script(FORM_RECORDER)
    page.reload()  # the page forgets everything it held; the job goes on
    expect(page.locator("#generate")).to_be_visible()
    # with no click, the panel follows the job again, its settings are back in the form, and a
    # second Generate cannot be pressed by mistake
    expect(status).to_contain_text("queued", timeout=JOB_TIMEOUT)
    running = page.locator("#running-jobs")
    expect(running).to_contain_text("1 job running", timeout=JOB_TIMEOUT)
    expect(running).to_contain_text(prompt)
    expect(page.locator("#prompt textarea")).to_have_value(prompt)
    assert values(page)["aspect-ratio"] == "9:16" and values(page)["style"] == "clay"
    assert values(page)["duration"] == "10"
    expect(page.locator("#generate")).to_be_disabled()
    expect(page.locator("#stop")).to_be_enabled()
    # the first screen that showed the form showed the running job: never "Ready" with an
    # empty form, never a Generate to press
    painted = page.evaluate("() => window.__formLog")
    assert painted and painted[0]["prompt"] == prompt, painted[:3]
    assert all(state["go"] == "disabled" and "Ready" not in state["status"] for state in painted)
    # the quote is the form's (the job's settings), not the defaults the page was drawn with
    expect(page.locator("#cost-note")).to_contain_text(quoted)
    # the strip and the panel show one clock: the same m:ss, or one tick apart
    page.wait_for_function(f"() => ({CLOCKS})().every((text) => /\\d:\\d\\d/.test(text))")
    for _ in range(3):
        strip, panel = page.evaluate(CLOCKS)
        assert abs(_seconds(strip) - _seconds(panel)) <= 1, (strip, panel)
        page.wait_for_timeout(700)  # samples over the clocks' ticks, not a wait for a state

    advance_until(api, clock, "completed")
    expect(status).to_contain_text("Your video is ready", timeout=JOB_TIMEOUT)
    facts = video_facts(page)
    assert (facts["width"], facts["height"]) == (360, 640)
    assert plays(page)
    expect(page.locator("#generate")).to_be_enabled()
    # History and the strip follow the job's end by themselves (no Refresh pressed)
    expect(history_card(page, prompt).locator("img.pxui-still")).to_have_count(
        1, timeout=JOB_TIMEOUT
    )
    expect(running).not_to_contain_text("running", timeout=JOB_TIMEOUT)
    assert api.stats()["posts"] == 1  # one paid generation: nothing was sent twice
    [record] = ledger.history()
    assert record.state == Status.DONE
    no_traceback(page)


def test_stop_then_watch_again_plays_the_same_job_with_one_post(
    launch_app, open_page, make_sim, clock
):
    api = make_sim(speed=40)  # the job stays queued until the test moves it on
    demo, _, ledger = launch_app(AIMLAPI_KEY=TEST_KEY, AIMLAPI_BASE_URL=api.url)
    page = open_page(demo.local_url)
    again = page.locator("#watch-again")
    expect(again).to_be_hidden()
    fill_form(page, "A lantern drifting on a dark lake", resolution="360p")
    page.locator("#generate").dblclick()  # a double click starts one job (posts == 1 below)
    status = page.locator("#status-panel")
    expect(status).to_contain_text("queued", timeout=JOB_TIMEOUT)

    page.locator("#stop").click()
    expect(status).to_contain_text("Stopped watching")
    expect(status).to_contain_text("paid for")  # the job goes on, as the page says
    expect(again).to_be_visible()
    expect(page.locator("#generate")).to_be_enabled()
    advance_until(api, clock, "generating")  # it went on while nobody watched

    again.click()
    expect(again).to_be_hidden()
    expect(page.locator("#stop")).to_be_enabled()
    expect(page.locator("#generate")).to_be_disabled()
    expect(status).to_contain_text("generating", timeout=JOB_TIMEOUT)
    advance_until(api, clock, "completed")
    expect(status).to_contain_text("Your video is ready", timeout=JOB_TIMEOUT)
    assert plays(page)
    expect(page.locator("#generate")).to_be_enabled()
    assert api.stats()["posts"] == 1  # the same job followed again: nothing sent but polls
    [record] = ledger.history()
    assert record.state == Status.DONE and record.generation_id in status.inner_text()
    no_traceback(page)


def test_a_load_that_cannot_look_for_running_jobs_still_shows_the_form(
    launch_app, open_page, monkeypatch
):
    from pixverse_ui.ui import app_of

    demo, _, _ = launch_app()

    def broken(who):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(app_of(demo), "running", broken)
    page = open_page(demo.local_url, ready=False)
    status = page.locator("#status-panel")
    expect(status).to_contain_text("Could not look for a job of yours", timeout=JOB_TIMEOUT)
    expect(page.locator("#prompt")).to_be_visible()  # never hidden behind "Looking for…"
    expect(page.locator("#generate")).to_be_enabled()
    no_traceback(page)


# --- 4: History's cards list past results; a click loads their settings back ----------------------


def test_clicking_a_past_video_loads_its_settings(launch_app, open_page):
    demo, _, _ = launch_app(speed="100")  # what is checked is the page, not the wait
    page = open_page(demo.local_url)
    first = {
        "prompt": "A lighthouse keeper climbing the stairs at dusk",
        "negative-prompt": "blurry, text",
        "aspect-ratio": "9:16",
        "resolution": "540p",
        "duration": "10",
        "style": "clay",
    }
    second = {
        "prompt": "Neon koi fish swimming through a flooded arcade",
        "negative-prompt": "",
        "aspect-ratio": "4:3",
        "resolution": "360p",
        "duration": "8",
        "style": "comic",
    }
    captions = page.locator(CARDS).filter(has=page.locator("img.pxui-still"))  # finished ones
    for count, form in enumerate((first, second), 1):
        page.locator("#negative-prompt textarea").fill("")
        fill_form(
            page,
            form["prompt"],
            negative=form["negative-prompt"],
            **{k.replace("-", "_"): v for k, v in form.items() if k in DROPDOWNS},
        )
        assert values(page) == form
        page.locator("#generate").click()
        expect(page.locator("#status-panel")).to_contain_text("completed", timeout=JOB_TIMEOUT)
        expect(captions).to_have_count(count)

    expect(captions.first).to_contain_text(second["prompt"])  # newest first
    expect(captions.nth(1)).to_contain_text(first["prompt"])
    expect(captions.nth(1)).to_contain_text("9:16 · 540p · 10 s · clay")

    for form in (first, second):
        pick_card(page, form["prompt"])
        expect(page.locator("#picked-note")).to_contain_text("Loaded")
        expect(page.locator("#prompt textarea")).to_have_value(form["prompt"])
        for field in DROPDOWNS:
            expect(page.locator(f"#{field} input")).to_have_value(form[field])
        assert values(page) == form
        # its video and its state come back too, not only its settings
        expect(page.locator("#status-panel")).to_contain_text("done")
        expect(page.locator("#status-panel")).to_contain_text(form["prompt"][:30])
        facts = video_facts(page)
        assert facts["duration"] == pytest.approx(int(form["duration"]), abs=0.3), facts
    no_traceback(page)


# --- 5: the provider's own words, never a traceback --------------------------------------------


def test_a_failed_generation_shows_the_providers_words(launch_app, open_page):
    demo, _, ledger = launch_app(PIXVERSE_UI_SIM_FAULTS="fail@post*1")
    page = open_page(demo.local_url)
    prompt = "A cheerful white raccoon running through a sequoia forest"
    fill_form(page, prompt, resolution="360p")
    page.locator("#generate").click()
    words = "the simulator was told to fail it"
    expect(toast(page)).to_contain_text(words, timeout=JOB_TIMEOUT)
    expect(toast(page)).to_contain_text("The provider could not make this video")
    status = page.locator("#status-panel")
    expect(status).to_contain_text(words)
    expect(status).to_contain_text("✗")
    expect(page.locator("#history-table")).to_contain_text("failed")  # without a refresh
    expect(page.locator("#history-table")).to_contain_text(prompt[:30])
    assert values(page)["prompt"] == prompt
    assert page.locator("#video video").count() == 0
    [record] = ledger.history()
    assert record.state == "failed"
    no_traceback(page)


def test_a_key_the_api_refuses_shows_the_providers_words(launch_app, open_page, make_sim):
    host_key, bad_key = "sk-host-key-0123456789abcdef", "sk-typo-key-9876543210fedcba"
    api = make_sim(api_keys={host_key})  # never the real API: the "live" endpoint is local
    demo, _, _ = launch_app(AIMLAPI_KEY=host_key, AIMLAPI_BASE_URL=api.url)
    page = open_page(demo.local_url)
    expect(page.locator("#mode-banner")).to_contain_text("Live mode")
    page.get_by_role("button", name="Your AI/ML API key").click()  # open the accordion
    page.locator("#api-key input").fill(bad_key)
    fill_form(page, "A lighthouse at night", resolution="360p")
    page.locator("#generate").click()

    # the refusal is a job's outcome (a POST and its answer), like a failed generation's: the
    # same bound; and the toast is found by its words, whatever other toast a busy page shows
    refused = toast(page).filter(has_text="The API did not accept the key")
    expect(refused).to_contain_text("Unauthorized: the API key is not valid", timeout=JOB_TIMEOUT)
    expect(page.locator("#status-panel")).to_contain_text("Unauthorized")
    assert api.stats()["posts"] == 1  # refused once, not retried with the host's key
    text = page.inner_text("body")
    assert bad_key not in text and host_key not in text
    assert values(page)["prompt"] == "A lighthouse at night"
    no_traceback(page)
