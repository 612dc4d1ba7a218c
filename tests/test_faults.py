"""Every fault the simulator can throw, on create and on poll: a video or a clear sentence,
the job still in the ledger, and never a second POST."""

from __future__ import annotations

from collections import Counter

import pytest

from pixverse_ui import errors
from pixverse_ui.client import Client
from pixverse_ui.generation import generate
from pixverse_ui.lifecycle import Status

POST_FAULTS = [
    "500",
    "502",
    "503",
    "504",
    "429",
    "429-date",
    "429-bare",
    "drop",
    "lost-post",
    "malformed",
    "empty",
    "slow",
    "fail",
]
GET_FAULTS = [
    "500",
    "502",
    "503",
    "504",
    "429",
    "429-date",
    "429-bare",
    "drop",
    "malformed",
    "empty",
    "slow",
    "unknown-status",
    "fail",
    "expire",
]
FILE_FAULTS = ["503", "drop", "expire", "slow"]
#: Every answer may take this long (the machine may be busy); a "slow" one takes longer.
READ_TIMEOUT = 5.0
SLOW_SECONDS = READ_TIMEOUT + 1.0


def kinds(names: list[str]) -> list:
    """The fault kinds to test; "slow" waits out the read timeout for real, so it runs in
    `make faults` only."""
    return [pytest.param(k, marks=pytest.mark.slow) if k == "slow" else k for k in names]


def _attempt(sim, clock, ledger, tmp_path):
    """One generation through the public function; returns (result, error)."""
    # a slow answer (SLOW_SECONDS) times out for real; any other has time to spare
    client = Client(api_key="sk-faults", base_url=sim.url, clock=clock, timeout=(5.0, READ_TIMEOUT))
    try:
        return generate(
            "a red fox",
            resolution="360p",
            client=client,
            ledger=ledger,
            download_dir=tmp_path / "videos",
            timeout=600,
        ), None
    except errors.PixVerseError as exc:
        return None, exc


def _check_nothing_lost(sim, ledger, result, error, figures):
    stats = sim.stats()
    figures.update(
        {
            "faults injected": sum(stats["faults"].values()),
            "generations started": 1,
            "duplicate POSTs": stats["posts"] - 1,
            "generations lost": sum(
                ledger.find(j["client_request_id"]) is None for j in stats["jobs"]
            ),
        }
    )
    outcome = error.user_message if error is not None else "a video"
    assert stats["posts"] == 1, (
        f"{stats['posts']} create requests reached the simulator for one generation; "
        f"it ended with: {outcome}"
    )
    rows = ledger.history(limit=10)
    assert len(rows) == 1, "the ledger must hold exactly the one job we started"
    row = rows[0]
    for job in stats["jobs"]:  # every job the provider made is in our ledger, under its ids
        mine = ledger.find(job["client_request_id"])
        assert mine is not None, "a job was created that the ledger does not know"
        assert mine.generation_id in (None, job["id"])
        if mine.generation_id is None:
            assert mine.state == Status.UNCONFIRMED  # the id was lost: say so, keep the request id
    if result is not None:
        assert result.ok and result.video_path.stat().st_size > 1000
        assert row.state == Status.DONE
    else:
        assert isinstance(error, errors.PixVerseError)
        sentence = error.user_message
        assert sentence and "Traceback" not in sentence and "sk-faults" not in sentence
        assert error.client_request_id or error.generation_id
        assert row.state in (Status.UNCONFIRMED, Status.REJECTED, Status.FAILED, Status.RUNNING)
    assert not list((row and (ledger.path.parent)).glob("**/.part-*")), "a half file was left"
    return row


@pytest.mark.parametrize("kind", kinds(POST_FAULTS))
def test_faults_on_create(make_sim, clock, ledger, tmp_path, kind, figures):
    sim = make_sim(slow_seconds=SLOW_SECONDS)
    sim.faults.add(kind, target="post", times=1)
    result, error = _attempt(sim, clock, ledger, tmp_path)
    row = _check_nothing_lost(sim, ledger, result, error, figures)
    assert sim.faults.counts().get(kind, 0) == 1
    if kind in ("drop", "lost-post", "slow"):  # the job exists, its answer was lost
        assert isinstance(error, errors.SubmissionUnconfirmedError)
        assert row.state == Status.UNCONFIRMED
        assert "usage log" in error.user_message
    if kind in ("drop", "lost-post"):  # created, then the answer was cut: found by request id
        assert row.client_request_id in {j["client_request_id"] for j in sim.stats()["jobs"]}
    if kind == "malformed":  # the id came in the x-inference-id header: nothing lost
        assert result is not None and result.ok
    if kind.startswith("429"):
        assert isinstance(error, errors.RateLimitError) and row.state == Status.REJECTED
    if kind == "fail":
        assert isinstance(error, errors.GenerationFailedError) and row.state == Status.FAILED


@pytest.mark.parametrize("kind", kinds(GET_FAULTS))
def test_faults_while_polling(make_sim, clock, ledger, tmp_path, kind, figures):
    sim = make_sim(slow_seconds=SLOW_SECONDS)
    sim.faults.add(kind, target="get", times=2)
    result, error = _attempt(sim, clock, ledger, tmp_path)
    _check_nothing_lost(sim, ledger, result, error, figures)
    if kind == "fail":
        assert isinstance(error, errors.GenerationFailedError)
        assert error.provider_message
    else:  # everything else is absorbed: the video arrives
        assert error is None, error and error.user_message


@pytest.mark.parametrize("kind", kinds(FILE_FAULTS))
def test_faults_while_downloading(make_sim, clock, ledger, tmp_path, kind, figures):
    sim = make_sim(slow_seconds=SLOW_SECONDS)
    sim.faults.add(kind, target="file", times=1)
    result, error = _attempt(sim, clock, ledger, tmp_path)
    _check_nothing_lost(sim, ledger, result, error, figures)
    assert error is None, error and error.user_message


def test_a_random_fault_plan_loses_nothing(make_sim, clock, ledger, tmp_path, figures):
    sim = make_sim(faults="503:0.2,429:0.1,drop@get:0.05,malformed@get:0.05", seed=11)
    client = Client(api_key="sk-faults", base_url=sim.url, clock=clock)
    outcomes = {"ok": 0, "error": 0}
    for i in range(12):
        try:
            generate(
                f"fox {i}",
                resolution="360p",
                client=client,
                ledger=ledger,
                download_dir=tmp_path / "v",
                timeout=900,
            )
            outcomes["ok"] += 1
        except errors.PixVerseError as exc:
            assert exc.user_message
            outcomes["error"] += 1
    stats = sim.stats()
    assert stats["posts"] == 12 == len(ledger.history(limit=100))
    assert sum(stats["faults"].values()) > 0
    for job in stats["jobs"]:
        assert ledger.find(job["client_request_id"]) is not None
    # a POST the API refused (never retried) is the only way a generation ends without a video
    # here: every job it accepted finished, whatever its GETs met. (How many POSTs draw a fault
    # depends on how many GETs drew before them, so the count of refusals is not fixed.)
    states = Counter(job.state for job in ledger.history(limit=100))
    assert outcomes["ok"] == states[Status.DONE] == 12 - states[Status.REJECTED]
    assert outcomes["ok"] >= 4  # faults were met, and generations still got through
    figures.update({"faults injected": sum(stats["faults"].values()), "generations started": 12})
