"""Storyboards end to end on the simulator over real HTTP: what is sent (how many POSTs, which
images), what the stitched MP4 holds, re-rolls, refusals before anything is sent, a failing shot,
and a run a killed process left finished with no POST sent twice."""

from __future__ import annotations

import base64
import io
import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from contextlib import closing
from pathlib import Path

import pytest
from boards import board
from conftest import TEST_KEY
from PIL import Image
from support import child_env, difference, video_frames, wait_for

from pixverse_ui import storyboard
from pixverse_ui.budget import Budget
from pixverse_ui.client import Client
from pixverse_ui.errors import BudgetError, ValidationError
from pixverse_ui.store import Ledger

THREE = board(
    ("a fox in the snow", 5, False),
    ("the fox looks up", 5, True),
    ("the fox runs off", 5, True),
)


@pytest.fixture
def live(make_live_sim, tmp_path):
    sim = make_live_sim(speed=200)
    client = Client(api_key=TEST_KEY, base_url=sim.url, timeout=(2.0, 10.0))
    service = {
        "client": client,
        "ledger": Ledger(tmp_path / "ledger.sqlite3"),
        "download_dir": tmp_path / "videos",
        "budget": Budget(None),
    }
    yield sim, service
    client.close()


def bodies(sim) -> list[dict]:
    return [job["body"] for job in sim.stats()["jobs"]]


def sent_image(body: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(body["image_url"].partition(",")[2])))


