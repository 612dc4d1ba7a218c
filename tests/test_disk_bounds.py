"""The disk a public page can make the app use is bounded, and ids from the API stay data.

``python app.py`` run as a Space takes one real image as an upload and stores nothing else (a 30 MB
body, a text file named .png, a 20,000 × 20,000 PNG); it refuses Gradio's deep links and the links
a caller puts in an input in place of a file, and its cache is unchanged after 300 of each.
Exporting or picking the same item again reuses what was published the first time; the publisher's
folders are removed once they are old, on a schedule driven here by a manual clock. The ``slow``
test measures the cache after 1,000 exports and 1,000 picks, calling the page's handlers directly.
An id with a newline and quotes, as a hostile API could send, ends up in the export only as a
quoted value of its scripts and as a clean file name.
"""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
import requests
from support import (
    ServedApp,
    bomb_png,
    form,
    png_bytes,
    queue_call,
    running_app_py,
    visitor_token,
)

from pixverse_ui import params
from pixverse_ui.client import ENDPOINT
from pixverse_ui.clock import ManualClock
from pixverse_ui.export import export, reproduce_script
from pixverse_ui.lifecycle import Status
from pixverse_ui.names import MAX_NAME, safe_name
from pixverse_ui.polling import video_filename
from pixverse_ui.publish import Publisher, version
from pixverse_ui.store import Ledger
from pixverse_ui.ui import build_demo
from pixverse_ui.ui.common import caller
from pixverse_ui.ui.guard import NO_DEEP_LINKS, NO_LINKS
from pixverse_ui.ui.uploads import PER_WINDOW, VISITOR_COOKIE, WINDOW, too_fast

HOSTILE_ID = "abc\nrm -rf ~\n'\"$(x)"
#: Ids a hostile or broken API could send; each must become a plain, distinct file name.
ODD_IDS = (HOSTILE_ID, "..", ".", "", "/etc/passwd", "a/../../b", "-rf", "x" * 5000, "é漢字", "a b")
MB = 1 << 20


# --- helpers --------------------------------------------------------------------------------------


