"""Image-to-video in a real Chromium, on a phone: a PNG uploaded in the form is animated, the
video plays, History's card shows the image it started from, picking it loads the image back,
and the page never scrolls sideways at 390 px; a reload mid-job brings the image back, and an
RGBA PNG is sent as its own bytes; the page's uploads carry its visitor cookie."""

from __future__ import annotations

import base64
import hashlib

import pytest
from browser_support import (
    JOB_TIMEOUT,
    PHONE,
    compare_from_history,
    fill_form,
    generate_and_wait,
    history_tab,
    make_video,
    no_traceback,
    pick_card,
    plays,
)
from conftest import TEST_KEY
from support import advance_until, png_bytes, wait_for

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - browser_support.chromium() says so under CI
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= innerWidth"


def test_an_uploaded_png_is_animated_and_its_card_shows_it(launch_app, open_page, tmp_path):
    from pixverse_ui.params import IMAGE_MODEL_ID
    from pixverse_ui.simulator import embedded

    demo, _, ledger = launch_app(speed="30")
    page = open_page(demo.local_url, viewport=PHONE, phone=True)
    fox = tmp_path / "fox.png"
    fox.write_bytes(png_bytes(320, 180))
    page.locator("#image-upload input[type=file]").set_input_files(str(fox))
    expect(page.locator("#shape-note")).to_be_visible()
    expect(page.locator("#aspect-ratio input")).to_be_disabled()
    make_video(page, "The yellow sun rises over the field")
    assert plays(page)
    body = embedded().stats()["jobs"][-1]["body"]
    assert body["model"] == IMAGE_MODEL_ID and "aspect_ratio" not in body
    [record] = ledger.history()
    assert (record.image_width, record.image_height) == (320, 180)

    history_tab(page)
    thumb = page.locator("#history-table img.pxui-from")
    expect(thumb).to_have_count(1)
    thumb.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelector('#history-table img.pxui-from').naturalWidth === 320"
    )
    assert page.evaluate(NO_SIDEWAYS_SCROLL)

    # back later (a fresh page, its form empty): picking the video loads the image back
    page.reload()
    expect(page.locator("#history-table img.pxui-from")).to_have_count(1)
    expect(page.locator("#image-upload img")).to_have_count(0)
    expect(page.locator("#shape-note")).to_be_hidden()
    history_tab(page)
    pick_card(page)
    expect(page.locator("#picked-note")).to_contain_text("Loaded")
    expect(page.locator("#image-upload img")).to_be_visible()
    page.wait_for_function("() => document.querySelector('#image-upload img').naturalWidth === 320")
    expect(page.locator("#shape-note")).to_be_visible()
    expect(page.locator("#aspect-ratio input")).to_be_disabled()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    # Generate sends the same image again
    generate_and_wait(page)
    first, again = (job["body"] for job in embedded().stats()["jobs"][-2:])
    assert again["image_url"] == first["image_url"] and "aspect_ratio" not in again

    # "Animate from this frame": the last frame becomes the form's image; nothing is sent
    posts = embedded().stats()["posts"]
    page.locator("#animate-frame").click()
    expect(page.locator("#picked-note")).to_contain_text("The last frame of")
    page.wait_for_function(
        "() => (document.querySelector('#image-upload img') || {}).src?.includes('last-frame')"
    )
    assert embedded().stats()["posts"] == posts
    assert page.evaluate(NO_SIDEWAYS_SCROLL)

    # Compare the two made from the image, picked in History: each shows it beside its video
    view = compare_from_history(page, 2)  # a tick on each of History's cards, then its Compare
    expect(view.locator(".pxui-compare-from img")).to_have_count(2)
    page.wait_for_function(
        """() => [...document.querySelectorAll('#compare-view .pxui-compare-from img')]
        .every((i) => i.naturalWidth === 320)"""
    )
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    no_traceback(page)


def test_a_reload_mid_job_brings_the_uploaded_rgba_png_back_and_sends_its_own_bytes(
    launch_app, open_page, make_sim, clock, tmp_path
):
    """A PNG with alpha goes to the API byte for byte (Gradio's image field would have sent an
    RGB copy); a reload while its job runs puts it back in the form with the other settings."""
    from PIL import Image

    from pixverse_ui.ui.common import VISITOR_STORAGE
    from pixverse_ui.ui.uploads import VISITOR_COOKIE

    api = make_sim(speed=40)  # the job stays queued until the test moves it on
    demo, _, ledger = launch_app(AIMLAPI_KEY=TEST_KEY, AIMLAPI_BASE_URL=api.url)
    page = open_page(demo.local_url)
    # the page's uploads carry its visitor token in a cookie: counted per visitor too
    page.wait_for_function(f"() => document.cookie.includes('{VISITOR_COOKIE}=v1.')")
    token = page.evaluate(f"() => localStorage.getItem('{VISITOR_STORAGE}')")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies[VISITOR_COOKIE] == token
    fox = tmp_path / "fox.png"
    Image.new("RGBA", (320, 180), (250, 120, 20, 90)).save(fox)
    page.locator("#image-upload input[type=file]").set_input_files(str(fox))
    expect(page.locator("#shape-note")).to_be_visible()
    fill_form(page, "The fox looks up", resolution="360p")
    page.locator("#generate").click()
    status = page.locator("#status-panel")
    expect(status).to_contain_text("queued", timeout=JOB_TIMEOUT)
    [body] = (job["body"] for job in api.stats()["jobs"])
    prefix, _, data = body["image_url"].partition(",")
    assert prefix == "data:image/png;base64" and base64.b64decode(data) == fox.read_bytes()
    [record] = ledger.history()
    assert record.image_sha256 == hashlib.sha256(fox.read_bytes()).hexdigest()

    page.reload()  # the page forgets its form; the running job puts its image back
    expect(status).to_contain_text("queued", timeout=JOB_TIMEOUT)
    expect(page.locator("#prompt textarea")).to_have_value("The fox looks up")
    expect(page.locator("#image-upload img")).to_be_visible(timeout=JOB_TIMEOUT)
    page.wait_for_function("() => document.querySelector('#image-upload img').naturalWidth === 320")
    expect(page.locator("#shape-note")).to_be_visible()
    expect(page.locator("#aspect-ratio input")).to_be_disabled()
    expect(page.locator("#generate")).to_be_disabled()

    advance_until(api, clock, "completed")
    expect(status).to_contain_text("Your video is ready", timeout=JOB_TIMEOUT)
    assert plays(page)
    # Generate again sends the same bytes: the image the reload put back is the job's
    page.locator("#generate").click()
    wait_for(lambda: api.stats()["posts"] == 2, timeout=JOB_TIMEOUT / 1000)
    advance_until(api, clock, "completed")
    again = api.stats()["jobs"][-1]["body"]
    assert again["image_url"] == body["image_url"] and "aspect_ratio" not in again
    no_traceback(page)
