"""Job integrity: one watcher per job, verified videos, one deadline, and a handle to every job.

Everything runs over real HTTP against the simulator. The races run with hundreds of threads on
the real clock (a fast simulator); the deadline cases on a ManualClock where they can (retries,
Retry-After) and on the real clock where only a socket can tell (a dripping download).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pytest
import requests

import pixverse_ui
from pixverse_ui import cli, errors
from pixverse_ui.client import Client
from pixverse_ui.clock import REAL_CLOCK
from pixverse_ui.generation import generate, resume
from pixverse_ui.jobs import Jobs, watchers
from pixverse_ui.lifecycle import Status
from pixverse_ui.params import validate
from pixverse_ui.polling import watch
from pixverse_ui.store import Ledger

KEY = "sk-integrity-KEY-0123456789abcdef"
#: How often each racing thread asks again: often enough to land in every gap, seldom enough
#: that 400 of them leave the simulator (in this process) some of the interpreter.
PACE = 0.01


def playable(path: Path | str | None) -> bool:
    if not path or not Path(path).exists():
        return False
    with av.open(str(path)) as container:
        return container.streams.video[0].frames > 0 or container.duration > 0


def downloads(sim, gid: str) -> int:
    return sim.stats()["downloads_by_job"].get(gid, 0)


@pytest.fixture
def live(make_live_sim, tmp_path):
    """A fast simulator on the real clock, a client and a ledger for it."""
    sim = make_live_sim(speed=40)
    client = Client(api_key=KEY, base_url=sim.url, timeout=(2.0, 10.0))
    return sim, client, Ledger(tmp_path / "ledger.sqlite3"), tmp_path / "videos"


# --- one watcher per generation id ---------------------------------------------------------------


@pytest.mark.slow  # a race under load: `make faults`
def test_200_concurrent_refresh_and_resume_pairs_start_one_watcher_and_one_download(
    live, figures, peak
):
    sim, client, ledger, folder = live
    service = Jobs(client, ledger, folder)
    # each returns with its id, watched; the race of a new id with a reader of the ledger is
    # the next test's (here the pairs would starve the simulator's renders while it ran)
    started = [service.submit(validate(f"race {i}", resolution="360p")) for i in range(4)]
    stop = threading.Event()

    def refresh() -> None:  # what a history refresh does: attach to every unfinished job
        while not stop.wait(PACE):
            for record in ledger.unfinished():
                service.watch(record.generation_id, again=False)

    def resume_by_id() -> None:  # what `resume ID` does, as soon as the id is in the ledger
        while not stop.wait(PACE):
            for record in ledger.unfinished():
                Jobs(client, ledger, folder).watch(record.generation_id)  # what resume(id) does

    with ThreadPoolExecutor(max_workers=400) as pool:
        pairs = [pool.submit(fn) for _ in range(200) for fn in (refresh, resume_by_id)]
        try:
            for handle in started:
                handle.wait(timeout=120)
        finally:
            stop.set()
        for pair in pairs:
            pair.result(timeout=60)
    gids = [handle.id for handle in started]
    assert {ledger.get(gid).state for gid in gids} == {Status.DONE}
    most_watchers = max(watchers().started[gid] for gid in gids)
    most_downloads = max(downloads(sim, gid) for gid in gids)
    peak("watchers per job (most)", most_watchers)
    peak("downloads per job (most)", most_downloads)
    figures["generations started"] += len(gids)
    assert (most_watchers, most_downloads) == (1, 1)


def test_generate_and_a_resume_from_another_thread_download_the_video_once(live, peak):
    sim, client, ledger, folder = live
    stop = threading.Event()
    resumed: list[list] = []

    def keep_resuming() -> None:
        while not stop.is_set():
            resumed.append(resume(client=client, ledger=ledger, download_dir=folder))

    other = threading.Thread(target=keep_resuming)
    other.start()
    try:
        video = generate(
            "once", resolution="360p", client=client, ledger=ledger, download_dir=folder
        )
    finally:
        stop.set()
        other.join(timeout=60)
    assert video.ok and playable(video.video_path)
    assert any(resumed), "the other thread never saw the job: the test proved nothing"
    peak("watchers per job (most)", watchers().started[video.id])
    peak("downloads per job (most)", downloads(sim, video.id))
    assert (watchers().started[video.id], downloads(sim, video.id)) == (1, 1)


def test_the_handle_api_submit_job_updates_wait(live):
    sim, client, ledger, folder = live
    handle = pixverse_ui.submit(
        "a handle", resolution="360p", client=client, ledger=ledger, download_dir=folder
    )
    assert isinstance(handle.id, str) and handle.status is Status.RUNNING
    assert handle.provider_status in {"queued", "generating"}  # what the API said, apart
    again = pixverse_ui.job(handle.id, client=client, ledger=ledger, download_dir=folder)
    assert again is handle  # the same watcher, not a second one
    statuses = [u.status for u in handle.updates()]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    video = handle.wait()
    assert video.ok and video.id == handle.id and playable(video.video_path)
    assert (handle.status, handle.provider_status) == (Status.DONE, "completed")
    later = pixverse_ui.job(handle.id, client=client, ledger=ledger, download_dir=folder)
    assert later.wait().video_path == video.video_path  # a finished job: no new download
    assert downloads(sim, handle.id) == 1


# --- a download counts only when it is a video ----------------------------------------------


@pytest.mark.parametrize(
    ("fault", "words"),
    [("malformed", "a web page"), ("empty", "an empty answer")],
    ids=["html", "empty"],
)
def test_a_link_that_is_not_a_video_leaves_the_job_resumable(
    make_sim, client, ledger, tmp_path, fault, words, figures
):
    sim = make_sim(faults=f"{fault}@file")
    with pytest.raises(errors.DownloadError) as caught:
        generate("x", resolution="360p", client=client_for(sim, client), ledger=ledger,
                 download_dir=tmp_path)  # fmt: skip
    assert words in caught.value.user_message and "resume" in caught.value.user_message
    [record] = ledger.history()
    assert record.state == Status.RUNNING and words in record.error
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".part-*"))
    sim.faults.clear()  # the CDN mends
    [video] = resume(record.generation_id, client=client_for(sim, client), ledger=ledger,
                     download_dir=tmp_path)  # fmt: skip
    assert video.ok and playable(video.video_path)
    figures["bytes verified"] += video.video_path.stat().st_size


def client_for(sim, client: Client) -> Client:
    """The test's client, pointed at ``sim`` (same clock, same key)."""
    return Client(api_key=KEY, base_url=sim.url, clock=client.clock, timeout=(2.0, 10.0))


