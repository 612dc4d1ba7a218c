"""The command line, in-process against the simulator on loopback (a ManualClock: no waiting).

The CLI's ``make_client`` / ``make_ledger`` factories are swapped for a client and a ledger on the
test's clock; everything else (whose history it is, from ``AIMLAPI_KEY`` as the command runs,
validation, stream(), resume(), the ledger, the download) is the real thing over real HTTP.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import av
import pytest
from support import child_env

from pixverse_ui import cli
from pixverse_ui.client import Client
from pixverse_ui.lifecycle import Status
from pixverse_ui.names import safe_name
from pixverse_ui.store import Ledger

KEY = "sk-cli-test-KEY-9f8e7d6c5b4a3210"
ROOT = Path(__file__).resolve().parents[1]


class _Machine(SimpleNamespace):
    """The test's machine: setting ``key`` sets ``AIMLAPI_KEY``, which the CLI's own rule reads
    to know whose history it shows (as on a machine where someone exports another key)."""

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name == "key":
            os.environ["AIMLAPI_KEY"] = str(value)


@pytest.fixture
def env(sim, clock, tmp_path, monkeypatch):
    """Point the CLI at the test simulator, on the test's clock, with the test's key."""
    monkeypatch.setenv("AIMLAPI_KEY", KEY)  # restored after the test, whatever it sets
    ledger = Ledger(tmp_path / "cli-ledger.sqlite3", clock=clock)
    state = _Machine(sim=sim, clock=clock, ledger=ledger, key=KEY, clients=[])

    def make_client() -> Client:
        client = Client(api_key=state.key, base_url=state.sim.url, clock=clock, timeout=(2.0, 10.0))
        state.clients.append(client)
        return client

    monkeypatch.setattr(cli, "make_client", make_client)
    monkeypatch.setattr(cli, "make_ledger", lambda: ledger)
    return state


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, "nothing on stdout"
    return json.loads(lines[-1])


def frame_size(path: str) -> tuple[int, int]:
    with av.open(path) as container:
        ctx = container.streams.video[0].codec_context
        return ctx.width, ctx.height


# --- generate ------------------------------------------------------------------------------------


def test_generate_json_prints_one_object_with_a_real_mp4(env, capsys):
    code, out, err = run(capsys, "generate", "a red fox", "--resolution", "360p", "--json")
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1  # nothing else on stdout in --json mode
    result = last_json(out)
    assert set(result) == {
        "id",
        "status",
        "video_path",
        "credits_used",
        "client_request_id",
        "state",
        "finding",
    }
    assert result["status"] == "completed" and result["state"] == Status.DONE
    assert result["finding"] is None  # the provider's word said it all
    assert result["credits_used"] and result["client_request_id"]
    path = Path(result["video_path"])
    assert path.exists() and path.read_bytes()[4:8] == b"ftyp"
    assert frame_size(str(path)) == (640, 360)
    job = env.ledger.get(result["id"])
    assert job.state == Status.DONE and job.video_path == str(path)
    assert env.sim.stats()["posts"] == 1
    # the plain progress: one line per change, with status, elapsed time and ETA
    assert cli.SIMULATOR_NOTICE not in err  # this machine has a key: no simulator notice
    assert f"Watching generation {result['id']}" in err
    lines = err.splitlines()
    assert any("queued:" in line and "ETA" in line for line in lines)
    assert any("generating:" in line for line in lines)
    assert len(lines) == len(set(lines))


def test_generate_without_json_prints_the_path_and_credits(env, capsys, tmp_path):
    target = tmp_path / "my videos"
    code, out, err = run(
        capsys,
        "generate",
        "a lighthouse at dusk",
        "--resolution=360P",
        "--aspect-ratio",
        "9:16",
        "--duration",
        "8",
        "--style",
        "Anime",
        "--seed",
        "42",
        "--no-audio",
        "--thinking",
        "disabled",
        "--output-dir",
        str(target),
    )
    assert code == 0, err
    video = next(target.glob("*.mp4"))
    assert f"Video: {video}" in out
    # the cost after, in dollars and credits: the simulator reports both
    job = env.ledger.history()[0]
    # (this test's key is served by a stand-in at its own address: money counted as real)
    assert f"Cost: ${job.usd_spent:.2f} ({job.credits_used:,.0f} credits)." in out
    # the estimate before, on stderr (stdout keeps the result)
    assert err.startswith("This video: about $0.44 (888,889 credits); from the rate")
    assert frame_size(str(video)) == (360, 640)
    [body] = [job["body"] for job in env.sim.stats()["jobs"]]
    assert body["resolution"] == "360p" and body["duration"] == 8 and body["style"] == "anime"
    assert body["seed"] == 42 and body["generate_audio_switch"] is False
    assert body["thinking_type"] == "disabled" and body["aspect_ratio"] == "9:16"


def test_style_none_sends_no_style(env, capsys):
    code, out, err = run(capsys, "generate", "x", "--resolution", "360p", "--style", "none")
    assert code == 0, err
    [body] = [job["body"] for job in env.sim.stats()["jobs"]]
    assert "style" not in body


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["generate", "a red fox", "--duration", "7"], "--duration"),
        (["generate", "a red fox", "--resolution", "4k"], "--resolution"),
        (["generate", "a red fox", "--resolution", "1080p", "--duration", "8"], "8-second"),
        (["generate", ""], "prompt is empty"),
        (["generate", "   "], "prompt is empty"),
        (["generate", "a red fox", "--aspect-ratio", "2:1"], "--aspect-ratio"),
        (["generate", "a red fox", "--thinking", "maybe"], "--thinking"),
        (["generate", "a red fox", "--seed", "-1"], "Seed"),
        (["generate", "a red fox", "--timeout", "0"], "--timeout"),
        (["generate", "a red fox", "--bogus"], "--bogus"),
    ],
)
def test_bad_values_exit_2_with_one_line_and_send_nothing(env, capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert words in lines[0]
    assert out == ""
    assert env.sim.stats()["posts"] == 0
    assert env.ledger.history() == []


def test_a_validation_error_in_json_mode_is_still_one_json_object(env, capsys):
    code, out, err = run(
        capsys, "generate", "x", "--resolution", "1080p", "--duration", "8", "--json"
    )
    assert code == 2
    result = last_json(out)
    assert result["id"] is None and "8-second" in result["error"]
    # nothing was sent, so the provider said nothing: the word is our check's, in its own key
    assert result["status"] is None and result["finding"] == "invalid"
    assert env.sim.stats()["posts"] == 0


def test_letting_the_server_decide_sends_it_and_shows_the_servers_words(env, capsys):
    code, out, err = run(
        capsys, "generate", "x", "--resolution", "1080p", "--duration", "8", "--let-server-decide"
    )
    assert code == 1
    assert env.sim.stats()["posts"] == 1
    assert "does not support 8-second videos" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("as_json", [False, True])
def test_a_failed_generation_exits_1_with_the_providers_words(env, capsys, as_json):
    env.sim.faults.add("fail", target="post")
    argv = ["generate", "a red fox", "--resolution", "360p"] + (["--json"] if as_json else [])
    code, out, err = run(capsys, *argv)
    assert code == 1
    [job] = env.ledger.history()
    assert job.state == Status.FAILED and job.error
    assert job.error in err  # the provider's own words
    assert "Traceback" not in err
    if as_json:
        result = last_json(out)
        assert result["id"] == job.generation_id and result["state"] == Status.FAILED
        assert job.error in result["error"]
        assert len(out.strip().splitlines()) == 1
    else:
        assert out == ""


def test_a_timeout_exits_1_and_says_how_to_resume(env, capsys):
    code, out, err = run(capsys, "generate", "x", "--resolution", "360p", "--timeout", "5")
    assert code == 1
    [job] = env.ledger.history()
    assert job.state == Status.RUNNING
    assert f"pixverse-ui resume {job.generation_id}" in err
    code, out, err = run(capsys, "resume", job.generation_id)
    assert code == 0, err
    assert env.ledger.get(job.generation_id).state == Status.DONE


def test_ctrl_c_while_watching_keeps_the_job_and_says_how_to_resume(tmp_path):
    """A real SIGINT to ``pixverse-ui generate`` once it is watching, then ``resume``.

    The child gets SIGINT's default handling whatever this run inherited: a shell starts
    background commands with SIGINT ignored, and Python then never turns it into Ctrl-C."""
    env = child_env(tmp_path / "home", PIXVERSE_UI_SIM_SPEED="20")
    command = [sys.executable, "-m", "pixverse_ui"]
    child = subprocess.Popen(
        [*command, "generate", "a red fox", "--resolution", "360p", "--json"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    try:
        for line in child.stderr:  # plain progress lines: not a terminal
            seen.append(line)
            if line.startswith("Watching generation"):
                child.send_signal(signal.SIGINT)
                break
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    err = "".join(seen) + err
    assert child.returncode == 130, err
    result = last_json(out)
    gid = result["id"]
    assert gid and result["state"] == Status.RUNNING and result["error"] == "interrupted"
    assert f"pixverse-ui resume {gid}" in err and "Traceback" not in err

    resumed = subprocess.run(
        [*command, "resume", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    result = last_json(resumed.stdout)
    assert result["id"] == gid and result["state"] == Status.DONE
    assert Path(result["video_path"]).exists()
    with sqlite3.connect(tmp_path / "home" / "simulator" / "jobs.sqlite3") as sim_jobs:
        assert sim_jobs.execute("SELECT count(*) FROM jobs").fetchone() == (1,)  # one POST


def test_the_rich_display_on_a_terminal(env, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_fancy", lambda: True)
    code, out, err = run(capsys, "generate", "a red fox", "--resolution", "360p", "--json")
    assert code == 0, err
    assert "elapsed" in err and "ETA" in err
    assert last_json(out)["status"] == "completed"


def test_the_bar_ends_full_in_the_finished_colour(env, capsys, monkeypatch):
    """The last frame rich draws: the whole bar in its finished green, none of it grey."""
    monkeypatch.setattr(cli, "_fancy", lambda: True)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLORTERM", "truecolor")
    code, out, err = run(capsys, "generate", "a red fox", "--resolution", "360p", "--json")
    assert code == 0, err
    last = [frame for frame in err.replace("\r", "\n").splitlines() if "━" in frame][-1]
    assert "Your video is ready" in last and "ETA done" in last
    assert "38;2;114;156;31" in last, repr(last)  # rich's bar.finished
    assert "38;5;237" not in last, repr(last)  # rich's bar.back: the grey of a bar not full


# --- resume / list -------------------------------------------------------------------------------


def test_resume_with_nothing_unfinished_exits_0(env, capsys):
    code, out, err = run(capsys, "resume")
    assert code == 0
    assert "Nothing to resume" in err and out == ""


def test_resume_an_unknown_id_exits_1_in_one_line(env, capsys):
    code, out, err = run(capsys, "resume", "no-such-generation")
    assert code == 1
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) >= 1


def test_list_shows_the_job(env, capsys):
    prompt = "a red fox in the snow"
    code, out, _ = run(capsys, "generate", prompt, "--resolution", "360p", "--json")
    assert code == 0
    gid = last_json(out)["id"]
    code, out, err = run(capsys, "list", "--json")
    assert code == 0
    [entry] = json.loads(out)
    assert entry["id"] == gid and entry["state"] == Status.DONE and entry["prompt"] == prompt
    assert entry["params"]["resolution"] == "360p" and entry["credits_used"]
    code, out, err = run(capsys, "list")
    assert code == 0
    assert gid in out and "a red fox in the snow" in out and "360p" in out and "done" in out


def test_list_says_which_model_and_which_image(env, capsys, tmp_path):
    """An image-to-video job (started from the library, for now) in ``list --json``."""
    from PIL import Image

    from pixverse_ui import generation, params

    image = tmp_path / "fox.png"
    Image.new("RGB", (64, 64), (10, 120, 40)).save(image)
    with cli.make_client() as client:
        started = generation.generate(
            "the fox", image=image, resolution="360p", client=client, ledger=env.ledger,
            download_dir=tmp_path / "videos",
        )  # fmt: skip
    assert run(capsys, "generate", "a heron", "--resolution", "360p")[0] == 0
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    heron, fox = json.loads(out)
    assert fox["id"] == started.id and fox["model"] == params.IMAGE_MODEL_ID
    assert fox["image_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert "image_url" not in fox["params"] and "aspect_ratio" not in fox["params"]
    assert fox["settings"].startswith("image 64×64 · 360p · 5 s")
    assert heron["model"] == params.MODEL_ID and heron["image_sha256"] is None
    code, out, _ = run(capsys, "list")
    assert code == 0 and "image 64×64 · 360p" in out


def test_list_shows_only_this_keys_jobs(env, capsys):
    assert run(capsys, "generate", "x", "--resolution", "360p")[0] == 0
    env.key = "sk-someone-else-entirely"
    code, out, err = run(capsys, "list", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, err = run(capsys, "list")
    assert code == 0 and "No generations yet" in out


def test_list_limit(env, capsys):
    for _ in range(2):
        assert run(capsys, "generate", "x", "--resolution", "360p")[0] == 0
    code, out, _ = run(capsys, "list", "--limit", "1", "--json")
    assert code == 0 and len(json.loads(out)) == 1
    # the count says how many there are, not how many were asked for
    code, out, _ = run(capsys, "list", "--limit", "1")
    assert code == 0 and out.startswith("1 of 2 generations, newest first")
    code, out, _ = run(capsys, "list", "--limit", "5")
    assert code == 0 and out.startswith("2 generations, newest first")


# --- the key -------------------------------------------------------------------------------------


def test_the_key_appears_nowhere(env, make_sim, capsys, monkeypatch):
    secret = "sk-RECOGNISABLE-secret-key-4242424242"
    monkeypatch.setenv("AIMLAPI_KEY", secret)
    env.key = secret
    seen = []
    code, out, err = run(capsys, "generate", "a red fox", "--resolution", "360p", "--json")
    seen += [out, err]
    assert code == 0, err
    assert cli.SIMULATOR_NOTICE not in err  # a key is set: not simulator mode
    for argv in (["list"], ["list", "--json"], ["resume"]):
        code, out, err = run(capsys, *argv)
        seen += [out, err]
        assert code == 0
    env.sim = make_sim(api_keys=frozenset({"a-different-key"}))  # this key is refused
    code, out, err = run(capsys, "generate", "a red fox", "--resolution", "360p", "--json")
    seen += [out, err]
    assert code == 1 and "key" in err.lower()
    for text in seen:
        assert secret not in text
        assert "Traceback" not in text


# --- serve / simulator / entry points ------------------------------------------------------------


def test_serve_calls_ui_launch_with_the_options(monkeypatch, capsys):
    calls = []
    fake = types.ModuleType("pixverse_ui.ui")
    fake.launch = lambda **kwargs: calls.append(kwargs)
    monkeypatch.setitem(sys.modules, "pixverse_ui.ui", fake)
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "8123", "--share", "--mcp"]) == 0
    assert cli.main(["serve"]) == 0
    # a Space sets Gradio's own variables instead of options
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    assert cli.main(["serve"]) == 0
    assert calls == [
        {"host": "0.0.0.0", "port": 8123, "share": True, "mcp": True},
        {"host": "127.0.0.1", "port": 7860, "share": False, "mcp": None},
        {"host": "0.0.0.0", "port": 7861, "share": False, "mcp": None},
    ]
    assert cli.SIMULATOR_NOTICE in capsys.readouterr().err


def test_simulator_passes_its_arguments_through(monkeypatch):
    import pixverse_ui.simulator.__main__ as simulator_main

    seen = []
    monkeypatch.setattr(simulator_main, "main", lambda argv=None, **kw: seen.append(argv) or 0)
    assert cli.main(["simulator", "--port", "8765", "--speed", "50", "--faults", "503:0.1"]) == 0
    assert seen == [["--port", "8765", "--speed", "50", "--faults", "503:0.1"]]


def test_simulator_help_names_the_command_that_was_typed(capsys):
    from pixverse_ui.simulator.__main__ import main as simulator_main

    assert cli.main(["simulator", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: pixverse-ui simulator [-h] [--port PORT]")
    assert cli.main(["simulator", "--speed", "fast"]) == 2
    assert "pixverse-ui simulator: error: argument --speed" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # run as a module, it names the module
        simulator_main(["--help"])
    assert capsys.readouterr().out.startswith("usage: python -m pixverse_ui.simulator")


def test_help_and_no_command(capsys):
    assert cli.main(["--help"]) == 0
    assert "generate" in capsys.readouterr().out
    assert cli.main([]) == 2
    assert cli.main(["generate", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--aspect-ratio", "--multi-clip", "--no-audio", "--thinking", "--json"):
        assert flag in out


def test_python_dash_m_generates_on_the_embedded_simulator(tmp_path):
    env = child_env(tmp_path / "home", PIXVERSE_UI_SIM_SPEED="200")
    proc = subprocess.run(
        [sys.executable, "-m", "pixverse_ui", "generate", "a red fox", "--resolution", "360p"]
        + ["--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed"
    path = Path(result["video_path"])
    assert path.exists() and path.is_relative_to(tmp_path / "home")
    assert cli.SIMULATOR_NOTICE in proc.stderr
    # the embedded simulator's money is said to be pretend, and counts against no real budget
    assert "This video: about $0.28 (555,556 credits) (simulated: nothing is charged)" in (
        proc.stderr
    )
    assert "Spent today: $0.00 (0 credits) (simulated: nothing is charged)" in proc.stderr


# --- list at 80 columns, keep (star, note), export, budget -------------------------------------


LONG_PROMPT = (
    "A red fox trotting through fresh powder snow at dawn, golden light on the pine trees, "
    "breath steaming, slow tracking shot"
)


def _generate(capsys, *argv: str) -> str:
    code, out, err = run(capsys, "generate", *argv, "--resolution", "360p", "--json")
    assert code == 0, err
    return last_json(out)["id"]


def test_list_reads_at_80_columns(env, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "80")
    gid = _generate(
        capsys,
        LONG_PROMPT,
        "--style",
        "anime",
        "--seed",
        "3",
        "--output-dir",
        str(tmp_path / "a folder with a rather long name" / "and another one inside"),
    )
    code, out, _ = run(capsys, "list")
    assert code == 0
    print(out)  # shown with -s: the report pastes it
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    job = env.ledger.get(gid)
    header = next(line for line in lines if gid in line)
    assert "done" in header and "…" not in header  # the whole id, the state
    prompt_line = lines[lines.index(header) + 1]
    assert prompt_line.startswith("  A red fox trotting through fresh powder snow at dawn, golden")
    assert prompt_line.endswith("…") and len(prompt_line) == 80
    assert "  16:9 · 360p · 5 s · anime · seed 3 · " in out
    assert f"${job.usd_spent:.2f} ({job.credits_used:,.0f} credits)" in out
    [path_line] = [line for line in lines if line.strip().endswith(".mp4")]
    assert path_line.strip().endswith(Path(job.video_path).name) and "…" in path_line


def test_list_filters_by_star_text_and_state(env, capsys):
    fox = _generate(capsys, "a red fox")
    boat = _generate(capsys, "a paper boat")
    env.sim.faults.add("fail", target="post")
    assert run(capsys, "generate", "a failing owl", "--resolution", "360p")[0] == 1
    code, out, err = run(capsys, "star", boat)
    assert (code, out.strip()) == (0, f"Starred {boat}.")
    code, out, _ = run(capsys, "note", fox, "the light on the FOX is right")
    assert (code, out.strip()) == (0, f"Noted on {fox}.")

    def listed(*argv):
        code, out, err = run(capsys, "list", "--json", *argv)
        assert code == 0, err
        return [entry["prompt"] for entry in json.loads(out)]

    assert listed() == ["a failing owl", "a paper boat", "a red fox"]
    assert listed("--starred") == ["a paper boat"]
    assert listed("--search", "light") == ["a red fox"]  # in the note
    assert listed("--search", "PAPER") == ["a paper boat"]  # any case
    assert listed("--state", "failed") == ["a failing owl"]
    assert listed("--state", "done", "--search", "fox") == ["a red fox"]
    assert listed("--period", "today") == listed()  # made today, on the ledger's clock
    env.clock.advance(3 * 86400)
    assert listed("--period", "today") == [] and len(listed("--period", "last 7 days")) == 3
    [entry] = json.loads(run(capsys, "list", "--json", "--starred")[1])
    assert entry["starred"] is True and entry["id"] == boat and entry["usd"] > 0
    seed = entry["params"]["seed"]  # picked when none was given, and kept
    assert entry["summary"] == entry["settings"] == f"16:9 · 360p · 5 s · seed {seed}"
    code, out, _ = run(capsys, "list", "--starred")
    assert f"★ {boat}" in out and fox not in out
    assert run(capsys, "list", "--search", "nothing like it")[1].strip() == "No generations match."
    assert run(capsys, "list", "--state", "exploded")[0] == 2
    assert run(capsys, "unstar", boat)[1].strip() == f"Unstarred {boat}."
    assert listed("--starred") == []
    assert run(capsys, "note", fox, "")[1].strip() == f"Removed the note of {fox}."
    code, _, err = run(capsys, "note", fox, "x" * 2001)
    assert code == 2 and "the limit is 2000" in err


def test_another_keys_generation_is_unknown_to_star_note_and_export(env, capsys, tmp_path):
    gid = _generate(capsys, "a red fox")
    env.key = "sk-someone-else-entirely"
    for argv in (["star", gid], ["note", gid, "mine"], ["export", gid], ["star", "no-such-id"]):
        code, out, err = run(capsys, *argv)
        assert code == 1 and out == ""
        assert "in this key's history" in err
    record = env.ledger.get(gid)
    assert not record.starred and record.note is None


def test_export_prints_the_zip_path(env, capsys, tmp_path):
    import zipfile

    gid = _generate(capsys, "a red fox")
    code, out, err = run(capsys, "export", gid, "--output-dir", str(tmp_path / "exports"))
    assert code == 0, err
    path = Path(out.strip())
    assert path == tmp_path / "exports" / f"{safe_name(gid)}.zip"  # the id, unless it starts "-"
    with zipfile.ZipFile(path) as archive:
        assert len(archive.namelist()) == 4
    done = env.ledger.get(gid)  # a job of the same key that is still running has no video yet
    env.ledger.record(
        client_request_id="c-running", owner=done.owner, endpoint=done.endpoint, body=done.request
    )
    env.ledger.update("c-running", generation_id="g-running", state=Status.RUNNING)
    code, out, err = run(capsys, "export", "g-running", "--output-dir", str(tmp_path / "other"))
    assert code == 1 and "no video yet" in err and not (tmp_path / "other").exists()


def test_the_daily_budget_refuses_a_start_with_exit_2(env, capsys, monkeypatch):
    # a 360p 5 s job: 555,556 credits, $0.28 at the assumed rate; two fit under $0.60
    monkeypatch.setenv("PIXVERSE_UI_DAILY_BUDGET", "0.60")
    _generate(capsys, "one")
    code, out, err = run(capsys, "generate", "two", "--resolution", "360p")
    assert code == 0, err
    assert "Spent today: $0.28 (555,556 credits) of $0.60; $0.32 left." in err
    code, out, err = run(capsys, "generate", "three", "--resolution", "360p")
    assert code == 2 and out == ""
    assert (
        "This start (about $0.28) would bring today's spending to $0.83, over your daily limit "
        "of $0.60; $0.04 is left today. Nothing was sent and nothing was charged." in err
    )
    assert env.sim.stats()["posts"] == 2 and len(env.ledger.history()) == 2
    code, out, _ = run(capsys, "list")
    assert "Spent today: $0.56 (1,111,112 credits) of $0.60; $0.04 left." in out
    monkeypatch.setenv("PIXVERSE_UI_DAILY_BUDGET", "lots")
    code, out, err = run(capsys, "generate", "four", "--resolution", "360p", "--json")
    assert code == 2 and "PIXVERSE_UI_DAILY_BUDGET must be an amount of dollars" in err
    assert env.sim.stats()["posts"] == 2


def test_every_option_says_what_it_does_and_its_default():
    """Walk the parser: every argument has help, and every option that takes a value (or can be
    turned on and off) names its default in it."""
    import argparse

    top = cli.build_parser()
    [commands] = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    seen = 0
    for name, sub in commands.choices.items():
        if name == "simulator":  # its options are the simulator's own (tested there)
            continue
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            seen += 1
            where = f"{name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help.strip(), f"{where} has no help"
            takes_value = action.nargs != 0 or isinstance(action, argparse.BooleanOptionalAction)
            if action.option_strings and takes_value:
                assert "default" in action.help, f"{where} does not say its default"
    assert seen > 25


def test_list_states_are_the_pages_words(env, capsys):
    """``list --state`` takes the words the page shows (``refused``) and names them in its help."""
    from pixverse_ui.lifecycle import Status

    top = cli.build_parser()
    [commands] = [a for a in top._actions if isinstance(a, cli.argparse._SubParsersAction)]
    [state] = [a for a in commands.choices["list"]._actions if a.dest == "state"]
    for status in Status:
        assert status.word in state.help and status.word in state.choices
    code, out, err = run(capsys, "list", "--state", "refused")
    assert code == 0, err


#: Two periods where a sentence meant one ("limit.." or "limit.”."); an ellipsis is not one.
DOUBLED = re.compile(r"(?<!\.)\.[”\"')]?\.(?!\.)")


def test_refusals_are_sentences_with_one_period(env, capsys, monkeypatch, tmp_path):
    """Every refusal path of the CLI: each says something, and no sentence ends twice."""
    monkeypatch.setenv("PIXVERSE_UI_DAILY_BUDGET", "0.30")
    _generate(capsys, "one")
    refusals = [
        ("generate", "two", "--resolution", "360p"),  # over the daily budget
        ("generate", "", "--resolution", "360p"),
        ("generate", "x" * 3000, "--resolution", "360p"),
        ("generate", "a fox", "--resolution", "1080p", "--duration", "8"),
        ("generate", "a fox", "--seed", "-4"),
        ("resume", "no-such-generation"),
        ("star", "no-such-generation"),
        ("note", "no-such-generation", "hi"),
        ("export", "no-such-generation", "--output-dir", str(tmp_path)),
        ("list", "--state", "nowhere"),
        ("list", "--limit", "0"),
    ]
    for argv in refusals:
        try:
            code, out, err = run(capsys, *argv)
        except SystemExit as exit_:  # argparse's usage errors
            code, (out, err) = exit_.code, capsys.readouterr()
        assert code != 0 and err.strip(), argv
        assert not DOUBLED.search(err), (argv, err)
    monkeypatch.setenv("PIXVERSE_UI_DAILY_BUDGET", "lots")
    code, out, err = run(capsys, "generate", "four", "--resolution", "360p")
    assert code == 2 and not DOUBLED.search(err), err


@pytest.mark.parametrize("said", ["Bad prompt.", "Bad prompt", "Too fast!"])
def test_the_providers_words_end_one_sentence(said):
    from pixverse_ui.errors import GenerationFailedError

    text = GenerationFailedError("The job failed.", provider_message=said).user_message
    assert f"“{said}”" in text and not DOUBLED.search(text), text


def test_an_id_that_starts_with_a_dash_is_an_id(env, capsys, tmp_path):
    """Ids are drawn from A-Za-z0-9_-: one in 64 starts with "-", and must not read as a flag."""
    gid = _generate(capsys, "a red fox")
    dashed = "-" + gid[1:]
    env.ledger.update(env.ledger.get(gid).client_request_id, generation_id=dashed)
    assert run(capsys, "star", dashed)[1].strip() == f"Starred {dashed}."
    assert run(capsys, "note", dashed, "-- a note that starts with dashes")[0] == 0
    assert env.ledger.get(dashed).note == "-- a note that starts with dashes"
    code, out, err = run(capsys, "export", dashed, "--output-dir", str(tmp_path / "x"))
    assert code == 0, err
    # a file name never starts with "-" (an option to most commands): the id's own name is kept,
    # made safe the one way every file named by an id is (names.safe_name)
    assert Path(out.strip()).name == f"{safe_name(dashed)}.zip" and Path(out.strip()).is_file()
    assert not Path(out.strip()).name.startswith("-")
    code, out, err = run(capsys, "resume", dashed, "--json")
    assert code == 0 and last_json(out)["id"] == dashed


def test_the_page_and_the_cli_share_one_history_in_simulator_mode(tmp_path):
    """One person, one machine: what the page made, ``pixverse-ui list`` lists."""
    from support import form, gradio_caller, running_app_py

    home = tmp_path / "home"
    with running_app_py(home, PIXVERSE_UI_SIM_SPEED="40") as app:
        page = gradio_caller(app.url, download_files=str(tmp_path / "dl"))
        status, _video, _body = page.predict(
            *form(prompt="a fox made on the page", visitor="some-browser"), api_name="/generate"
        )
        assert "Your video is ready" in status
    listed = subprocess.run(
        [sys.executable, "-m", "pixverse_ui", "list", "--json"],
        env=child_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert entry["prompt"] == "a fox made on the page" and entry["state"] == Status.DONE
