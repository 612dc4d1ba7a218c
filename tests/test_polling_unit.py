"""``watch`` at the HTTP transport (``responses``): hints, unknown statuses, fatal errors."""

import pytest
import responses

from pixverse_ui import errors
from pixverse_ui.client import Client
from pixverse_ui.clock import ManualClock
from pixverse_ui.polling import Estimate, watch

BASE = "https://api.example.test"
URL = BASE + "/v2/video/generations"


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def client(clock):
    return Client(api_key="sk-unit", base_url=BASE, clock=clock)


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_a_server_hint_about_when_to_poll_wins(client, http, clock, tmp_path):
    http.get(URL, json={"id": "g", "status": "generating"}, headers={"Retry-After": "4"})
    http.get(URL, json={"id": "g", "status": "generating"}, headers={"Retry-After": "4"})
    http.get(URL, json={"id": "g", "status": "error", "error": {"name": "E", "message": "no"}})
    with pytest.raises(errors.GenerationFailedError):
        list(watch("g", client=client, download_dir=tmp_path, estimate=Estimate(500, 0.1, "prior")))
    assert clock.slept == [4.0, 4.0]  # the schedule alone would have waited 15 s


def test_an_unknown_status_is_never_done_and_never_waits_past_the_deadline(
    client, http, clock, tmp_path
):
    http.get(URL, json={"id": "g", "status": "contemplating"})
    updates = []
    start = clock.now()
    with pytest.raises(errors.GenerationTimeoutError) as caught:
        for update in watch("g", client=client, download_dir=tmp_path, timeout=60):
            updates.append(update)
    assert clock.now() - start == pytest.approx(60)
    assert all(not u.done and u.status == "contemplating" for u in updates)
    assert "contemplating" in updates[0].message
    assert caught.value.generation_id == "g"
    assert list(tmp_path.iterdir()) == []


def test_waiting_and_active_are_running_statuses(client, http, tmp_path):
    http.get(URL, json={"id": "g", "status": "waiting"})
    http.get(URL, json={"id": "g", "status": "active"})
    http.get(URL, json={"id": "g", "status": "failed", "error": {"name": "E", "message": "x"}})
    seen = []
    with pytest.raises(errors.GenerationFailedError):
        for update in watch("g", client=client, download_dir=tmp_path):
            seen.append(update.status)
    assert seen == ["waiting", "active"]


def test_a_bad_key_mid_watch_stops_at_once_with_a_sentence(client, http, clock, tmp_path):
    http.get(URL, status=401, json={"message": "Unauthorized", "statusCode": 401})
    with pytest.raises(errors.AuthenticationError) as caught:
        list(watch("g", client=client, download_dir=tmp_path))
    assert caught.value.generation_id == "g" and "key" in caught.value.user_message
    assert clock.slept == []


def test_connection_trouble_is_reported_and_polled_through(client, http, clock, tmp_path):
    import requests

    http.get(URL, body=requests.ConnectionError("reset by peer"))
    http.get(URL, json={"id": "g", "status": "error", "error": {"name": "E", "message": "x"}})
    updates = []
    with pytest.raises(errors.GenerationFailedError):
        for update in watch("g", client=client, download_dir=tmp_path):
            updates.append(update)
    assert updates[0].transient and "dropped" in updates[0].message


def test_with_no_history_watch_sees_an_early_finish_within_15_percent_of_its_time(
    client, http, clock, tmp_path
):
    import json
    import random

    from pixverse_ui.polling import estimate_for

    estimate = estimate_for("360p", 5)  # no history: the prior, about 89 s
    job = {}

    def answer(request):
        done = clock.now() - job["created"] >= job["ends"]
        body = {"id": "g", "status": "completed" if done else "generating"}
        if done:
            body["video"] = {"url": "https://cdn.example.test/g.mp4"}
        return 200, {}, json.dumps(body)

    http.add_callback(responses.GET, URL, callback=answer)
    for share in (0.1, 0.22, 0.5, 0.75, 1.0):
        for trial in range(3):
            job.update(created=clock.now(), ends=share * estimate.median)
            updates = watch(
                "g",
                client=client,
                download_dir=tmp_path,
                estimate=estimate,
                created_at=job["created"],
                rng=random.Random(f"{share}-{trial}"),
            )
            seen = next(u for u in updates if u.status == "completed")
            updates.close()  # the download is not what this is about
            late = seen.elapsed - job["ends"]
            assert 0 <= late <= max(1.5, 0.15 * job["ends"]) + 1e-6, (share, trial, late)


def test_the_create_answer_reaches_the_watch_though_the_ledger_never_took_it(
    client, http, clock, tmp_path
):
    """Another process holds the ledger as the create answer comes, so the id goes to the
    journal: the watch still starts from the answer itself (its credits in the first update,
    its ``poll_after`` as the first wait), not from a ledger row that has none of it."""
    import json
    import sqlite3

    from pixverse_ui.jobs import Jobs
    from pixverse_ui.params import validate
    from pixverse_ui.store import Ledger

    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path, clock=clock, busy_timeout=0.05)
    holder = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)

    def created(request):
        holder.execute("BEGIN EXCLUSIVE")
        body = {
            "id": "g",
            "status": "queued",
            "poll_after": 7,
            "meta": {"usage": {"credits_used": 40}},
        }
        return 200, {}, json.dumps(body)

    http.add_callback(responses.POST, URL, callback=created)
    http.get(URL, json={"id": "g", "status": "failed", "error": {"name": "E", "message": "no"}})
    job = Jobs(client, ledger, tmp_path).submit(validate("a fox", resolution="360p"))
    seen = []
    with pytest.raises(errors.GenerationFailedError):
        job.wait(on_update=seen.append)
    holder.execute("ROLLBACK")
    note, first = seen[:2]
    assert "could not record generation g" in note.message and "journal" in note.message
    assert (first.status, first.credits_used, first.polls) == ("queued", 40.0, 0)
    assert clock.slept[-1] == 7.0  # the one wait of the watch: the answer's, not the schedule's
