"""Image-to-video through the page's API: the generate endpoint takes ``image`` by name (a file
through gradio_client's ``handle_file``, or a URL), and the simulator sees what was sent."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from gradio_client import handle_file
from support import form, png_bytes, sim_posts

from pixverse_ui.params import IMAGE_MODEL_ID
from pixverse_ui.simulator import embedded


def _last_body() -> dict:
    return embedded().stats()["jobs"][-1]["body"]


def test_an_uploaded_png_is_sent_as_its_bytes_with_no_aspect_ratio(launch_app, tmp_path):
    _, client, ledger = launch_app()
    fox = tmp_path / "fox.png"
    fox.write_bytes(png_bytes(320, 180))
    before = sim_posts()
    client.predict(*form(aspect=None, image=handle_file(str(fox))), api_name="/generate")
    assert sim_posts() == before + 1
    body = _last_body()
    assert body["model"] == IMAGE_MODEL_ID and "aspect_ratio" not in body
    prefix, data = body["image_url"].split(",", 1)
    assert prefix == "data:image/png;base64" and base64.b64decode(data) == fox.read_bytes()
    [record] = ledger.history()
    assert record.image_width == 320 and record.image_height == 180


def test_a_url_is_sent_as_given(launch_app):
    _, client, _ = launch_app()
    url = "https://example.com/fox.png?size=large"
    client.predict(*form(aspect=None, image=url), api_name="/generate")
    body = _last_body()
    assert body["model"] == IMAGE_MODEL_ID and body["image_url"] == url
    assert "aspect_ratio" not in body


@pytest.mark.parametrize(
    ("aspect", "image", "words"),
    [
        ("16:9", "https://example.com/fox.png", "takes no aspect ratio"),
        (None, "file:///etc/passwd", "must start with http:// or https://"),
        (None, "/etc/passwd", "a path on the server is not taken"),
    ],
    ids=["image-and-aspect", "file-url", "server-path"],
)
def test_a_bad_image_is_refused_with_a_sentence_and_nothing_sent(launch_app, aspect, image, words):
    _, client, ledger = launch_app()
    before = sim_posts()
    with pytest.raises(Exception) as caught:
        client.predict(*form(aspect=aspect, image=image), api_name="/generate")
    assert words in str(caught.value) and "Traceback" not in str(caught.value)
    assert sim_posts() == before and ledger.history() == []


def test_a_text_file_as_the_image_is_refused_at_the_upload(launch_app, tmp_path):
    _, client, ledger = launch_app()
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    before = sim_posts()
    with pytest.raises(Exception):  # noqa: B017 - the upload route answers 415 with a sentence
        client.predict(*form(aspect=None, image=handle_file(str(notes))), api_name="/generate")
    assert sim_posts() == before and ledger.history() == []


def test_the_quote_follows_the_image_shape(tmp_path, monkeypatch):
    """The form's price for a square picture is the square's, not 16:9's (the library's rule:
    the table's ratio nearest the image's); a server path sent as the image prices nothing."""
    from pixverse_ui.store import Ledger
    from pixverse_ui.ui import build_demo

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    demo = build_demo(ledger=Ledger(tmp_path / "ledger.sqlite3"), download_dir=tmp_path / "v")
    price = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "price")
    square = tmp_path / "square.png"
    square.write_bytes(png_bytes(300, 300))
    wide = price("16:9", "540p", 5, "", "", None)
    from_square = price(None, "540p", 5, "", "", {"path": str(square), "meta": {}})
    assert wide.startswith("This video: about $0.62 (1,250,000 credits)"), wide
    assert from_square.startswith("This video: about $0.35 (703,125 credits)"), from_square
    assert price(None, "540p", 5, "", "", "/etc/passwd") == ""


def test_variations_over_an_uploaded_image_send_it_to_every_variant(launch_app, tmp_path):
    """The page's variations endpoint takes the form's image: every POST of the batch carries
    the image-to-video model, the uploaded bytes and no aspect ratio."""
    _, client, ledger = launch_app()
    fox = tmp_path / "fox.png"
    fox.write_bytes(png_bytes(320, 180))
    before = sim_posts()
    *fields, key, visitor, image = form(aspect=None, image=handle_file(str(fox)))
    controls = ["styles", 2, ["anime", "clay"], [], False]
    client.predict(*fields, *controls, key, visitor, image, api_name="/variations")
    assert sim_posts() == before + 2
    bodies = [job["body"] for job in embedded().stats()["jobs"][-2:]]
    for body in bodies:
        assert body["model"] == IMAGE_MODEL_ID and "aspect_ratio" not in body
        prefix, data = body["image_url"].split(",", 1)
        assert prefix == "data:image/png;base64" and base64.b64decode(data) == fox.read_bytes()
    assert sorted(body["style"] for body in bodies) == ["anime", "clay"]
    assert {record.image_width for record in ledger.history()} == {320}
    with pytest.raises(Exception) as refused:  # the image decides the shape: no ratios to vary
        client.predict(
            *fields, "aspect ratios", 2, [], ["9:16", "1:1"], False, key, visitor, image,
            api_name="/variations",
        )  # fmt: skip
    assert "vary seeds or styles" in str(refused.value)
    assert sim_posts() == before + 2


def test_the_variations_quote_and_use_this_one_follow_the_image(tmp_path, monkeypatch):
    """The tab's quote prices a batch over a square picture at the square's shape; **Use this
    one** on a variant of an image puts the image back in the form with its settings."""
    import gradio as gr

    from pixverse_ui.store import Ledger
    from pixverse_ui.ui import build_demo
    from pixverse_ui.ui.common import caller

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    demo = build_demo(ledger=Ledger(tmp_path / "ledger.sqlite3"), download_dir=tmp_path / "v")
    part = next(
        f.fn.__self__ for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "use_variant"
    )
    square = tmp_path / "square.png"
    square.write_bytes(png_bytes(300, 300))
    picked = {"path": str(square), "meta": {}}
    _, wide = part.quote("16:9", "540p", 5, "seeds", 2, [], [], None, "v", None)
    _, from_square = part.quote(None, "540p", 5, "seeds", 2, [], [], None, "v", picked)
    assert wide.startswith("These 2 videos: about $1.25 (2,500,000 credits)"), wide
    assert from_square.startswith("These 2 videos: about $0.70 (1,406,250 credits)"), from_square
    for ratios in ([], ["1:1"]):  # said at once, not "pick the aspect ratios" first
        _, said = part.quote(None, "540p", 5, "aspect ratios", 2, [], ratios, None, "v", picked)
        assert "vary seeds or styles" in said, said

    from pixverse_ui import params
    from pixverse_ui.submission import with_kept_image

    ledger = part.page.app.ledger
    owner = caller(part.page, None, None, "v", None).owner
    asked = with_kept_image(
        params.validate("the fox", resolution="360p", style="clay", seed=7, image=square), ledger
    )
    ledger.record(
        client_request_id="variant-1", owner=owner, endpoint="e", body=asked.to_record(),
        image=asked.image.columns(), aspect_ratio=asked.frame_ratio,
    )  # fmt: skip
    *values, line = part.use_variant(None, "v", gr.EventData(None, {"id": "variant-1"}), None)
    prompt, _, aspect, resolution, _, style, seed, *_ = values[:10]
    upload, url, image, note = values[10:]
    assert (prompt, resolution, style, seed) == ("the fox", "360p", "clay", 7)
    assert aspect == gr.update(value=None, interactive=False) and note == gr.update(visible=True)
    assert Path(upload).read_bytes() == square.read_bytes() and url == ""
    assert image["path"] == upload and "Loaded" in line
