"""Image-to-video in a real Chromium, on a phone: a PNG uploaded in the form is animated, the
video plays, History's card shows the image it started from, picking it loads the image back,
and the page never scrolls sideways at 390 px."""

from __future__ import annotations

import pytest
from browser_support import (
    PHONE,
    generate_and_wait,
    history_tab,
    make_video,
    no_traceback,
    pick_card,
    plays,
)
from support import png_bytes

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
    history_tab(page)
    ticks = page.locator("#history-table .pxui-tick")
    expect(ticks).to_have_count(2)
    for i in range(2):
        ticks.nth(i).click()
    page.locator("#history-table .pxui-compare-go").click()
    view = page.locator("#compare-view")
    expect(view.locator("video")).to_have_count(2)
    expect(view.locator(".pxui-compare-from img")).to_have_count(2)
    page.wait_for_function(
        """() => [...document.querySelectorAll('#compare-view .pxui-compare-from img')]
        .every((i) => i.naturalWidth === 320)"""
    )
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    no_traceback(page)
