"""The handle on a generation (``jobs.Job``) and the one way in (``jobs.Jobs``): a total wait that
ends in the library's own error, a status from the lifecycle, the provider's word beside it, and
a handle nobody but its watcher writes.

On the simulator over real HTTP: on the test's ManualClock where a clock can tell, on the real
clock where only time passing can (a wait that no news ends).
"""

from __future__ import annotations

import pytest
from conftest import TEST_KEY

from pixverse_ui import errors, validate
from pixverse_ui.client import Client
from pixverse_ui.jobs import Jobs, Watchers
from pixverse_ui.lifecycle import Status
from pixverse_ui.store import Ledger

#: About two minutes of provider time on the simulator at speed 1.
LONG = validate("a lighthouse at dusk", resolution="360p", duration=10)


def test_wait_with_a_timeout_bounds_the_whole_wait_and_the_job_goes_on(client, ledger, tmp_path):
    """Updates come every few seconds of the job's clock; a timeout of 2 s counts them all
    together, not each one, and ends in the library's error, not a builtin."""
    job = Jobs(client, ledger, tmp_path).submit(LONG)
    seen = []
    with pytest.raises(errors.WaitTimeoutError) as late:
        job.wait(timeout=2, on_update=seen.append)
    assert isinstance(late.value, errors.PixVerseError)
    words = late.value.user_message
    assert words.startswith("Stopped waiting after 2 s; the job was still ")
    assert f"pixverse-ui resume {job.id}" in words and f"pixverse_ui.job('{job.id}')" in words
    assert not any(update.done for update in seen)  # it raised while the job was going on
    video = job.wait()  # and the job went on, still watched: waiting again finishes it
    assert video.ok and job.status is Status.DONE


def test_a_wait_that_no_news_ends_still_ends_at_its_timeout(make_live_sim, tmp_path):
    """On the real clock, with a job of about twenty seconds whose next poll may be seconds
    away: the wait ends by itself. Only that it raised is asserted, never how fast."""
    sim = make_live_sim(speed=5)
    client = Client(api_key=TEST_KEY, base_url=sim.url, timeout=(2.0, 10.0))
    # its own watch gives up at 8 s, so that nothing polls on after the test
    service = Jobs(client, Ledger(tmp_path / "ledger.sqlite3"), tmp_path / "videos", timeout=8)
    job = service.submit(validate("a fox", resolution="360p"))
    with pytest.raises(errors.WaitTimeoutError):
        job.wait(timeout=2)
    assert job.status is Status.RUNNING
    with pytest.raises(errors.GenerationTimeoutError) as watch_ended:
        job.wait()  # the watcher's own deadline, which a wait's timeout is not
    assert not isinstance(watch_ended.value, errors.WaitTimeoutError)
    assert job.status is Status.RUNNING  # kept in the ledger, to be resumed


def test_the_status_is_the_lifecycle_and_the_provider_status_what_the_api_said(
    client, ledger, tmp_path
):
    job = Jobs(client, ledger, tmp_path).submit(validate("a fox", resolution="360p"))
    assert isinstance(job.id, str) and job.status is Status.RUNNING
    assert job.provider_status == "queued"  # the create answer's word
    job.wait()
    assert (job.status, job.provider_status) == (Status.DONE, "completed")
    assert job.status.label.word == "done"


def test_reload_reads_what_another_process_made_of_the_job(client, clock, tmp_path):
    path, folder = tmp_path / "ledger.sqlite3", tmp_path / "videos"
    job = Jobs(client, Ledger(path, clock=clock), folder, timeout=5).submit(LONG)
    with pytest.raises(errors.GenerationTimeoutError):
        job.wait()  # its watcher gave up at 5 s: the job runs on at the provider
    assert job.status is Status.RUNNING
    elsewhere = Jobs(client, Ledger(path, clock=clock), folder, hub=Watchers())
    assert elsewhere.get(job.id).wait().ok  # another process finished it
    assert job.status is Status.RUNNING  # as this handle last read it
    assert job.reload().status is Status.DONE and job.provider_status == "completed"


def test_a_job_is_read_only_to_its_users(client, ledger, tmp_path):
    job = Jobs(client, ledger, tmp_path).submit(validate("a fox", resolution="360p"))
    for name in ("id", "status", "provider_status", "params", "last", "finished", "error"):
        with pytest.raises(AttributeError):
            setattr(job, name, None)
    with pytest.raises(AttributeError):
        job.history = []  # nothing to attach either: its feed is its watcher's to write
    assert job.wait().ok


def test_a_refused_start_raises_and_returns_no_handle(client, ledger, sim, tmp_path):
    from pixverse_ui.budget import Budget

    service = Jobs(client, ledger, tmp_path, budget=Budget(0.01))
    with pytest.raises(errors.BudgetError):
        service.submit(validate("a fox", resolution="360p"))
    assert ledger.history() == [] and sim.stats()["posts"] == 0


def test_a_follower_of_several_jobs_wakes_on_any_ones_news(tmp_path):
    """How the page's Variations follows its batch: woken by the first job with news, not on a
    timer; news that came between its look and its wait wakes it at once."""
    import asyncio
    import threading

    from pixverse_ui.clock import ManualClock
    from pixverse_ui.jobs import Job, any_news, wait_any_news
    from pixverse_ui.polling import Update

    ledger = Ledger(tmp_path / "ledger.sqlite3", clock=ManualClock())
    jobs = [
        Job(ledger, ledger.clock, params=validate("a fox"), client_request_id=f"c{i}")
        for i in range(3)
    ]
    news = Update("g", "generating", 1.0, None, None, "working", 1)

    async def follow() -> str:
        marks = [job.mark() for job in jobs]
        jobs[0]._feed.push(news)  # before the wait: seen at once
        await asyncio.wait_for(any_news(jobs, marks, bound=600), 60)
        marks = [job.mark() for job in jobs]
        threading.Timer(0.05, lambda: jobs[2]._feed.end()).start()  # from another thread
        await asyncio.wait_for(any_news(jobs, marks, bound=600), 60)
        return "woken"

    assert asyncio.run(follow()) == "woken"  # a timer-paced wait of 600 s would time out at 60
    assert all(not job._feed._waiters for job in jobs)  # nothing left registered
    # the same for a thread (the notebook's and the terminal's batch tables)
    marks = [job.mark() for job in jobs]
    threading.Timer(0.05, lambda: jobs[1]._feed.push(news)).start()
    waiter = threading.Thread(target=wait_any_news, args=(jobs, marks, 600))
    waiter.start()
    waiter.join(timeout=60)
    assert not waiter.is_alive() and all(not job._feed._waiters for job in jobs)
