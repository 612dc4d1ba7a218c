"""Export: the zip holds the video, the exact request and two scripts that send it again; the
scripts are run against the simulator over loopback, which must receive exactly that request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import pytest
from conftest import TEST_KEY
from PIL import Image

from pixverse_ui import generation
from pixverse_ui.client import Client
from pixverse_ui.errors import ExportError
from pixverse_ui.export import export
from pixverse_ui.names import safe_name
from pixverse_ui.store import Ledger

PROMPT = "A lighthouse at dusk, 'quoted' and \"double-quoted\"\nJSON\non its own line; $HOME `x`"


@pytest.fixture
def finished(make_live_sim, tmp_path):
    """A real finished generation on a live simulator: (simulator, ledger, its record)."""
    sim = make_live_sim(api_keys=frozenset({TEST_KEY}))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with Client(api_key=TEST_KEY, base_url=sim.url, timeout=(2.0, 10.0)) as client:
        video = generation.generate(
            PROMPT,
            resolution="360p",
            seed=7,
            style="clay",
            negative_prompt="blur",
            client=client,
            ledger=ledger,
            download_dir=tmp_path / "videos",
            timeout=120,
        )
    return sim, ledger, ledger.get(video.id)


def _child_env(sim) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMLAPI_", "PIXVERSE_UI_"))}
    env.update(
        AIMLAPI_BASE_URL=sim.url,
        AIMLAPI_KEY=TEST_KEY,
        REPRODUCE_POLL_SECONDS="0.2",
        REPRODUCE_TIMEOUT_SECONDS="120",
    )
    return env


def test_the_zip_holds_four_files_and_its_scripts_send_the_same_request(finished, tmp_path):
    sim, _, record = finished
    gid = safe_name(record.generation_id)  # the id itself, unless it starts with "-" (1 in 64)
    path = export(record, tmp_path / "exports")
    assert path == tmp_path / "exports" / f"{gid}.zip"
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(
            [f"{gid}.mp4", "request.json", "reproduce.py", "reproduce.sh"]
        )
        raw = b"".join(archive.read(name) for name in archive.namelist())
        archive.extractall(tmp_path / "unzipped")
    folder = tmp_path / "unzipped"
    for needle in (TEST_KEY, TEST_KEY[8:24], "Bearer sk-"):
        assert needle.encode() not in raw and needle.encode() not in path.read_bytes()
    assert (folder / f"{gid}.mp4").read_bytes() == Path(record.video_path).read_bytes()
    request = json.loads((folder / "request.json").read_text("utf-8"))
    assert request == record.request and request["prompt"] == PROMPT

    # reproduce.py, standalone, against the simulator: the same body arrives, a video comes back
    run = subprocess.run(
        [sys.executable, "reproduce.py"],
        cwd=folder,
        env=_child_env(sim),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr
    jobs = sim.stats()["jobs"]
    assert len(jobs) == 2 and jobs[1]["body"] == request
    # saved under its id, never as a name that starts with "-" (an option to most commands)
    saved = f"{jobs[1]['id'].lstrip('-')}.mp4"
    assert f"Saved {saved}" in run.stdout
    with av.open(str(folder / saved)) as container:
        assert container.streams.video[0].codec_context.height == 360

    # reproduce.sh: curl sends the same body too
    shell = subprocess.run(
        ["sh", "reproduce.sh"],
        cwd=folder,
        env=_child_env(sim),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.returncode == 0, shell.stderr
    assert '"status":"queued"' in shell.stdout.replace(" ", "")
    jobs = sim.stats()["jobs"]
    assert len(jobs) == 3 and jobs[2]["body"] == request


def test_reproduce_py_without_a_key_sends_nothing(finished, tmp_path):
    sim, _, record = finished
    with zipfile.ZipFile(export(record, tmp_path)) as archive:
        archive.extractall(tmp_path / "unzipped")
    env = _child_env(sim)
    del env["AIMLAPI_KEY"]
    run = subprocess.run(
        [sys.executable, "reproduce.py"],
        cwd=tmp_path / "unzipped",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "Set AIMLAPI_KEY" in run.stderr
    assert sim.stats()["posts"] == 1


def test_a_job_without_a_video_is_a_sentence_and_no_zip(finished, tmp_path):
    _, ledger, record = finished
    ledger.record(client_request_id="c-running", owner="o", endpoint="e", body=record.request)
    ledger.update("c-running", generation_id="g-running", state="running", status="generating")
    with pytest.raises(ExportError, match="has no video yet \\(it is running\\)") as refused:
        export(ledger.get("g-running"), tmp_path / "out")
    assert "Nothing was written" in refused.value.user_message
    ledger.adopt("g-far", owner="o", endpoint="e")
    with pytest.raises(ExportError, match="its request is not known here"):
        export(ledger.get("g-far"), tmp_path / "out")
    os.unlink(record.video_path)
    with pytest.raises(ExportError, match="is no longer at"):
        export(record, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before any folder or file is made


# --- image-to-video: the image travels beside the scripts -----------------------------------------


def _from_an_image(sim, tmp_path: Path, image) -> tuple[Ledger, object]:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with Client(api_key=TEST_KEY, base_url=sim.url, timeout=(2.0, 10.0)) as client:
        video = generation.generate(
            PROMPT,
            image=image,
            resolution="360p",
            seed=3,
            client=client,
            ledger=ledger,
            download_dir=tmp_path / "videos",
            timeout=120,
        )
    return ledger, ledger.get(video.id)


def _run(script: list[str], folder: Path, sim) -> subprocess.CompletedProcess:
    return subprocess.run(
        script, cwd=folder, env=_child_env(sim), capture_output=True, text=True, timeout=180
    )


def test_a_local_image_goes_in_the_zip_and_both_scripts_send_it_again(make_live_sim, tmp_path):
    sim = make_live_sim(api_keys=frozenset({TEST_KEY}))
    original = tmp_path / "fox.jpg"
    Image.new("RGB", (96, 64), (200, 80, 20)).save(original, format="JPEG")
    _, record = _from_an_image(sim, tmp_path, original)
    gid = safe_name(record.generation_id)
    path = export(record, tmp_path / "exports")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(
            [f"{gid}.mp4", "request.json", "reproduce.py", "reproduce.sh", "image.jpg"]
        )
        raw = b"".join(archive.read(name) for name in archive.namelist())
        archive.extractall(tmp_path / "unzipped")
    assert TEST_KEY.encode() not in raw
    folder = tmp_path / "unzipped"
    assert (folder / "image.jpg").read_bytes() == original.read_bytes()
    request = json.loads((folder / "request.json").read_text("utf-8"))
    assert request == {**record.request, "image_url": "data:image/jpeg;base64,<image.jpg>"}
    [sent] = [job["body"] for job in sim.stats()["jobs"]]

    # both scripts, run from elsewhere: the image is read beside them, and the same body arrives
    assert _run([sys.executable, str(folder / "reproduce.py")], tmp_path, sim).returncode == 0
    shell = _run(["sh", str(folder / "reproduce.sh")], tmp_path, sim)
    assert shell.returncode == 0, shell.stderr
    assert '"status":"queued"' in shell.stdout.replace(" ", "")
    bodies = [job["body"] for job in sim.stats()["jobs"]]
    assert len(bodies) == 3 and bodies[1] == sent and bodies[2] == sent


def test_an_image_url_stays_a_url_and_no_file_is_added(make_live_sim, tmp_path):
    sim = make_live_sim(api_keys=frozenset({TEST_KEY}))
    _, record = _from_an_image(sim, tmp_path, "https://example.com/fox.png")
    with zipfile.ZipFile(export(record, tmp_path / "exports")) as archive:
        assert "image.png" not in archive.namelist() and len(archive.namelist()) == 4
        archive.extractall(tmp_path / "unzipped")
    request = json.loads((tmp_path / "unzipped" / "request.json").read_text("utf-8"))
    assert request == record.request and request["image_url"] == "https://example.com/fox.png"
    shell = _run(["sh", "reproduce.sh"], tmp_path / "unzipped", sim)
    assert shell.returncode == 0, shell.stderr
    bodies = [job["body"] for job in sim.stats()["jobs"]]
    assert bodies[1] == bodies[0] == request


def test_an_image_whose_copy_is_gone_is_a_sentence_and_no_zip(make_live_sim, tmp_path):
    sim = make_live_sim(api_keys=frozenset({TEST_KEY}))
    original = tmp_path / "fox.png"
    Image.new("RGB", (64, 64), (20, 80, 200)).save(original)
    _, record = _from_an_image(sim, tmp_path, original)
    Path(record.image_path).unlink()
    with pytest.raises(ExportError, match="is no longer at") as refused:
        export(record, tmp_path / "out")
    assert "Nothing was written" in refused.value.user_message
    assert not (tmp_path / "out").exists()  # refused before any folder or file is made


def readme_recipe() -> list[list[str]]:
    """The README's commands that run an export's scripts on the simulator, each split as the
    shell would (its comment and a trailing ``&`` left off)."""
    import re
    import shlex

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    [block] = re.findall(r"^```bash\n(pixverse-ui simulator .*?)^```", readme, re.S | re.M)
    return [shlex.split(line.split("#")[0].strip().rstrip("&")) for line in block.splitlines()]


def test_the_readmes_recipe_runs_an_exports_scripts_on_the_simulator(finished, tmp_path):
    """As the README says: the simulator with a key of your choosing, then reproduce.py and
    reproduce.sh pointed at it (on a free port here, not the README's 8000)."""
    import threading

    from support import child_env, free_port, wait_for

    _, _, record = finished
    with zipfile.ZipFile(export(record, tmp_path / "exports")) as archive:
        archive.extractall(tmp_path / "unzipped")
    start, *scripts = readme_recipe()
    assert start[:2] == ["pixverse-ui", "simulator"] and len(scripts) == 2
    port = str(free_port())
    command = [sys.executable, "-m", "pixverse_ui", *start[1:]]
    command[command.index("--port") + 1] = port
    env = child_env(tmp_path / "home")
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as simulator:
        try:
            lines: list[str] = []  # read on a thread of its own: a wait that cannot hang
            threading.Thread(target=lambda: lines.extend(simulator.stdout), daemon=True).start()
            wait_for(lambda: any("PixVerse simulator at" in line for line in lines), 60)
            said = []
            for line in scripts:
                settings = dict(word.split("=", 1) for word in line if "=" in word)
                settings["AIMLAPI_BASE_URL"] = settings["AIMLAPI_BASE_URL"].replace("8000", port)
                program = [word for word in line if "=" not in word]
                program[0] = sys.executable if program[0] == "python" else program[0]
                run = subprocess.run(
                    program, cwd=tmp_path / "unzipped", env={**env, **settings},
                    capture_output=True, text=True, timeout=180,
                )  # fmt: skip
                assert run.returncode == 0, run.stderr
                said.append(run.stdout)
        finally:
            simulator.terminate()
    assert "Saved " in said[0] and '"status":"queued"' in said[1].replace(" ", "")
