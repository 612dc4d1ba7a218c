"""Many generations watched on a few threads (``pollers.Pollers``), and the poll loop's steps.

The driver is tested with small generators of steps (no HTTP: a step is what a poll would
yield); the whole path against the simulator, on the real clock and on a test's ManualClock,
which the same driver lets pass instead of waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from support import wait_for

from pixverse_ui import errors
from pixverse_ui.client import Client, JobState
from pixverse_ui.clock import ManualClock
from pixverse_ui.jobs import Jobs
from pixverse_ui.lifecycle import Status
from pixverse_ui.params import validate
from pixverse_ui.pollers import WORKERS, Pollers
from pixverse_ui.polling import Apart, Known, Pause, Update, watch, watch_steps
from pixverse_ui.store import Ledger

KEY = "sk-pollers-KEY-0123456789abcdef"


def _update(gid: str, n: int) -> Update:
    return Update.step(gid, "generating", float(n), None, None, f"step {n}", polls=n)


class _Ends:
    """What a driven loop reported: its updates and its end, with a way to wait for the end."""

    def __init__(self) -> None:
        self.updates: list[Update] = []
        self.ended: list[BaseException | None] = []
        self.done = threading.Event()

    def on_update(self, update: Update) -> None:
        self.updates.append(update)

    def on_end(self, exc: BaseException | None) -> None:
        self.ended.append(exc)
        self.done.set()


def test_a_driven_loop_gets_every_update_in_order_and_one_end():
    pollers, seen = Pollers(workers=2), _Ends()

    def steps() -> Iterator[Update | Pause]:
        for n in range(5):
            yield _update("a", n)
            yield Pause(0.001)

    pollers.run(steps(), seen.on_update, seen.on_end)
    assert seen.done.wait(10)
    assert [u.polls for u in seen.updates] == [0, 1, 2, 3, 4]
    assert seen.ended == [None]


def test_on_a_manual_clock_the_pauses_pass_on_the_clock_in_due_order():
    """With every loop waiting, the scheduler sleeps on the clock to the next due time: the
    pauses of two loops interleave by when they are due, and the clock moved by them alone."""
    clock = ManualClock()
    pollers, order = Pollers(clock), []
    ends = _Ends(), _Ends()

    def steps(name: str, wait: float) -> Iterator[Update | Pause]:
        for _ in range(3):
            yield Pause(wait)
            order.append((name, clock.now() - start))

    def both() -> None:  # no time passes while a worker runs this: both start at 0
        pollers.run(steps("a", 30.0), ends[0].on_update, ends[0].on_end)
        pollers.run(steps("b", 45.0), ends[1].on_update, ends[1].on_end)

    start = clock.now()
    pollers.call(both)
    assert ends[0].done.wait(10) and ends[1].done.wait(10)
    # at 90 both are due: b asked first (at 45, a at 60), so b goes first
    assert order == [("a", 30), ("b", 45), ("a", 60), ("b", 90), ("a", 90), ("b", 135)]
    assert sum(clock.slept) == 135


def test_a_shorter_pause_is_served_first_whatever_the_order_of_arrival():
    pollers, order = Pollers(workers=1), []
    slow, fast = _Ends(), _Ends()

    def steps(name: str, wait: float) -> Iterator[Update | Pause]:
        yield Pause(wait)
        order.append(name)

    pollers.run(steps("slow", 0.5), slow.on_update, slow.on_end)
    pollers.run(steps("fast", 0.01), fast.on_update, fast.on_end)
    assert slow.done.wait(10) and fast.done.wait(10)
    assert order == ["fast", "slow"]


def test_a_loop_that_breaks_reports_its_exception_and_the_others_go_on():
    pollers, broken, fine = Pollers(workers=2), _Ends(), _Ends()

    def bad() -> Iterator[Update | Pause]:
        yield _update("bad", 0)
        yield Pause(0.001)
        raise RuntimeError("a bug")

    def good() -> Iterator[Update | Pause]:
        for n in range(3):
            yield Pause(0.001)
            yield _update("good", n)

    pollers.run(bad(), broken.on_update, broken.on_end)
    pollers.run(good(), fine.on_update, fine.on_end)
    assert broken.done.wait(10) and fine.done.wait(10)
    assert len(broken.updates) == 1 and isinstance(broken.ended[0], RuntimeError)
    assert len(fine.updates) == 3 and fine.ended == [None]


def test_a_long_step_said_apart_does_not_hold_the_other_loops_polls():
    """A slow download (announced with ``Apart``) runs on its own thread: with one worker, the
    other loop's polls all come while it is still going."""
    pollers, slow, quick = Pollers(workers=1), _Ends(), _Ends()
    release = threading.Event()

    def download() -> Iterator[Update | Pause | Apart]:
        yield _update("slow", 0)
        yield Apart()
        release.wait(10)  # the download, still going
        yield _update("slow", 1)

    def polls() -> Iterator[Update | Pause | Apart]:
        for n in range(5):
            yield Pause(0.001)
            yield _update("quick", n)

    pollers.run(download(), slow.on_update, slow.on_end)
    pollers.run(polls(), quick.on_update, quick.on_end)
    assert quick.done.wait(10) and len(quick.updates) == 5
    assert not slow.done.is_set()
    release.set()
    assert slow.done.wait(10) and [u.polls for u in slow.updates] == [0, 1]


