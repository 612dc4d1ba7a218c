"""The seed is always known: a blank one is picked, sent and kept, and the seed the provider's
video link names is kept beside it, with a difference said where the job is shown.

Real generations on a live simulator, whose video links name the seed as the provider's do.
"""

from __future__ import annotations

import json
import random
import zipfile

import pytest
from conftest import TEST_KEY

from pixverse_ui import validate
from pixverse_ui.client import Client
from pixverse_ui.export import export
from pixverse_ui.history import HistoryItem
from pixverse_ui.jobs import Jobs
from pixverse_ui.params import SEED_MAX, SEED_MIN, pick_seed, seed_named_in
from pixverse_ui.store import Ledger


def made(sim, tmp_path, params, rng=None):
    """One finished generation of ``params`` on ``sim``: its ledger record."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    with Client(api_key=TEST_KEY, base_url=sim.url, timeout=(2.0, 10.0)) as client:
        seeds = {} if rng is None else {"seeds": rng}
        service = Jobs(client, ledger, tmp_path / "videos", timeout=120, **seeds)
        video = service.submit(params).wait()
    return ledger.get(video.id)


def test_a_blank_seed_is_picked_sent_kept_shown_and_exported(make_live_sim, tmp_path):
    sim = make_live_sim(api_keys=frozenset({TEST_KEY}))
    record = made(sim, tmp_path, validate("A kite over dunes", resolution="360p"), random.Random(3))
    expected = pick_seed(random.Random(3))  # the injected source decides it
    [sent] = [job["body"] for job in sim.stats()["jobs"]]
    assert sent["seed"] == expected and SEED_MIN <= expected <= SEED_MAX
    assert record.request["seed"] == expected and record.provider_seed == expected
    assert f"_seed{expected}." in (record.video_url or "")
    shown = HistoryItem.from_record(record).settings
    assert f"seed {expected}" in shown and "provider" not in shown
    with zipfile.ZipFile(export(record, tmp_path / "exports")) as archive:
        assert json.loads(archive.read("request.json"))["seed"] == expected


def test_a_typed_seed_is_sent_as_typed(make_live_sim, tmp_path):
    sim = make_live_sim(api_keys=frozenset({TEST_KEY}))
    record = made(sim, tmp_path, validate("A kite", resolution="360p", seed=42))
    assert sim.stats()["jobs"][0]["body"]["seed"] == 42 == record.provider_seed


def test_a_seed_the_provider_names_other_than_the_one_sent_is_kept_and_shown(
    make_live_sim, tmp_path
):
    sim = make_live_sim(api_keys=frozenset({TEST_KEY}), keep_seed=False)
    record = made(sim, tmp_path, validate("A kite", resolution="360p", seed=42))
    named = seed_named_in(record.video_url)
    assert named is not None and named != 42
    assert record.request["seed"] == 42 and record.provider_seed == named
    shown = HistoryItem.from_record(record).settings
    assert f"the provider made it with seed {named}, not the 42 sent" in shown


@pytest.mark.parametrize(
    ("url", "seed"),
    [
        ("https://cdn.example/v/abc_seed1231972948.mp4", 1231972948),
        ("https://cdn.example/v/abc_seed7.mp4?sig=1", 7),
        ("https://cdn.example/v/abc.mp4", None),
        ("https://cdn.example/v/seed12.mp4", None),
        (None, None),
    ],
)
def test_the_seed_a_link_names(url, seed):
    assert seed_named_in(url) == seed
