"""Where an image-to-video job's image comes from and what is checked, before anything is sent:
URLs as given and never fetched, files and PIL images checked with Pillow, frames read with PyAV,
and the copy the ledger keeps. The end to end on the simulator is tests/test_image_to_video.py."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path
from types import SimpleNamespace

import av
import pytest
from PIL import Image
from support import picture

from pixverse_ui import ValidationError, images, params, validate
from pixverse_ui.images import Frame, prepare


def saved(image: Image.Image, path: Path, kind: str = "PNG") -> Path:
    image.save(path, format=kind)
    return path


def video(path: Path, frames: list[Image.Image], *, gop: int = 250) -> Path:
    """An H.264 MP4 of ``frames`` at 8 fps, a keyframe every ``gop`` frames."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=8)
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "bf": "2"}
        for index, frame in enumerate(frames):
            encoded = av.VideoFrame.from_image(frame)
            encoded.pts = index
            out.mux(stream.encode(encoded))
        out.mux(stream.encode(None))
    return path


def every_frame(path: Path) -> list[Image.Image]:
    with av.open(str(path)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


# --- URLs: as given, never fetched --------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://example.com/fox.jpg", "http://10.0.0.1:8080/a?b=c#d"])
def test_an_http_url_is_sent_as_given(url):
    image = prepare(url)
    assert image.is_url and image.image_url() == url and image.sha256 is None
    assert image.columns() == {
        "image_source": "url",
        "image_url": url,
        "image_path": None,
        "image_sha256": None,
        "image_width": None,
        "image_height": None,
    }


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "not file://"),
        ("ftp://example.com/fox.png", "not ftp://"),
        ("FTP://example.com/fox.png", "not ftp://"),
        ("gopher://example.com/", "not gopher://"),
        ("https://", "needs a host"),
        ("https://exa mple.com/fox.png", "needs a host, and no spaces"),
        ("https://example.com/\x7ffox.png", "no spaces"),
        ("https://example.com/" + "a" * 2100, "the limit is 2,048"),
        ("data:text/plain;base64,aGk=", "must read data:image/png;base64,"),
        ("data:image/png;base64,aGk=", "a data: URI is not an image Pillow can read"),
        ("data:image/png;base64,@@@", "base64 cannot be read"),
        ("data:image/png,rawbytes", "data:image/png;base64,"),
        ("", "The image is empty"),
    ],
)
def test_a_url_that_is_not_sent_gets_a_sentence(url, words):
    with pytest.raises(ValidationError) as refused:
        prepare(url)
    assert words in str(refused.value) and refused.value.field == "image"
    assert "Nothing was sent" in refused.value.user_message


