"""Load (`make faults`): fifty visitors at once on one app, every job accounted for.

How many run at the same time, and how fast, is a benchmark's figure (benchmarks/concurrency.py,
as ratios); here only outcomes are asserted, which no machine's speed can change.
"""

from __future__ import annotations

import concurrent.futures

import pytest
from support import form, sim_posts

from pixverse_ui.lifecycle import Status

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_fifty_generations_at_once_each_land_once(launch_app):
    _, client, ledger = launch_app(speed="20")
    # fifty visitors, one prompt: the simulator renders it once
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        jobs = list(
            pool.map(
                lambda i: client.submit(*form(visitor=f"c{i}"), api_name="/generate"), range(50)
            )
        )
        results = [job.result(timeout=240) for job in jobs]
    # outcomes, not timings (how many ran at once is benchmarks/concurrency.py's figure): every
    # visitor got a video, every job landed in the ledger, and each was asked of the API once
    assert all("Your video is ready" in r[0] for r in results)
    records = ledger.history(limit=100)
    assert len(records) == 50 and {r.state for r in records} == {Status.DONE}
    assert len({r.generation_id for r in records}) == 50
    assert sim_posts() == 50
