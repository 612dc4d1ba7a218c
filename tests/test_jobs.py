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
    news = Update.step("g", "generating", 1.0, None, None, "working", 1)

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


def test_reload_asks_the_api_and_records_what_it_said(client, sim, tmp_path):
    path = tmp_path / "ledger.sqlite3"
    job = Jobs(client, Ledger(path), tmp_path, timeout=5).submit(LONG)
    with pytest.raises(errors.GenerationTimeoutError):
        job.wait()  # its watcher gave up: nothing polls it any more
    gets, polls = sim.stats()["gets"], Ledger(path).get(job.id).polls
    client.clock.advance(600)  # the provider finished it meanwhile
    assert job.reload().provider_status == "completed"
    assert sim.stats()["gets"] == gets + 1  # one GET, what the API said now
    row = Ledger(path).get(job.id)
    assert (row.status, row.polls, row.state) == ("completed", polls + 1, Status.RUNNING)
    assert job.status is Status.RUNNING  # its video is not on disk yet: a resume fetches it


def test_get_sends_nothing_until_the_handle_is_followed(client, sim, tmp_path):
    """As fal's get_handle and replicate's predictions.get: a handle, then a wait."""
    path = tmp_path / "ledger.sqlite3"
    made = Jobs(client, Ledger(path), tmp_path, hub=Watchers()).submit(LONG)
    made.wait()
    elsewhere = Jobs(client, Ledger(tmp_path / "other.sqlite3"), tmp_path, hub=Watchers())
    before = sim.stats()
    handle = elsewhere.get(made.id)  # an id this ledger has never seen
    again = elsewhere.get(made.id)
    assert again is handle and handle.id == made.id
    assert (sim.stats()["gets"], sim.stats()["posts"]) == (before["gets"], before["posts"])
    assert elsewhere.ledger.history() == [] and elsewhere.hub.started[made.id] == 0
    video = handle.wait()  # asked to wait: now it is asked of the API, adopted and watched
    assert video.ok and sim.stats()["gets"] > before["gets"]
    assert elsewhere.ledger.get(made.id).adopted and elsewhere.hub.started[made.id] == 1
    with pytest.raises(errors.BadRequestError):
        elsewhere.get("no-such-generation").wait()  # an id the API does not know raises then
    assert len(elsewhere.ledger.history()) == 1  # and nothing was recorded for it


def test_cancel_stops_the_watching_and_says_the_job_goes_on_and_is_paid(client, ledger, tmp_path):
    service = Jobs(client, ledger, tmp_path, hub=Watchers())
    job = service.submit(LONG)
    said = job.cancel()
    assert said == (
        f"Stopped watching {job.id}. The API has no cancel: the job goes on at the provider and "
        f"is paid for; `pixverse-ui resume {job.id}` fetches its video later."
    )
    updates = list(job.updates())  # followers end, with a stopped update: no error, no video
    assert updates[-1].stopped and not any(update.done for update in updates)
    assert job.status is Status.RUNNING and job.wait().video_path is None
    assert service.watch(job.id).wait().ok  # watched again, it is finished and fetched
    assert service.hub.started[job.id] == 2


def test_asubmit_and_async_wait_follow_a_job_without_holding_a_thread(make_live_sim, tmp_path):
    import asyncio

    import pixverse_ui

    sim = make_live_sim(speed=40)
    client = Client(api_key=TEST_KEY, base_url=sim.url, timeout=(2.0, 10.0))

    async def make() -> tuple[str, bool]:
        job = await pixverse_ui.asubmit(
            "an async fox", resolution="360p", client=client,
            ledger=Ledger(tmp_path / "ledger.sqlite3"), download_dir=tmp_path / "videos",
        )  # fmt: skip
        with pytest.raises(errors.WaitTimeoutError):
            await job.async_wait(timeout=0.01)  # the job goes on
        seen: list[str] = []
        video = await asyncio.wait_for(
            job.async_wait(on_update=lambda u: seen.append(u.status)), 120
        )
        return seen[-1], video.ok

    assert asyncio.run(make()) == ("completed", True)


def test_the_public_watch_follows_the_one_watcher_of_an_id(client, ledger, tmp_path):
    import pixverse_ui
    from pixverse_ui.jobs import watchers

    job = pixverse_ui.submit(params=LONG, client=client, ledger=ledger, download_dir=tmp_path)
    statuses = [u.status for u in pixverse_ui.watch(
        job.id, client=client, ledger=ledger, download_dir=tmp_path
    )]  # fmt: skip
    assert statuses[-1] == "completed" and watchers().started[job.id] == 1
