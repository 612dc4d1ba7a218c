"""No paid generation is lost: killed processes resume their jobs, and a crowd under faults ends
with every job accounted for, job for job between the ledger and the simulator.

The processes killed here are real (SIGKILL, no chance to clean up); the simulator runs on the
real clock at a high speed so a job lasts seconds. ``make faults`` runs the long versions
(``-m slow``); ``make test`` the short ones.
"""

from __future__ import annotations

import concurrent.futures
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import pytest
from forkserver import Forked
from support import child_env, form, free_port, gradio_caller, python_process, wait_for

from pixverse_ui.lifecycle import Status
from pixverse_ui.store import Ledger

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-resilience-KEY-31415926535"
#: Around 10% of requests go wrong, of every kind that leaves the job's fate in doubt.
CROWD_FAULTS = "503:0.03,429:0.02,429-bare@get:0.01,drop@get:0.02,malformed@get:0.01,500@file:0.01"

#: A process that starts ``n`` generations at once through the public library and waits for them.
_GENERATE_MANY = """
import sys, threading
import pixverse_ui

def one(i):
    try:
        pixverse_ui.generate(f"a fox, take {i}", resolution="360p", aspect_ratio="16:9")
    except pixverse_ui.PixVerseError:
        pass

threads = [threading.Thread(target=one, args=(i,)) for i in range(int(sys.argv[1]))]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def kill(proc: Forked | subprocess.Popen) -> None:
    """SIGKILL: no handler, no finally block, no atexit runs in the victim."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def playable(path: str | None) -> bool:
    if not path or not Path(path).is_file():
        return False
    with av.open(path) as container:
        return container.streams.video[0].frames > 0 or container.duration > 0


def running_ids(ledger: Ledger, count: int) -> list[str] | None:
    rows = ledger.history(limit=1000)
    ids = [r.generation_id for r in rows if r.generation_id and r.state == Status.RUNNING]
    return ids if len(ids) >= count else None


@pytest.fixture
def live_sim(make_live_sim):
    """A simulator on the real clock, fast enough that a 360p job takes about five seconds."""
    return make_live_sim()