def test_a_bug_in_a_watched_job_ends_it_with_a_sentence(make_live_sim, tmp_path, monkeypatch):
    """A job on the pollers whose loop breaks ends with "Unexpected failure", not a hang."""
    sim = make_live_sim(speed=40)
    client = Client(api_key=KEY, base_url=sim.url, timeout=(2.0, 10.0))
    service = Jobs(client, Ledger(tmp_path / "ledger.sqlite3"), tmp_path / "videos")

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError

    monkeypatch.setattr("pixverse_ui.polling.PollSchedule.interval", broken)
    handle = service.submit(validate("a fox", resolution="360p"))
    with pytest.raises(errors.PixVerseError, match="Unexpected failure: ZeroDivisionError"):
        handle.wait(timeout=30)


def test_fifty_jobs_at_once_are_watched_without_a_thread_each(make_live_sim, tmp_path):
    sim = make_live_sim(speed=40)
    client = Client(api_key=KEY, base_url=sim.url, timeout=(2.0, 10.0))
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    service = Jobs(client, ledger, tmp_path / "videos")
    before = set(threading.enumerate())  # earlier tests' pollers among them
    form = validate("a fox", resolution="360p")
    jobs = [service.submit(form) for _ in range(50)]
    most: set[threading.Thread] = set()
    while not all(job.finished for job in jobs):
        ours = {t for t in threading.enumerate() if t.name.startswith("pixverse")}
        # downloads run apart, a thread each while they last; the polls do not
        now = {t for t in ours - before if t.name != "pixverse-download"}
        most = now if len(now) > len(most) else most
        threading.Event().wait(0.02)
    assert all(job.status == Status.DONE for job in jobs)
    assert all(job.wait().video_path.exists() for job in jobs)
    # the workers and one scheduler, however many jobs: not 50 threads more
    assert len(most) <= WORKERS + 1, sorted(t.name for t in most)


def test_a_job_just_created_shows_the_create_answer_first_and_is_not_asked_again_at_once(
    sim, client, ledger, clock, tmp_path
):
    from pixverse_ui.generation import create_job

    record = create_job(validate("a fox", resolution="360p"), client=client, ledger=ledger)
    gets_before = sim.stats()["gets"]
    created = JobState(record.generation_id, record.status, credits_used=record.credits_used)
    slept_before = len(clock.slept)
    updates = watch(
        record.generation_id, client=client, ledger=ledger, download_dir=tmp_path, created=created
    )
    first = next(updates)
    assert (first.status, first.polls) == (record.status, 0)  # said before any GET
    assert sim.stats()["gets"] == gets_before
    second = next(updates)  # the first GET comes after the schedule's first wait, not at once
    assert second.polls == 1 and len(clock.slept) > slept_before and clock.slept[-1] > 0
    *_, last = updates
    assert last.done and ledger.get(record.generation_id).state == Status.DONE


def test_steps_read_and_send_nothing_before_the_first_is_asked_for(sim, client, ledger, tmp_path):
    from pixverse_ui.generation import create_job

    record = create_job(validate("a fox", resolution="360p"), client=client, ledger=ledger)
    gets = sim.stats()["gets"]
    known = Known.of(record)
    steps = watch_steps(
        record.generation_id, client=client, ledger=ledger, known=known, download_dir=tmp_path
    )
    assert sim.stats()["gets"] == gets
    assert isinstance(next(steps), Update) and sim.stats()["gets"] == gets + 1


def test_a_follower_that_wants_news_only_still_gets_every_update_in_order(ledger, clock):
    import asyncio

    from pixverse_ui.jobs import Job

    job = Job(ledger, clock, params=None, client_request_id="c", generation_id="g")

    def feed() -> None:  # what its watcher does
        for n in range(6):
            status = "generating" if n < 5 else "completed"
            job._feed.push(Update.step("g", status, n, None, None, "", n))
        job._feed.end()

    async def follow() -> list[int]:
        got = []
        async for update in job.aupdates(step=5.0, news=lambda u: u.status):
            got.append(update.polls)
        return got

    async def main() -> list[int]:
        task = asyncio.create_task(follow())
        await asyncio.sleep(0)
        await asyncio.to_thread(feed)
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(main()) == [0, 1, 2, 3, 4, 5]
    wait_for(lambda: not job._feed._waiters, timeout=30)


def test_a_job_on_a_manual_clock_is_driven_by_the_pollers_and_never_really_waits(
    sim, client, ledger, clock, tmp_path, monkeypatch
):
    """The production driver on a test's clock: two minutes of the provider's time pass as the
    pollers sleep on the clock, one sleep per poll; every GET of the API comes from a poll
    worker and the video's from the download's thread; no thread of the job's own."""
    import requests

    sent = requests.adapters.HTTPAdapter.send
    gets: list[tuple[str, str]] = []

    def send(adapter, request, **kwargs):
        if request.method == "GET":
            gets.append((request.url, threading.current_thread().name))
        return sent(adapter, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    start = clock.now()
    job = Jobs(client, ledger, tmp_path).submit(validate("a lighthouse", duration=10))
    wait_for(lambda: job.finished, timeout=60)  # real time: far less than the job's two minutes
    assert job.wait().ok and job.status == Status.DONE
    polls = [name for url, name in gets if "/v2/video/generations" in url]
    downloads = [name for url, name in gets if "/v2/video/generations" not in url]
    assert polls and all(name.startswith("pixverse-poll-") for name in polls), polls
    assert downloads and set(downloads) == {"pixverse-download"}
    # time passed only as the pollers slept on the clock, at most once before each poll (a poll
    # the transport retried, or one due at once, has none of its own)
    assert 0 < len(clock.slept) <= len(polls)
    assert clock.now() - start == pytest.approx(sum(clock.slept))
    assert clock.now() - start >= sim.core.jobs.get(job.id).done_at - start > 60