def length(path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames / float(stream.average_rate)


def test_three_shots_chained_send_one_text_and_two_image_posts_and_stitch(live):
    sim, service = live
    outcome = storyboard.run(THREE, **service)
    assert outcome.ok, outcome.problems()
    sent = bodies(sim)
    assert [("image_url" in b) for b in sent] == [False, True, True]
    shots = outcome.shots
    # each image sent is the exact last decoded frame of the video before it
    for body, before in zip(sent[1:], shots[:2], strict=True):
        last = video_frames(Path(before.video_path))[-1]
        assert difference(sent_image(body), last) < 1
    stitched = video_frames(outcome.video_path)
    assert abs(length(outcome.video_path) - 15) < 0.2
    first_of_1 = video_frames(Path(shots[0].video_path), 1)[0]
    last_of_3 = video_frames(Path(shots[2].video_path))[-1]
    assert difference(stitched[0], first_of_1) < 2
    assert difference(stitched[-1], last_of_3) < 2
    assert [s.from_previous for s in shots] == [False, True, True]
    assert json.loads(json.dumps(outcome.to_json()))["video_path"] == str(outcome.video_path)

    # a re-roll of shot 2 sends two POSTs: shot 2, and shot 3 from its new last frame
    again = storyboard.reroll(outcome.id, 2, **service)
    assert again.ok, again.problems()
    sent = bodies(sim)
    assert len(sent) == 5
    assert sent[3]["seed"] != sent[1]["seed"]
    new2, new3 = again.shots[1], again.shots[2]
    assert new2.id != shots[1].id and new3.id != shots[2].id and again.shots[0].id == shots[0].id
    assert difference(sent_image(sent[4]), video_frames(Path(new2.video_path))[-1]) < 1
    assert (
        difference(video_frames(again.video_path)[-1], video_frames(Path(new3.video_path))[-1]) < 2
    )

    # the earlier take of shot 2 is chosen back for free: shot 3 is then stale
    board = storyboard.choose(outcome.id, 2, 1, **service)
    assert board.chosen(2).number == 1 and board.stale(3)
    assert len(bodies(sim)) == 5

    zipped = storyboard.export(outcome.id, service["download_dir"].parent / "out", **service)
    with zipfile.ZipFile(zipped) as archive:
        names = set(archive.namelist())
        meta = json.loads(archive.read("storyboard.json"))
    assert {"reproduce.py", "storyboard.json", "shot-1.mp4", "shot-2.mp4", "shot-3.mp4"} <= names
    assert [s["request"]["prompt"] for s in meta["shots"]] == [s["prompt"] for s in THREE["shots"]]
    assert TEST_KEY not in zipped.read_bytes().decode("latin-1")


def test_the_command_line_runs_a_file_then_rerolls_a_shot_each_ending_with_one_json_line(
    live, tmp_path, monkeypatch, capsys
):
    from pixverse_ui import cli

    sim, service = live
    monkeypatch.setattr(
        cli, "make_client", lambda: Client(api_key=TEST_KEY, base_url=sim.url, timeout=(2.0, 10.0))
    )
    monkeypatch.setattr(cli, "make_ledger", lambda: service["ledger"])
    film = tmp_path / "film.json"
    film.write_text(json.dumps(THREE))

    def last_line(*argv: str) -> dict:
        assert cli.main(["storyboard", *argv, "--json"]) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    made = last_line(str(film))
    assert set(made) == {"id", "video_path", "shots"} and Path(made["video_path"]).is_file()
    assert [set(s) for s in made["shots"]] == [{"id", "seed", "video_path", "from_previous"}] * 3
    assert [s["from_previous"] for s in made["shots"]] == [False, True, True]
    assert len(bodies(sim)) == 3
    # shot 2 again (1-based), and shot 3 chained after it; shot 1 is kept
    again = last_line("--reroll", f"{made['id']}:2")
    assert again["id"] == made["id"] and len(bodies(sim)) == 5
    assert again["shots"][0] == made["shots"][0]
    assert all(again["shots"][k]["id"] != made["shots"][k]["id"] for k in (1, 2))
    assert again["shots"][1]["seed"] != made["shots"][1]["seed"]
    assert Path(again["video_path"]).is_file()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["shots"][1].update(colour="red"), "shots[2].colour"),
        (lambda b: b["shots"][2].update(prompt="  "), "shots[3].prompt"),
        (lambda b: b["shots"][0].update(from_previous=True), "shots[1].from_previous"),
        (
            lambda b: (b.update(resolution="1080p"), b["shots"][1].update(duration=8)),
            "shots[2].duration",
        ),
        (lambda b: b.update(shots=[{"prompt": "a fox"}] * 21), "shots"),
    ],
)
def test_a_storyboard_with_a_mistake_is_refused_whole_before_anything_is_sent(live, change, field):
    sim, service = live
    data = json.loads(json.dumps(THREE))
    change(data)
    with pytest.raises(ValidationError) as refused:
        storyboard.run(data, **service)
    assert refused.value.field == field
    if field.startswith("shots["):
        assert f"Shot {field[6]}" in refused.value.message
    assert bodies(sim) == []
    assert service["ledger"].storyboard_row("x") is None


def test_a_storyboard_over_the_daily_budget_sends_nothing(live):
    sim, service = live
    service["budget"] = Budget(0.05)  # one 360p 5 s video fits, three do not
    with pytest.raises(BudgetError):
        storyboard.run(THREE, **service)
    assert bodies(sim) == []


def test_a_failing_shot_stops_the_shots_chained_after_it_and_no_other(live):
    sim, service = live
    data = json.loads(json.dumps(THREE))
    data["shots"][1]["from_previous"] = False
    data["shots"].append({"prompt": "a crow watches", "duration": 5})

    def on_event(text: str) -> None:
        if text.startswith("Shot 1, take 1: started"):
            sim.faults.add("fail", target="post", times=1)  # the next POST: shot 2's

    outcome = storyboard.run(data, on_event=on_event, **service)
    states = [s.state for s in outcome.shots]
    assert states == ["done", "failed", "not made", "done"]
    assert (
        "Shot 3 was not made" in outcome.problems()[1] and "shot 2 failed" in outcome.problems()[1]
    )
    assert outcome.video_path is None
    assert len(bodies(sim)) == 3


