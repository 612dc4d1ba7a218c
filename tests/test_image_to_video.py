"""Image-to-video through the library, end to end on the simulator over real HTTP: what the POST
carries, what the video's first frame is, what the ledger keeps, and what is refused before any
request (0 POSTs, nothing recorded)."""

from __future__ import annotations

import base64
import http.server
import io
import threading
from pathlib import Path

import pytest
from conftest import TEST_KEY
from PIL import Image
from support import difference, picture, video_frames

from pixverse_ui import Jobs, errors, generate, params, submit, validate
from pixverse_ui.client import DATA_URI_HINT, Client
from pixverse_ui.images import MAX_BYTES, Frame
from pixverse_ui.lifecycle import Status
from pixverse_ui.pricing import estimate

PROMPT = "the fox looks up"


@pytest.fixture
def fox(tmp_path) -> Path:
    path = tmp_path / "fox.png"
    picture(640, 360).save(path)
    return path


def options(client, ledger, tmp_path) -> dict:
    return {
        "client": client,
        "ledger": ledger,
        "download_dir": tmp_path / "videos",
        "resolution": "360p",
    }


def sent_bodies(sim) -> list[dict]:
    return [job["body"] for job in sim.stats()["jobs"]]


def sent_bytes(body: dict) -> bytes:
    prefix, _, payload = body["image_url"].partition(",")
    assert prefix in ("data:image/png;base64", "data:image/jpeg;base64")
    return base64.b64decode(payload)


def test_a_file_is_sent_whole_and_is_the_videos_first_frame(sim, client, ledger, tmp_path, fox):
    video = generate(PROMPT, image=fox, **options(client, ledger, tmp_path))
    [body] = sent_bodies(sim)
    assert body["model"] == params.IMAGE_MODEL_ID and "aspect_ratio" not in body
    assert sent_bytes(body) == fox.read_bytes()
    first, later = video_frames(video.video_path, 2)
    assert first.size == (640, 360)  # its shape: 16:9, as the image's
    assert difference(first, Image.open(fox)) < 6  # the image, through H.264
    assert difference(first, picture(640, 360, seed=1)) > 15  # another picture is told apart
    assert difference(later, Image.open(fox)) > 15
    assert video.params.kind == "image-to-video" and video.params.summary().startswith(
        "image 640×360"
    )


