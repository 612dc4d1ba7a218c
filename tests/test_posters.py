"""Posters and contact sheets from real MP4s (rendered by the simulator's encoder)."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from pixverse_ui import validate
from pixverse_ui.errors import PosterError
from pixverse_ui.posters import (
    POSTER_WIDTH,
    contact_sheet,
    poster,
    poster_or_none,
    poster_path,
)
from pixverse_ui.simulator.video import render_mp4


@pytest.fixture
def video(video_cache, tmp_path):
    """A fresh copy of a 720p 16:9 MP4, so each test makes its own poster."""
    source = render_mp4(validate("a red fox", resolution="720p").to_body(), video_cache)
    copy = tmp_path / "fox.mp4"
    copy.write_bytes(source.read_bytes())
    return copy


def test_a_poster_is_a_small_jpeg_of_one_frame_beside_the_video(video):
    still = poster(video)
    assert still == video.parent / "fox.poster.jpg" == poster_path(video)
    with Image.open(still) as image:
        assert image.format == "JPEG"
        assert image.size == (POSTER_WIDTH, POSTER_WIDTH * 9 // 16)
        # the simulator's frame is a dark gradient with light text, not a blank picture
        low, high = image.convert("L").getextrema()
        assert high - low > 100


def test_a_poster_is_made_once(video):
    first = poster(video)
    made = first.stat().st_mtime_ns
    os.utime(first, ns=(made, made))
    assert poster(video).stat().st_mtime_ns == made  # not rewritten
    # a video newer than its poster gets a new one
    os.utime(video, ns=(made + 10**9, made + 10**9))
    assert poster(video).stat().st_mtime_ns != made


def test_a_frame_past_the_end_gives_the_last_frame(video):
    late = poster(video, at=60.0)
    with Image.open(late) as image:
        assert image.size[0] == POSTER_WIDTH


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "There is no video"), (b"", "is empty"), (b"<html>gone</html>", "could not be read")],
)
def test_a_missing_or_broken_video_is_a_sentence(tmp_path, content, words):
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PosterError, match=words) as refused:
        poster(path)
    assert "bad.mp4" in refused.value.user_message
    assert poster_or_none(path) is None and poster_or_none(None) is None
    assert not poster_path(path).exists()
    assert not list(tmp_path.glob("*.part"))


def test_a_contact_sheet_shows_each_poster_with_its_caption(video, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    items = [(video, "seed 1"), (video, "seed 2"), (broken, "seed 3"), (video, "seed 4")]
    sheet = contact_sheet(items, tmp_path / "out" / "sheet.png", columns=3)
    with Image.open(sheet) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width > 3 * POSTER_WIDTH and height > 2 * (POSTER_WIDTH * 9 // 16)
        # two rows of cells: the second row's first cell holds a poster, its second is empty
        # background, and the broken video's cell (row 1, column 3) is the grey placeholder
        pixels = image.convert("RGB")
        assert pixels.getpixel((width - 20, 20)) == (70, 70, 84)
        assert pixels.getpixel((width - 20, height - 20)) == (24, 24, 32)


def test_a_contact_sheet_of_nothing_is_a_sentence(tmp_path):
    with pytest.raises(PosterError, match="at least one video"):
        contact_sheet([], tmp_path / "sheet.png")
    assert not (tmp_path / "sheet.png").exists()