@pytest.mark.parametrize(
    "jobs", [3, pytest.param(12, marks=pytest.mark.slow, id="12-long")], ids=str
)
def test_a_killed_script_resumes_every_job_and_creates_none_twice(
    live_sim, tmp_path, figures, jobs
):
    home = tmp_path / "home"
    env = child_env(home, AIMLAPI_KEY=KEY, AIMLAPI_BASE_URL=live_sim.url)
    victim = subprocess.Popen(
        [sys.executable, "-c", _GENERATE_MANY, str(jobs)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ledger = wait_for(lambda: (home / "ledger.sqlite3").exists(), timeout=60) and Ledger(
            home / "ledger.sqlite3"
        )
        ids = wait_for(lambda: running_ids(ledger, jobs), timeout=60)
        gets_then = live_sim.stats()["gets"]
        wait_for(lambda: live_sim.stats()["gets"] >= gets_then + jobs, timeout=30)  # mid-poll
    finally:
        kill(victim)
    assert victim.returncode == -signal.SIGKILL
    assert {r.state for r in ledger.history(limit=100)} == {Status.RUNNING}

    resumed = subprocess.run(
        [sys.executable, "-m", "pixverse_ui", "resume", "--json", "--timeout", "120"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stderr
    lines = [json.loads(line) for line in resumed.stdout.splitlines() if line.startswith("{")]
    assert sorted(line["id"] for line in lines) == sorted(ids)
    rows = ledger.history(limit=100)
    assert len(rows) == jobs and {r.state for r in rows} == {Status.DONE}
    assert all(playable(r.video_path) for r in rows)
    stats = live_sim.stats()
    assert stats["posts"] == jobs, "a create request was sent twice"
    assert sorted(j["id"] for j in stats["jobs"]) == sorted(ids)
    figures.update({"generations started": jobs, "duplicate POSTs": stats["posts"] - jobs})
    assert KEY not in resumed.stdout + resumed.stderr


def _app(home: Path, port: int) -> Forked | subprocess.Popen:
    """``python app.py``, forked from the suite's fork server: a process of its own all the same,
    which SIGKILL ends with no chance to clean up."""
    return python_process(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        env=child_env(home, PIXVERSE_UI_SIM_SPEED="8"),
    )


def _sim_jobs(home: Path) -> list[str]:
    """The ids of every job the embedded simulator ever created (its state file)."""
    with sqlite3.connect(home / "simulator" / "jobs.sqlite3") as db:
        return sorted(row[0] for row in db.execute("SELECT id FROM jobs"))


def test_a_killed_app_resumes_its_visitors_jobs_when_it_starts_again(tmp_path, figures):
    home = tmp_path / "home"
    port = free_port()
    app = _app(home, port)
    try:
        url = f"http://127.0.0.1:{port}/"
        client = wait_for(lambda: _connect(url), timeout=90, step=0.5)
        for visitor in ("ann", "ben", "cat"):
            client.submit(
                *form(prompt=f"{visitor}'s lighthouse", visitor=visitor), api_name="/generate"
            )
        ledger = wait_for(lambda: (home / "ledger.sqlite3").exists(), timeout=30) and Ledger(
            home / "ledger.sqlite3"
        )
        ids = wait_for(lambda: running_ids(ledger, 3), timeout=60)
    finally:
        kill(app)
    assert {r.state for r in ledger.history(limit=10)} == {Status.RUNNING}

    app = _app(home, free_port())  # no visitor comes back: the app resumes the jobs by itself
    try:
        wait_for(lambda: {r.state for r in ledger.history(limit=10)} == {Status.DONE}, timeout=120)
    finally:
        kill(app)
    rows = ledger.history(limit=10)
    assert sorted(r.generation_id for r in rows) == sorted(ids)
    assert all(playable(r.video_path) for r in rows)
    assert _sim_jobs(home) == sorted(ids), "a job was created twice or lost"
    figures.update({"generations started": 3})


def _connect(url):
    try:
        return gradio_caller(url)
    except Exception:  # not up yet
        return None


@pytest.mark.slow  # a load test: `make faults`
@pytest.mark.parametrize("crowd", [40, 200], ids=str)
def test_a_crowd_under_faults_ends_with_every_job_accounted_for(launch_app, figures, crowd):
    from pixverse_ui.simulator import embedded

    _, client, ledger = launch_app(speed="20", PIXVERSE_UI_SIM_FAULTS=CROWD_FAULTS)
    with concurrent.futures.ThreadPoolExecutor(max_workers=crowd) as pool:
        jobs = list(
            pool.map(
                lambda i: client.submit(
                    *form(prompt=f"crowd {i % 5}", visitor=f"crowd-{i}"), api_name="/generate"
                ),
                range(crowd),
            )
        )
        outcomes = [_outcome(job) for job in jobs]

    videos = [o for o in outcomes if o == "video"]
    sentences = [o for o in outcomes if o != "video"]
    assert len(videos) >= crowd * 0.7, f"only {len(videos)} of {crowd} made a video"
    for sentence in sentences:
        assert sentence and "Traceback" not in sentence and 'File "' not in sentence
    stats = embedded().stats()
    rows = ledger.history(limit=crowd + 10)
    assert stats["posts"] == len(rows) == crowd, "one POST per generation, each in the ledger"
    ours = {r.client_request_id: r for r in rows}
    lost = [j for j in stats["jobs"] if j["client_request_id"] not in ours]
    assert not lost, "the simulator made jobs that the ledger does not know"
    for job in stats["jobs"]:
        row = ours[job["client_request_id"]]
        assert row.generation_id == job["id"] or row.state == Status.UNCONFIRMED
    made = {j["id"] for j in stats["jobs"]}
    assert all(r.generation_id in made for r in rows if r.generation_id)
    assert sum(r.state == Status.DONE for r in rows) == len(videos)
    figures.update(
        {
            "faults injected": sum(stats["faults"].values()),
            "generations started": crowd,
            "generations lost": len(lost),
            "duplicate POSTs": stats["posts"] - crowd,
            "tracebacks shown": sum("Traceback" in s for s in sentences),
        }
    )


def _outcome(job) -> str:
    """ "video" when the page ended with a video, else the sentence the person was shown."""
    try:
        markdown, video, _ = job.result(timeout=300)
    except Exception as exc:  # gradio_client raises the page's gr.Error as AppError
        return str(exc)
    return "video" if video and "Your video is ready" in markdown else markdown