@pytest.mark.parametrize("fault", ["gzip", "drop"], ids=["gzip-encoded", "truncated-then-whole"])
def test_gzip_and_truncated_bodies_end_in_the_exact_video(
    make_sim, client, ledger, tmp_path, fault
):
    sim = make_sim(faults=f"{fault}@file*1")
    video = generate("x", resolution="360p", client=client_for(sim, client), ledger=ledger,
                     download_dir=tmp_path)  # fmt: skip
    assert video.ok and playable(video.video_path)
    clean = requests.get(video.video_url, timeout=10)  # the same link, answered plainly now
    assert video.video_path.read_bytes() == clean.content
    assert sim.stats()["faults"] == {fault: 1}


# --- one deadline bounds everything -------------------------------------------------------------


def test_retries_and_retry_after_never_outlive_the_deadline(make_sim, client, ledger, clock, peak):
    sim = make_sim(faults="429-date@get")  # every GET: 429 with a Retry-After date 2 s ahead
    fast = client_for(sim, client)
    record = pixverse_ui.generation.create_job(validate("x"), client=fast, ledger=ledger)
    start = clock.monotonic()
    with pytest.raises(errors.GenerationTimeoutError):
        list(watch(record.generation_id, client=fast, ledger=ledger, download_dir=".", timeout=1))
    overrun = clock.monotonic() - (start + 1)
    peak("deadline overrun in s (most, at most 1)", max(0.0, overrun))
    assert overrun <= 1.0, f"the watch ran {overrun:.2f} s past its deadline"