def test_a_killed_run_is_finished_with_no_post_sent_twice(make_live_sim, tmp_path):
    sim = make_live_sim(speed=10)  # slow enough to be killed mid-run
    home = tmp_path / "home"
    board_file = tmp_path / "board.json"
    board_file.write_text(json.dumps(THREE))
    ledger_path = home / "ledger.sqlite3"
    env = child_env(home, AIMLAPI_KEY=TEST_KEY, AIMLAPI_BASE_URL=sim.url)
    child = subprocess.Popen(
        [sys.executable, "-m", "pixverse_ui", "storyboard", str(board_file), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def shot_one_taken() -> bool:  # the API's answer recorded: killed mid-run, not mid-POST
        if not ledger_path.is_file():
            return False
        with closing(sqlite3.connect(f"file:{ledger_path}?mode=ro", uri=True)) as db:
            try:
                query = "SELECT COUNT(*) FROM jobs WHERE generation_id IS NOT NULL"
                return db.execute(query).fetchone()[0] >= 1
            except sqlite3.OperationalError:  # its tables not made yet
                return False

    try:
        wait_for(shot_one_taken, timeout=60)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert len(bodies(sim)) == 1
    ledger = Ledger(ledger_path)
    [row] = ledger._connection().execute("SELECT id FROM storyboards").fetchall()
    env_home = {**os.environ, **env}
    done = subprocess.run(
        [sys.executable, "-m", "pixverse_ui", "storyboard", "--resume", row["id"], "--json"],
        env=env_home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(answer["video_path"]).is_file()
    assert len(bodies(sim)) == 3
    assert len({b["prompt"] for b in bodies(sim)}) == 3


def test_takes_of_other_shapes_are_scaled_padded_and_keep_their_audio(tmp_path):
    from pixverse_ui.simulator.video import render_mp4
    from pixverse_ui.stitch import copyable, probe, stitch

    wide = render_mp4({"prompt": "a", "resolution": "360p", "duration": 5}, tmp_path)
    square = render_mp4(
        {
            "prompt": "b",
            "resolution": "360p",
            "duration": 5,
            "aspect_ratio": "1:1",
            "generate_audio_switch": True,
        },
        tmp_path,
    )
    assert not copyable([probe(wide), probe(square)])
    out = stitch([wide, square], tmp_path / "joined.mp4")
    joined = probe(out)
    assert (joined.width, joined.height) == (640, 360) and joined.audio is not None
    assert abs(length(out) - 10) < 0.2
    last = video_frames(out)[-1]
    assert last.getpixel((10, 180)) == (0, 0, 0) or sum(last.getpixel((10, 180))) < 40  # padding
    assert not list(tmp_path.glob(".*.part"))


def test_a_notebook_shows_the_shots_as_a_strip_then_the_stitched_video(live, monkeypatch, capsys):
    """In a notebook: a still of each shot in order with its state, then the stitched video;
    outside one, a line each. The run's sentences (the quote first) are printed as they come."""
    from pixverse_ui import notebook

    sim, service = live
    shown: list[dict] = []
    monkeypatch.setattr(notebook, "in_notebook", lambda: True)
    monkeypatch.setattr(
        notebook, "_show", lambda html_text, plain, *a, **k: shown.append(html_text)
    )
    outcome = notebook.storyboard(THREE, **service)
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("These 3 videos:")  # the quote before any start
    [strip] = shown
    stills = strip.count("<img src='data:image/jpeg;base64,")
    assert stills == 3 and strip.index("1. done") < strip.index("2. done") < strip.index("<video")
    assert strip.count("from the last frame before") == 2  # shots 2 and 3 are chained
    monkeypatch.setattr(notebook, "in_notebook", lambda: False)
    notebook.show_storyboard(outcome)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["shot 1", "shot 2", "shot 3", "stitched"]
    assert lines[-1] == f"stitched: {outcome.video_path}"