def _files(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (its path relative to it) and its size."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def _entries(folder: Path) -> dict[str, int]:
    """Every file and folder under ``folder`` (its path relative to it) and its size."""
    return {str(p.relative_to(folder)): p.lstat().st_size for p in folder.rglob("*")}


def _disk_used(folder: Path, *, besides: Path) -> int:
    """Bytes ``folder`` takes on disk (files and folders, each inode once), not counting hard
    links to files under ``besides``, which take no more space than those files already do."""
    shared = {(p.stat().st_dev, p.stat().st_ino) for p in besides.rglob("*") if p.is_file()}
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in [folder, *folder.rglob("*")]:
        stat = path.lstat()
        inode = (stat.st_dev, stat.st_ino)
        if inode in seen or inode in shared:
            continue
        seen.add(inode)
        total += stat.st_blocks * 512
    return total


class Handlers:
    """The History tab's handlers of a page built over a ledger, with its own Gradio cache."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cache = tmp_path / "gradio"
        monkeypatch.setenv("GRADIO_TEMP_DIR", str(self.cache))
        self.videos = tmp_path / "videos"
        self.videos.mkdir()
        self.ledger = Ledger(tmp_path / "ledger.sqlite3")
        demo = build_demo(ledger=self.ledger, download_dir=self.videos)
        pick = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "pick")
        self.history = pick.__self__  # type: ignore[attr-defined]
        self.owner = caller(self.history.page, None, None, "disk-visitor", None).owner

    def finished(self, n: int, size: int, generation_id: str | None = None) -> str:
        """A finished generation of ``size`` bytes of video, owned by the caller; its job id."""
        job = f"job-{n}"
        body = params.validate(f"a heron, take {n}", resolution="360p", seed=n).to_body()
        self.ledger.record(client_request_id=job, owner=self.owner, endpoint=ENDPOINT, body=body)
        video = self.videos / f"video-{n}.mp4"
        video.write_bytes(os.urandom(size))
        self.ledger.update(job, state="running")
        self.ledger.update(
            job,
            generation_id=generation_id or f"gen-{n}",
            state=Status.DONE,
            status="completed",
            video_path=str(video),
        )
        return job

    def export(self, job: str) -> Path:
        shown, words = self.history.export(job, None, "disk-visitor", None)
        assert words.startswith("Exported"), words
        return Path(shown["value"])

    def pick(self, job: str) -> tuple[Any, ...]:
        answer = self.history.pick(
            [job], None, "disk-visitor", gr.SelectData(None, {"index": 0, "value": None}), None
        )
        assert answer[-1].startswith("Loaded"), answer[-1]
        return answer


@pytest.fixture
def page(tmp_path, monkeypatch) -> Handlers:
    return Handlers(tmp_path, monkeypatch)


# --- uploads: a Space, as strangers send them --------------------------------------------------


def test_uploads_to_a_space_take_one_real_image_and_store_nothing_else(space):
    """A 30 MB body, a text file named .png and a 20,000 × 20,000 PNG of 48 kB are each refused
    with a sentence, and the cache is as it was; a real PNG is stored and served back."""
    app, cache = space
    before = _files(cache)
    hostile = {
        "big.png": (os.urandom(30 * MB), 413),
        "notes.png": (b"These are my notes, not a picture.\n" * 20, 415),
        "bomb.png": (bomb_png(), 415),
    }
    for name, (data, status) in hostile.items():
        try:
            answer = requests.post(
                app.url + "/gradio_api/upload", files={"files": (name, data)}, timeout=60
            )
        except requests.ConnectionError:
            assert len(data) > MB  # cut off mid-body: allowed for the big one only
            continue
        assert answer.status_code == status, (name, answer.text)
        assert answer.text.endswith(".") and "Traceback" not in answer.text, answer.text
    assert _files(cache) == before
    image = png_bytes(320, 180)
    stored = requests.post(
        app.url + "/gradio_api/upload", files={"files": ("fox.png", image)}, timeout=60
    )
    assert stored.status_code == 200, stored.text
    (path,) = stored.json()
    assert Path(path).read_bytes() == image and Path(path).is_relative_to(cache)
    served = requests.get(app.url + "/gradio_api/file=" + path, timeout=30)
    assert served.content == image


def test_a_visitor_uploading_from_many_addresses_meets_its_own_count(space):
    """On a Space (one proxy in front, so the address is X-Forwarded-For's last entry) a browser
    carrying its visitor cookie gets ``PER_WINDOW`` uploads in the window whatever address it
    comes from; the next is refused with a sentence and nothing is stored. Another visitor, and
    the same one without its cookie, are counted by their addresses."""
    app, cache = space
    token = visitor_token(app.url)
    image = png_bytes(64, 36, seed=5)

    def send(address: str, cookie: str | None = token) -> requests.Response:
        headers = {"x-forwarded-for": address}
        if cookie is not None:
            headers["cookie"] = f"{VISITOR_COOKIE}={cookie}"
        return requests.post(
            app.url + "/gradio_api/upload",
            files={"files": ("fox.png", image)},
            headers=headers,
            timeout=60,
        )

    for i in range(PER_WINDOW):
        assert send(f"198.51.100.{i}").status_code == 200
    before = _files(cache)
    refused = send("198.51.100.200")
    assert (refused.status_code, refused.text) == (
        429,
        too_fast(PER_WINDOW, WINDOW, "This browser"),
    )
    assert _files(cache) == before
    assert send("198.51.100.201", visitor_token(app.url)).status_code == 200
    assert send("198.51.100.202", None).status_code == 200


# --- deep links and links in inputs: a Space, as strangers call it ------------------------------

#: What one stranger's 8 callers sent for a minute before deep links were refused (3,093 files).
CALLS = 300
GROWN = "cache kB grown by 300 deep links and 300 linked inputs"


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedApp, Path]]:
    """``python app.py`` as a Space that asks visitors for their own key, and its Gradio cache."""
    root = tmp_path_factory.mktemp("disk-space")
    cache = root / "gradio-cache"
    env = {"SPACE_ID": "someone/pixverse-ui", "AIMLAPI_KEY": "sk-disk-HOST-0011223344556677"}
    with running_app_py(root / "home", GRADIO_TEMP_DIR=str(cache), **env) as app:
        yield app, cache


def _event(app: ServedApp, name: str) -> int:
    deps = requests.get(app.url + "/config", timeout=10).json()["dependencies"]
    return next(i for i, dep in enumerate(deps) if dep.get("api_name") == name)


def test_deep_links_are_refused_and_write_nothing(space, figures):
    """Each stranger's session first runs an event (Gradio then keeps its state, which a deep
    link would write to disk), then asks for a deep link to it; 8 callers at once."""
    app, cache = space
    before = _entries(cache)
    resolution = _event(app, "on_resolution")

    def stranger(n: int) -> tuple[int, str]:
        session = f"deep{n:07d}"
        made = queue_call(app.url, resolution, ["720p", 5], session_hash=session)
        assert made.final is not None and made.final["success"], made.messages
        answer = requests.get(
            app.url + "/gradio_api/deep_link", params={"session_hash": session}, timeout=30
        )
        return answer.status_code, answer.text

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(stranger, range(CALLS)))
    assert set(answers) == {(404, NO_DEEP_LINKS)}
    after = _entries(cache)
    figures[GROWN] += (sum(after.values()) - sum(before.values())) // 1024
    assert after == before  # nothing written, so nothing to read back
    assert not (cache / "deep_links").exists()


def test_a_link_in_an_input_is_refused_and_nothing_is_fetched(space, figures):
    """Gradio downloads the file an input names by URL, whatever the component, before any
    handler runs. The addresses are TEST-NET (RFC 5737): nothing there would answer anyway."""
    app, cache = space
    before = _entries(cache)
    check, history = _event(app, "check"), _event(app, "list_history")

    def stranger(n: int) -> Any:
        link = {
            "path": f"http://192.0.2.{n % 250 + 1}/big-{n}.bin",
            "meta": {"_type": "gradio.FileData"},
        }
        call = (
            queue_call(app.url, check, form(prompt=link))
            if n % 2
            else queue_call(app.url, history, [link, "v", "", "any", False, "any", "any time", 1])
        )
        assert call.final is not None, call.messages
        return call.final["output"].get("error")

    with ThreadPoolExecutor(8) as pool:
        refusals = set(pool.map(stranger, range(CALLS)))
    assert refusals == {NO_LINKS}, (
        f"{refusals}: Gradio no longer downloads an input's link through "
        "processing_utils.async_ssrf_protected_download (see pixverse_ui/ui/guard.py)"
    )
    after = _entries(cache)
    figures[GROWN] += (sum(after.values()) - sum(before.values())) // 1024
    assert after == before  # not even the empty folder Gradio made before fetching


# --- the same item published once -----------------------------------------------------------------


def test_exporting_the_same_generation_twice_leaves_one_zip(page):
    job = page.finished(1, 200_000)
    first = page.export(job)
    again = page.export(job)
    assert again == first and first.name == "gen-1.zip"
    assert len(list(page.cache.rglob("*.zip"))) == 1
    with zipfile.ZipFile(first) as archive:
        assert archive.read("gen-1.mp4") == (page.videos / "video-1.mp4").read_bytes()
    # a new version of the video is a new zip with the new video in it
    time.sleep(0.01)  # a later mtime on any file system's clock resolution
    (page.videos / "video-1.mp4").write_bytes(b"new" * 1000)
    newer = page.export(job)
    assert newer != first
    with zipfile.ZipFile(newer) as archive:
        assert archive.read("gen-1.mp4") == b"new" * 1000


def test_picking_the_same_item_many_times_does_not_grow_the_cache(page):
    job = page.finished(1, 50_000)
    page.pick(job)
    once = _files(page.cache)
    assert any(name.endswith(".json") for name in once)  # the request, as a download
    for _ in range(25):
        answer = page.pick(job)
    assert _files(page.cache) == once
    assert sum(1 for _ in page.cache.iterdir()) == len(once)  # one folder a file, no empty ones
    [request] = [
        o["value"] for o in answer if isinstance(o, dict) and str(o.get("value")).endswith(".json")
    ]
    assert Path(request).read_text("utf-8").count("a heron, take 1") == 1


def test_a_contact_sheet_of_the_same_videos_is_made_once(tmp_path):
    from pixverse_ui.posters import contact_sheet

    publisher = Publisher(tmp_path / "cache")
    videos = [tmp_path / f"v{i}.mp4" for i in range(2)]
    for video in videos:
        video.write_bytes(b"not a video")  # each cell shows "no video"; the sheet is still made
    items = [(v, f"seed {i}") for i, v in enumerate(videos)]

    def sheet() -> str:
        return publisher.derived(
            ("sheet", *(version(v) for v in videos)),
            lambda folder: contact_sheet(items, folder / "contact-sheet.png"),
        )

    assert sheet() == sheet()
    assert len(list((tmp_path / "cache").rglob("*.png"))) == 1


# --- the scheduled cleanup ------------------------------------------------------------------------


def test_old_publisher_folders_are_removed_on_schedule_and_forgotten(tmp_path):
    clock = ManualClock(start=time.time())
    cache = tmp_path / "cache"
    publisher = Publisher(cache, clock=clock, max_age=3600, sweep_every=600)
    video = tmp_path / "video.mp4"
    video.write_bytes(b"v" * 1000)
    other = tmp_path / "other.mp4"
    other.write_bytes(b"o" * 1000)
    gradios_own = cache / "0123abcd" / "upload.bin"  # not ours: never touched
    gradios_own.parent.mkdir(parents=True)
    gradios_own.write_bytes(b"g")
    os.utime(gradios_own.parent, (0, 0))

    old = Path(publisher.file(video))  # t = 0
    kept = Path(publisher.file(other))
    clock.advance(3000)
    assert publisher.file(other) == str(kept)  # handed out again at t = 3000: young again
    clock.advance(700)  # t = 3700: `video` was last handed out 3,700 s ago, `other` 700 s ago
    assert publisher.sweep_if_due() == 1
    assert not old.parent.exists() and kept.exists() and gradios_own.exists()
    # the memo forgot the removed copy: the same file is published anew, and served
    fresh = Path(publisher.file(video))
    assert fresh != old and fresh.read_bytes() == video.read_bytes()

    clock.advance(2600)  # t = 6300: due, and nothing is old yet
    assert publisher.sweep_if_due() == 0 and kept.exists()
    clock.advance(400)  # t = 6700: `other` is old, but the last sweep was 400 s ago
    assert publisher.sweep_if_due() == 0 and kept.exists()
    clock.advance(200)  # t = 6900: due; publishing anything runs the sweep
    publisher.json("request-x.json", {"a": 1})
    assert not kept.parent.exists() and fresh.exists() and gradios_own.exists()
    assert len(list(cache.glob("pxui-*"))) == 2  # `fresh`, and the new request file


def test_a_failed_make_leaves_no_folder(tmp_path):
    publisher = Publisher(tmp_path / "cache")

    def broken(folder: Path) -> Path:
        (folder / "half.zip").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        publisher.derived(("broken",), broken)
    assert list((tmp_path / "cache").iterdir()) == []


# --- the figure for `make faults` -----------------------------------------------------------------


@pytest.mark.slow
def test_disk_after_a_thousand_exports_and_a_thousand_picks(page, figures):
    """Ten finished generations of 100 kB each, every one exported and picked 100 times."""
    jobs = [page.finished(n, 100_000) for n in range(10)]
    for _ in range(100):
        for job in jobs:
            page.export(job)
            page.pick(job)
    used = _disk_used(page.cache, besides=page.videos)
    figures["cache kB after 1,000 exports and 1,000 picks"] += used // 1024
    # each generation: one zip (its 100 kB video), one request file, a link to its video
    assert used < 10 * (100_000 + 6 * 4096) + 4096


# --- ids from the API are data --------------------------------------------------------------------


def test_safe_names_are_plain_bounded_and_distinct():
    names = [safe_name(ident) for ident in ODD_IDS]
    assert len(set(names)) == len(names)
    for name in names:
        assert name and len(name) <= MAX_NAME and name not in (".", "..")
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        assert not name.startswith("-")
    assert safe_name("FxkOMGP_IRjjNHfzH3LTV") == "FxkOMGP_IRjjNHfzH3LTV"  # real ids are kept
    assert video_filename(HOSTILE_ID) == safe_name(HOSTILE_ID) + ".mp4"
    assert video_filename("..") != video_filename(".")


def test_a_hostile_id_is_only_data_in_the_scripts_and_file_names(page, tmp_path):
    job = page.finished(1, 10_000, generation_id=HOSTILE_ID)
    record = page.ledger.get(job)
    path = export(record, tmp_path / "out")
    assert path.name == safe_name(HOSTILE_ID) + ".zip"
    assert [p.name for p in (tmp_path / "out").iterdir()] == [path.name]
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(
            [safe_name(HOSTILE_ID) + ".mp4", "request.json", "reproduce.py", "reproduce.sh"]
        )
        archive.extractall(tmp_path / "unzipped")
    folder = tmp_path / "unzipped"
    shell = (folder / "reproduce.sh").read_text("utf-8")
    script = (folder / "reproduce.py").read_text("utf-8")

    # sh parses it; the id is one quoted word, and no comment holds any of it
    checked = subprocess.run(["sh", "-n", "reproduce.sh"], cwd=folder, capture_output=True)
    assert checked.returncode == 0, checked.stderr
    assignment = shell.split("GENERATION_ID=", 1)[1].split("\n: ", 1)[0]
    assert shlex.split(assignment) == [HOSTILE_ID]
    comments = [line for line in shell.splitlines() if line.lstrip().startswith("#")]
    assert not any("abc" in line or "rm -rf" in line for line in comments)
    # Python compiles it; the id is one string constant, in no docstring or comment
    tree = ast.parse(script)
    compile(script, "reproduce.py", "exec")
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert strings.count(HOSTILE_ID) == 1 and f"GENERATION_ID = {HOSTILE_ID!r}\n" in script
    assert "rm -rf" not in (ast.get_docstring(tree) or "")
    assert not any("rm -rf" in line for line in script.splitlines() if line.lstrip()[:1] == "#")

    # run without a key, both stop before sending anything, and the id ran nowhere: the home
    # it names (a stand-in, under tmp_path) is still there
    home = tmp_path / "stand-in-home"
    (home / "canary").parent.mkdir()
    (home / "canary").write_text("still here")
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    for command in (["sh", "reproduce.sh"], [sys.executable, "reproduce.py"]):
        run = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        assert run.returncode != 0 and "AIMLAPI_KEY" in run.stderr, (command, run.stderr)
        assert "not found" not in run.stderr  # $(x) was never run as a command
    assert (home / "canary").read_text() == "still here"


def test_reproduce_py_saves_a_new_video_under_a_clean_name(tmp_path):
    """The id the API gives the new generation becomes a file name in reproduce.py too."""
    script = reproduce_script("gen-1", {"prompt": "x"})
    namespace: dict[str, Any] = {}
    exec(compile(script, "reproduce.py", "exec"), namespace)
    for ident in ODD_IDS:
        name = namespace["video_name"](ident)
        assert name.endswith(".mp4") and "/" not in name and name not in (".mp4", "..mp4")
        assert set(name[: -len(".mp4")]) <= set(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
        )
    assert namespace["video_name"]("FxkOMGP_IRjjNHfzH3LTV") == "FxkOMGP_IRjjNHfzH3LTV.mp4"