def test_a_url_is_sent_as_given_and_never_fetched(sim, client, ledger, tmp_path):
    hits: list[str] = []

    class Counter(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            hits.append(self.path)
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/fox.png?size=large"
    try:
        video = generate(PROMPT, image=url, **options(client, ledger, tmp_path))
    finally:
        server.shutdown()
        thread.join(10)
    [body] = sent_bodies(sim)
    assert body["image_url"] == url and "aspect_ratio" not in body
    assert hits == []  # neither the library nor the simulator fetched it
    assert video_frames(video.video_path, 1)[0].size == (640, 360)
    record = ledger.get(video.id)
    assert (record.image_source, record.image_url, record.image_sha256) == ("url", url, None)


def test_a_pil_image_and_the_last_frame_of_a_video_are_sent_as_pngs(sim, client, ledger, tmp_path):
    square = picture(300, 300, seed=2)
    first = generate(PROMPT, image=square, **options(client, ledger, tmp_path))
    assert video_frames(first.video_path, 1)[0].size == (360, 360)  # 1:1, as the image
    last = video_frames(first.video_path)[-1]
    second = generate("and runs", image=Frame(first, "last"), **options(client, ledger, tmp_path))
    bodies = sent_bodies(sim)
    sent = Image.open(io.BytesIO(sent_bytes(bodies[1])))
    assert sent.format == "PNG" and sent.convert("RGB").tobytes() == last.tobytes()  # exact
    assert difference(video_frames(second.video_path, 1)[0], last) < 6


def test_the_ledger_keeps_the_image_before_the_post(make_sim, clock, ledger, tmp_path, fox):
    """A provider that takes images by URL only refuses the data: URI: the row, written before
    the POST, keeps the image, and the sentence says to give a public URL."""
    sim = make_sim(data_uris=False)
    refusing = Client(api_key=TEST_KEY, base_url=sim.url, clock=clock)
    with refusing, pytest.raises(errors.BadRequestError) as refused:
        generate(PROMPT, image=fox, **options(refusing, ledger, tmp_path))
    assert refused.value.hint == DATA_URI_HINT
    assert "Give the image as a public https URL instead" in refused.value.user_message
    [record] = ledger.history()
    assert record.state == Status.REJECTED and sim.stats()["posts"] == 1
    assert (record.image_source, record.image_width, record.image_height) == ("file", 640, 360)
    copy = Path(record.image_path)
    assert copy.parent == ledger.path.parent / "images" and copy.read_bytes() == fox.read_bytes()
    assert record.image_sha256 == copy.stem and "image_url" not in record.request


def test_a_rerun_from_the_ledger_sends_the_same_image(sim, client, ledger, tmp_path, fox):
    first = generate(PROMPT, image=fox, seed=11, **options(client, ledger, tmp_path))
    fox.unlink()  # the ledger's copy is what is sent again
    again = generate(params=first.params, **options(client, ledger, tmp_path))
    one, two = sent_bodies(sim)
    assert one == two  # the same body, image and seed included
    assert again.params.image.sha256 == first.params.image.sha256
    assert ledger.get(again.id).image_path == ledger.get(first.id).image_path  # one copy


def test_jobs_submit_and_the_handle_take_an_image(sim, client, ledger, tmp_path, fox):
    jobs = Jobs(client, ledger, tmp_path / "videos")
    job = jobs.submit(validate(PROMPT, image=fox, resolution="360p"))
    video = job.wait()
    assert difference(video_frames(video.video_path, 1)[0], Image.open(fox)) < 6
    handle = submit(PROMPT, image=str(fox), **options(client, ledger, tmp_path))
    assert handle.params.model == params.IMAGE_MODEL_ID
    handle.wait()
    assert [sent_bytes(body) for body in sent_bodies(sim)] == [fox.read_bytes()] * 2


def test_an_image_is_quoted_and_charged_at_its_shape(sim, client, ledger, tmp_path):
    square = picture(500, 480)
    asked = validate(PROMPT, image=square, resolution="540p")
    quoted = estimate(asked)  # no history yet: the rate card, at 1:1
    assert quoted == estimate(validate(PROMPT, aspect_ratio="1:1", resolution="540p"))
    assert quoted.credits < estimate(validate(PROMPT, resolution="540p")).credits  # 16:9
    url = validate(PROMPT, image="https://example.com/fox.png", resolution="540p")
    assert estimate(url) == estimate(validate(PROMPT, aspect_ratio="16:9", resolution="540p"))
    video = generate(params=asked, client=client, ledger=ledger, download_dir=tmp_path)
    assert video.credits_used == quoted.credits  # the simulator charges the shape quoted
    assert ledger.get(video.id).aspect_ratio == "1:1"
    assert estimate(asked, ledger).source == "ledger"  # its shape's history prices the next


def _huge(tmp_path: Path) -> Path:
    path = tmp_path / "huge.png"
    with open(path, "wb") as out:
        out.truncate(MAX_BYTES + 1)
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.png"
    path.write_text("a shopping list, not a picture")
    return path


REFUSALS = {
    "image-and-aspect-ratio": (lambda p, fox: {"image": fox, "aspect_ratio": "16:9"}, "no aspect"),
    "text-file": (lambda p, fox: {"image": _text(p)}, "is not an image Pillow can read"),
    "too-large": (lambda p, fox: {"image": _huge(p)}, "at most 10 MB is sent"),
    "unreachable-path": (lambda p, fox: {"image": p / "gone.png"}, "There is no image file at"),
    "file-url": (lambda p, fox: {"image": f"file://{fox}"}, "not file://"),
    "ftp-url": (lambda p, fox: {"image": "ftp://example.com/fox.png"}, "not ftp://"),
}


@pytest.mark.parametrize(("given", "words"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refused_image_sends_and_records_nothing(
    sim, client, ledger, tmp_path, fox, given, words
):
    with pytest.raises(errors.ValidationError) as refused:
        generate(PROMPT, **given(tmp_path, fox), **options(client, ledger, tmp_path))
    assert words in refused.value.user_message
    assert "Nothing was sent and nothing was charged." in refused.value.user_message
    assert sim.stats()["posts"] == 0 and ledger.history() == []
    assert not (ledger.path.parent / "images").exists()


def test_the_page_can_still_show_an_image_to_video_job(sim, client, ledger, tmp_path, fox):
    """Without its image (the running strip loads none; History's pick does, see
    test_history_image.py) a job made from one loads its settings at the default shape, and
    its request is shown without the image's bytes."""
    from pixverse_ui.history import HistoryItem
    from pixverse_ui.ui.common import request_json
    from pixverse_ui.ui.generate import loaded_form

    video = generate(PROMPT, image=fox, **options(client, ledger, tmp_path))
    item = HistoryItem.from_record(ledger.get(video.id))
    assert loaded_form(item.params)[:4] == (PROMPT, "", "16:9", "360p")
    shown = request_json(video.params.to_record())
    assert params.IMAGE_MODEL_ID in shown and "base64" not in shown


# --- the command line and the notebook: one more value each ---------------------------------


def test_the_cli_starts_from_an_image_and_refuses_an_aspect_ratio_with_it(
    sim, clock, tmp_path, fox, monkeypatch, capsys
):
    """``pixverse-ui generate PROMPT --image PATH``, run as the CLI's tests run it (its client on
    the test's simulator and clock; whose history it is from ``AIMLAPI_KEY``)."""
    import json

    from pixverse_ui import cli
    from pixverse_ui.store import Ledger

    ledger = Ledger(tmp_path / "cli.sqlite3", clock=clock)
    monkeypatch.setenv("AIMLAPI_KEY", TEST_KEY)
    monkeypatch.setattr(
        cli, "make_client",
        lambda: Client(api_key=TEST_KEY, base_url=sim.url, clock=clock, timeout=(2.0, 10.0)),
    )  # fmt: skip
    monkeypatch.setattr(cli, "make_ledger", lambda: ledger)
    argv = ["generate", PROMPT, "--image", str(fox), "--resolution", "360p", "--json"]
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    [body] = sent_bodies(sim)
    assert body["model"] == params.IMAGE_MODEL_ID and "aspect_ratio" not in body
    assert sent_bytes(body) == fox.read_bytes()
    assert ledger.get(result["id"]).image_sha256 is not None
    code = cli.main(["generate", PROMPT, "--image", str(fox), "--aspect-ratio", "9:16"])
    said = capsys.readouterr().err
    assert code == 2 and "aspect ratio" in said.lower() and "image" in said.lower(), said
    code = cli.main(["generate", PROMPT, "--image", "file:///etc/passwd"])
    assert code == 2 and "http" in capsys.readouterr().err
    assert sim.stats()["posts"] == 1  # the refusals sent nothing


def test_a_notebooks_video_shows_the_image_it_started_from(sim, client, ledger, tmp_path, fox):
    from pixverse_ui import notebook

    video = notebook.generate(PROMPT, image=fox, **options(client, ledger, tmp_path))
    shown = video._repr_html_()
    assert shown.index('<img src="data:image/png;base64,') < shown.index("<video")
    thumb = shown.split('<img src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    with Image.open(io.BytesIO(base64.b64decode(thumb))) as small:  # the fox, small
        assert small.size == (160, 90)
        assert difference(small, Image.open(fox).resize((160, 90))) < 6
    url = "https://example.com/fox.png"
    by_url = notebook.generate(PROMPT, image=url, **options(client, ledger, tmp_path))
    assert f'<img src="{url}"' in by_url._repr_html_()  # the notebook's own browser shows it
    text = notebook.generate(PROMPT, **options(client, ledger, tmp_path))
    assert "<img" not in text._repr_html_()


# --- variations over one image ------------------------------------------------------------------


def test_variations_over_one_image_send_it_to_every_variant_at_its_shape(
    sim, client, ledger, tmp_path, capsys
):
    """The notebook's (and the library's) batch over one picture: every POST carries the
    image-to-video model, the picture's own bytes and no aspect ratio; the quote printed first
    prices the square's shape (1:1 at 540p: 703,125 credits a video; 16:9 would be 1,250,000);
    varying aspect ratios over an image is refused with a sentence, before any request."""
    from pixverse_ui import notebook
    from pixverse_ui.variations import NO_RATIOS_WITH_AN_IMAGE

    square = tmp_path / "square.png"
    picture(300, 300, seed=3).save(square)
    common = {"client": client, "ledger": ledger, "image": square, "resolution": "540p"}
    seeds = notebook.variations(PROMPT, "seed", count=2, **common)
    quoted = capsys.readouterr().out.splitlines()[0]
    assert quoted.startswith("These 2 videos: about $0.70 (1,406,250 credits)"), quoted
    styles = notebook.variations(PROMPT, "style", values=["anime", "clay"], **common)
    bodies = sent_bodies(sim)
    assert len(bodies) == 4 and len(seeds) == len(styles) == 2
    for body in bodies:
        assert body["model"] == params.IMAGE_MODEL_ID and "aspect_ratio" not in body
        assert sent_bytes(body) == square.read_bytes()
    assert len({body["seed"] for body in bodies[:2]}) == 2
    assert [body.get("style") for body in bodies[2:]] == ["anime", "clay"]
    for video in (*seeds, *styles):  # each video starts from the picture, in its shape
        first = video_frames(video.video_path, 1)[0]
        assert first.size == (540, 540)
        assert difference(first, Image.open(square).resize((540, 540))) < 8
    with pytest.raises(errors.ValidationError) as refused:
        notebook.variations(PROMPT, "aspect_ratio", values=["9:16", "1:1"], **common)
    assert NO_RATIOS_WITH_AN_IMAGE in refused.value.user_message
    assert sim.stats()["posts"] == 4