@pytest.mark.slow  # a deadline on the real clock, with its overrun as a figure: `make faults`
def test_a_dripping_download_is_cut_at_the_deadline_and_leaves_no_part_file(
    make_live_sim, tmp_path, peak
):
    sim = make_live_sim(speed=200, faults="drip@file", slow_seconds=0.4)
    client = Client(api_key=KEY, base_url=sim.url, clock=REAL_CLOCK, timeout=(2.0, 30.0))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    folder = tmp_path / "videos"
    start = time.monotonic()
    with pytest.raises(errors.DownloadError) as caught:
        generate("drip", resolution="360p", client=client, ledger=ledger, download_dir=folder,
                 timeout=3.0)  # fmt: skip
    overrun = time.monotonic() - (start + 3.0)
    peak("deadline overrun in s (most, at most 1)", max(0.0, overrun))
    assert "still going at the deadline" in caught.value.message
    assert overrun <= 1.0, f"the download ran {overrun:.2f} s past the deadline"
    assert list(folder.iterdir()) == []  # no .part file outlives its attempt
    [record] = ledger.history()
    assert record.state == Status.RUNNING  # kept, to be resumed


# --- a job this ledger never saw ------------------------------------------------------------


def test_resume_of_an_id_this_ledger_never_saw_adopts_it(make_sim, client, ledger, tmp_path):
    sim = make_sim()
    elsewhere = Ledger(tmp_path / "elsewhere.sqlite3", clock=client.clock)
    made = pixverse_ui.generation.create_job(
        validate("from another machine", resolution="360p"),
        client=client_for(sim, client),
        ledger=elsewhere,
    )
    [video] = resume(made.generation_id, client=client_for(sim, client), ledger=ledger,
                     download_dir=tmp_path)  # fmt: skip
    assert video.ok and video.id == made.generation_id and playable(video.video_path)
    assert video.params is None  # its request was made elsewhere
    [record] = ledger.history()
    assert record.adopted and record.state == Status.DONE


def test_an_id_the_api_does_not_know_is_refused_and_nothing_recorded(
    make_sim, client, ledger, tmp_path
):
    sim = make_sim()
    with pytest.raises(errors.BadRequestError) as caught:
        resume("NoSuchGenerationId123", client=client_for(sim, client), ledger=ledger,
               download_dir=tmp_path)  # fmt: skip
    assert "does not know" in caught.value.user_message
    assert ledger.history() == []


def test_the_cli_resumes_an_id_it_never_saw(
    make_sim, client, ledger, tmp_path, capsys, monkeypatch
):
    sim = make_sim()
    other = Ledger(tmp_path / "other.sqlite3", clock=client.clock)
    made = pixverse_ui.generation.create_job(
        validate("cli stranger", resolution="360p"), client=client_for(sim, client), ledger=other
    )
    monkeypatch.setattr(cli, "make_client", lambda: client_for(sim, client))
    monkeypatch.setattr(cli, "make_ledger", lambda: ledger)
    assert cli.main(["resume", made.generation_id, "--output-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert f"{made.generation_id}: done" in out and "Nothing to resume" not in out + err


# --- the generation id is never lost -------------------------------------------------------------


def test_an_id_the_ledger_cannot_take_goes_to_the_journal_and_comes_back(make_live_sim, tmp_path):
    sim = make_live_sim(speed=40)
    client = Client(api_key=KEY, base_url=sim.url, timeout=(2.0, 10.0))
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path, busy_timeout=0.1)
    # another process takes the ledger the moment the create's answer arrives (a requests hook on
    # the API's session: the answer is real, over HTTP), so the id comes back to a ledger it
    # cannot write, whatever the machine's speed; the ledger row was written before the POST
    holder = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)

    def take_the_ledger(response, *args, **kwargs):
        if response.request.method == "POST" and not holder.in_transaction:
            assert ledger.history(), "the row is written before the request is sent"
            holder.execute("BEGIN EXCLUSIVE")

    client._api.hooks["response"].append(take_the_ledger)
    job_ = pixverse_ui.submit(
        "journal", resolution="360p", client=client, ledger=ledger, download_dir=tmp_path / "videos"
    )
    first = next(job_.updates(timeout=30))
    holder.execute("ROLLBACK")
    holder.close()
    assert job_.id in first.message and "journal" in first.message and "resume" in first.message
    assert ledger.journal_path.exists() or ledger.get(job_.id)  # written, or already healed
    video = job_.wait(timeout=60)
    assert video.ok and playable(video.video_path)
    record = ledger.get(job_.id)  # the watcher wrote it back from the journal
    assert record.state == Status.DONE and record.video_path == str(video.video_path)
    assert not ledger.journal_path.exists()
    assert sim.stats()["posts"] == 1 and downloads(sim, job_.id) == 1