def test_a_data_uri_is_checked_as_a_file_is():
    png = io.BytesIO()
    picture(seed=3).save(png, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    image = prepare(uri)
    assert (image.source, image.mime, image.width, image.height) == ("data", "image/png", 64, 36)
    assert image.image_url() == uri


# --- files: checked with Pillow -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_a_file_is_sent_as_a_data_uri_of_its_own_bytes(tmp_path, kind, mime):
    path = saved(picture(), tmp_path / "fox.bin", kind)  # its content names its type, not its name
    image = prepare(str(path))
    assert (image.source, image.mime, image.width, image.height) == ("file", mime, 64, 36)
    assert image.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    prefix = f"data:{mime};base64,"
    sent = image.image_url()
    assert sent.startswith(prefix) and base64.b64decode(sent[len(prefix) :]) == path.read_bytes()
    assert prepare(path).sha256 == image.sha256  # a Path as well as text


def test_a_file_refused_says_why(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    gif = saved(picture(), tmp_path / "fox.gif", "GIF")
    wide = saved(picture(images.MAX_SIDE + 1, 8), tmp_path / "wide.png")
    whole = saved(picture(), tmp_path / "whole.png").read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as out:  # sparse: its size is refused before a byte is read
        out.truncate(images.MAX_BYTES + 1)
    cases = {
        str(text): "is not an image Pillow can read: give a PNG, JPEG or WebP",
        str(gif): "is a GIF image; send a PNG, JPEG or WebP",
        str(wide): "is 4097×8 pixels; at most 4,096 a side is sent",
        str(cut): "is not an image Pillow can read",
        str(huge): "is 10.0 MB; at most 10 MB is sent",
        str(tmp_path / "nowhere.png"): "There is no image file at",
        str(tmp_path): "is not a file",
    }
    for given, words in cases.items():
        with pytest.raises(ValidationError) as refused:
            prepare(given)
        assert words in str(refused.value), (given, str(refused.value))


def test_a_file_at_the_limits_is_taken(tmp_path):
    tall = prepare(saved(picture(8, images.MAX_SIDE), tmp_path / "tall.png"))
    assert (tall.width, tall.height) == (8, images.MAX_SIDE)


# --- PIL images and frames ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "CMYK", "I;16"])
def test_a_pil_image_is_sent_as_a_png_of_its_pixels(mode):
    given = picture().convert(mode)
    image = prepare(given)
    assert (image.source, image.mime, image.width, image.height) == ("pil", "image/png", 64, 36)
    with Image.open(io.BytesIO(image.content())) as sent:
        expected = given if mode in ("RGB", "RGBA", "L") else given.convert("RGB")
        assert sent.convert(expected.mode).tobytes() == expected.tobytes()


def test_a_pil_image_too_big_is_refused():
    with pytest.raises(ValidationError, match="5000×10 pixels"):
        prepare(Image.new("RGB", (5000, 10)))


def test_the_first_and_last_frames_are_the_ones_a_full_decode_gives(tmp_path):
    frames = [picture(64, 48, seed=s) for s in range(23)]
    # keyframes every 5 frames and B-frames: the last is found by seeking, not by decoding all
    path = video(tmp_path / "shot.mp4", frames, gop=5)
    decoded = every_frame(path)
    assert len(decoded) == 23
    assert images.read_frame(path, "first").tobytes() == decoded[0].tobytes()
    assert images.read_frame(path, "last").tobytes() == decoded[-1].tobytes()
    assert decoded[-1].tobytes() != decoded[-2].tobytes()  # the frames differ: the test can tell

    last = prepare(Frame(SimpleNamespace(video_path=path), "last"))  # a Generation, say
    assert (last.source, last.mime, last.width, last.height) == ("frame", "image/png", 64, 48)
    with Image.open(io.BytesIO(last.content())) as sent:
        assert sent.convert("RGB").tobytes() == decoded[-1].tobytes()  # lossless: a PNG
    assert prepare((str(path), "first")).sha256 != last.sha256
    assert last.origin == "the last frame of shot.mp4"


def test_a_frame_that_cannot_be_read_is_a_sentence(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("no video here")
    cases = [
        (Frame(tmp_path / "nowhere.mp4"), "There is no video at"),
        (Frame(text, "last"), "is not a video PyAV can read"),
        (Frame(text, "middle"), "its 'first' or its 'last'"),
        (Frame(SimpleNamespace(video_path=None)), "has no video yet"),
        (12, "got a int"),
    ]
    for given, words in cases:
        with pytest.raises(ValidationError) as refused:
            prepare(given)
        assert words in str(refused.value), (given, str(refused.value))


# --- the copy the ledger keeps --------------------------------------------------------------------


def test_keep_writes_one_copy_per_image_and_reads_it_back(tmp_path):
    original = saved(picture(seed=5), tmp_path / "fox.png")
    image = prepare(original)
    kept = images.keep(image, tmp_path / "home")
    again = images.keep(prepare(str(original)), tmp_path / "home")
    copy = tmp_path / "home" / "images" / f"{image.sha256}.png"
    assert kept.path == again.path == str(copy)
    assert kept.data is None and kept.image_url() == image.image_url()  # sent from the copy
    assert copy.read_bytes() == original.read_bytes()
    assert os.listdir(copy.parent) == [copy.name]  # once, and no part file left
    record = SimpleNamespace(**kept.columns())
    back = images.recorded(record)
    assert back is not None and back.data is None  # read when it is sent, not before
    assert back.image_url() == image.image_url()
    copy.write_bytes(b"changed")
    with pytest.raises(ValidationError, match="has changed since"):
        back.image_url()
    copy.unlink()
    with pytest.raises(ValidationError, match="is no longer at"):
        back.content()
    url = prepare("https://example.com/a.png")
    assert images.keep(url, tmp_path / "home") is url
    assert images.recorded(SimpleNamespace(**url.columns())) == url
    assert images.recorded(SimpleNamespace(image_source=None)) is None


# --- Params: one table, two models --------------------------------------------------------------


def test_an_image_makes_an_image_to_video_request_without_an_aspect_ratio(tmp_path):
    path = saved(picture(300, 300), tmp_path / "square.png")
    request = validate("a fox", image=path, resolution="540p", duration="8", seed=3)
    body = request.to_body()
    assert body["model"] == params.IMAGE_MODEL_ID and "aspect_ratio" not in body
    assert body["image_url"].startswith("data:image/png;base64,")
    assert {k: v for k, v in body.items() if k != "image_url"} == {
        "model": params.IMAGE_MODEL_ID,
        "prompt": "a fox",
        "resolution": "540p",
        "duration": 8,
        "seed": 3,
    }
    assert "image_url" not in request.to_record()  # the ledger keeps the image as a file
    assert request.kind == "image-to-video" and request.aspect_ratio is None
    assert request.frame_ratio == "1:1" and request.size == (540, 540)
    assert request.summary() == "image 300×300 · 540p · 8 s · seed 3"
    url = validate("a fox", image_url="https://example.com/a.png")
    assert url.to_body()["image_url"] == url.to_record()["image_url"] == "https://example.com/a.png"
    assert url.frame_ratio == "16:9" and url.summary().startswith("image URL · 720p")


def test_the_model_follows_the_image_and_replace_keeps_them_together(tmp_path):
    path = saved(picture(), tmp_path / "fox.png")
    text = validate("a fox", aspect_ratio="9:16", seed=1)
    moved = text.replace(image=path)
    assert moved.model == params.IMAGE_MODEL_ID and moved.aspect_ratio is None
    assert moved.replace(seed=2).image == moved.image  # the image stays, unread again
    back = moved.replace(image=None)
    assert back.model == params.MODEL_ID and back.aspect_ratio == "16:9" and back.seed == 1
    assert validate("x", image=path, model="pixverse/v5.5/image-to-video").model == (
        "pixverse/v5.5/image-to-video"
    )
    assert validate("x", image=path, model="pixverse/v6-custom").model == "pixverse/v6-custom"


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"aspect_ratio": "16:9"}, "aspect_ratio", "image-to-video takes no aspect ratio"),
        ({"model": params.MODEL_ID}, "model", "starts from no image"),
        ({"image_url": "https://example.com/b.png"}, "image", "not both"),
    ],
)
def test_an_image_with_what_only_text_takes_is_refused_before_the_image_is_read(
    options, field, words
):
    with pytest.raises(ValidationError) as refused:
        validate("a fox", image="/no/such/file.png", **options)  # never looked at
    assert refused.value.field == field and words in str(refused.value)


def test_the_image_model_without_an_image_is_refused():
    with pytest.raises(ValidationError, match="needs an image: give one with image="):
        validate("a fox", model=params.IMAGE_MODEL_ID)


@pytest.mark.parametrize(
    ("size", "ratio"),
    [((1920, 1080), "16:9"), ((1000, 1000), "1:1"), ((1200, 1000), "4:3"), ((1080, 1920), "9:16"),
     ((3000, 10), "16:9"), ((10, 3000), "9:16"), ((900, 1200), "3:4"), ((1100, 1000), "1:1")],
)  # fmt: skip
def test_an_image_is_drawn_and_priced_at_the_nearest_ratio(size, ratio):
    assert params.nearest_aspect_ratio(*size) == ratio


def test_an_image_that_cannot_be_kept_is_a_sentence(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "images").write_text("a file where the folder goes")
    image = prepare(saved(picture(), tmp_path / "fox.png"))
    with pytest.raises(ValidationError) as refused:
        images.keep(image, tmp_path / "home")
    assert "The image could not be kept with the job in" in refused.value.user_message
    assert "Nothing was sent" in refused.value.user_message
