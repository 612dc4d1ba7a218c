"""History: what the History tab's ``list_history`` costs with 10,000 generations against 10.

Two apps run in this process on loopback (simulator mode), each over its own ledger: one holds
10 generations, the other 10,000, of one person. The rows are the ones the app writes (a job
recorded, then running, then done), copied by SQL with their own ids, prompts, times, aspect
ratios and states (most done, with a video: three small MP4s whose stills are made once, as a
history's are). Five prompts in each ledger have the word the text filter looks for, spread over
the whole history: in the large one, finding them reads all 10,000 (the worst case for a filter).

Each call is the tab's own ``list_history``, through the app's HTTP API (the call, then its
answer's stream: the same queue and handler as the page's calls), taking turns between the apps:
the first page (a full page of ``PAGE_SIZE`` of 10,000 against all 10) and the text filter (5
found either way). A last row times ``history.history_page`` for the filter alone: the ledger's two
reads (the count and the page) and the page's items.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import requests

from .common import Row, environment, interleaved, median, ratio, say, seconds

NAME = "history"
FEW, MANY = 10, 10_000
#: The text filter's word, and how many prompts of each ledger have it (spread evenly).
WORD, FOUND = "heron", 5
ASPECTS = ("16:9", "9:16", "1:1")
TARGET = 1.5


def _fill(ledger: Any, owner: str, count: int, videos: list[Path]) -> None:
    """``count`` generations of ``owner``: one the app's own way, then copies of its row."""
    from pixverse_ui import params
    from pixverse_ui.lifecycle import Status
    from pixverse_ui.store import search_text

    body = params.validate("template", resolution="360p").to_body()
    ledger.record(client_request_id="template", owner=owner, endpoint="simulator", body=body)
    ledger.update("template", state=Status.RUNNING, generation_id="gen-template", status="queued")
    ledger.update(
        "template", state=Status.DONE, status="completed", credits_used=555_556, usd_spent=0.28
    )
    start = ledger.clock.now() - count
    with closing(sqlite3.connect(ledger.path)) as db, db:
        db.row_factory = sqlite3.Row
        template = dict(
            db.execute("SELECT * FROM jobs WHERE client_request_id = 'template'").fetchone()
        )
        rows = []
        for i in range(count):
            rare = i % (count // FOUND) == 0
            words = "a grey heron over the marsh" if rare else "a red fox in the snow"
            prompt = f"{words}, take {i}"
            aspect = ASPECTS[i % len(ASPECTS)]
            state = (
                Status.DONE
                if rare
                else Status.FAILED
                if i % 13 == 5
                else Status.REJECTED
                if i % 29 == 7
                else Status.DONE
            )
            done = state == Status.DONE
            rows.append(
                {
                    **template,
                    "client_request_id": f"bench-{i:05d}",
                    "generation_id": f"gen-{i:05d}" if state != Status.REJECTED else None,
                    "prompt": prompt,
                    "request_json": json.dumps(
                        {**body, "prompt": prompt, "aspect_ratio": aspect}, sort_keys=True
                    ),
                    "aspect_ratio": aspect,
                    "state": state.value,
                    "status": "completed" if done else "error",
                    "created_at": start + i,
                    "video_path": str(videos[i % len(videos)]) if done else None,
                    "credits_used": template["credits_used"] if done else None,
                    "usd_spent": template["usd_spent"] if done else None,
                    "folded": search_text(prompt, None),
                }
            )
        names = list(template)
        db.executemany(
            f"INSERT INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            [tuple(row[n] for n in names) for row in rows],
        )
        db.execute("DELETE FROM jobs WHERE client_request_id = 'template'")


class Tab:
    """The History tab of one app: ``list_history`` over HTTP, as the page calls it."""

    def __init__(self, demo: Any, ledger: Any, owner: str) -> None:
        self.base = demo.local_url.rstrip("/")
        self.http = requests.Session()
        self.ledger, self.owner = ledger, owner

    def call(self, search: str = "") -> list[Any]:
        """The answer's data (gallery, ids, cards) to one call from a visitor of the page."""
        data = ["", "bench", search, "any", False, "any", "any time", 1]
        url = f"{self.base}/gradio_api/call/list_history"
        event = self.http.post(url, json={"data": data}, timeout=60)
        event.raise_for_status()
        with self.http.get(f"{url}/{event.json()['event_id']}", stream=True, timeout=60) as answer:
            kind = ""
            for line in answer.iter_lines():
                if line.startswith(b"event:"):
                    kind = line[6:].strip().decode()
                elif line.startswith(b"data:") and kind == "complete":
                    return json.loads(line[5:])
                elif kind == "error":
                    raise RuntimeError(f"list_history failed: {line!r}")
        raise RuntimeError("list_history's answer ended without its data")

    def timed(self, search: str = "") -> float:
        start = time.perf_counter()
        self.call(search)
        return time.perf_counter() - start

    def timed_reads(self, search: str) -> float:
        """The ledger's reads of a page found by ``search``: the count, then the page."""
        from pixverse_ui.history import HistoryQuery, history_page
        from pixverse_ui.ui.history import PAGE_SIZE

        start = time.perf_counter()
        history_page(self.ledger, self.owner, HistoryQuery(text=search), size=PAGE_SIZE)
        return time.perf_counter() - start


@contextmanager
def _apps(folder: Path) -> Iterator[dict[str, Tab]]:
    """Two apps in this process, over a ledger of ``FEW`` and one of ``MANY`` generations."""
    from pixverse_ui.defaults import SIMULATOR_KEY
    from pixverse_ui.simulator.video import render_mp4
    from pixverse_ui.store import Ledger
    from pixverse_ui.ui import build_demo, launch_options

    videos = [
        render_mp4(
            {"prompt": f"still {a}", "aspect_ratio": a, "resolution": "360p"}, folder / "mp4"
        )
        for a in ASPECTS
    ]
    demos = []
    with environment(PIXVERSE_UI_HOME=str(folder / "home"), GRADIO_TEMP_DIR=str(folder / "gradio")):
        try:
            tabs = {}
            for name, count in (("few", FEW), ("many", MANY)):
                ledger = Ledger(folder / name / "ledger.sqlite3")
                owner = ledger.owner_of(SIMULATOR_KEY)  # whose history a private simulator page is
                _fill(ledger, owner, count, videos)
                demo = build_demo(ledger=ledger, download_dir=folder / name / "videos")
                demos.append(demo)
                demo.launch(
                    **launch_options(
                        demo, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True
                    )
                )
                tabs[name] = Tab(demo, ledger, owner)
            yield tabs
        finally:
            for demo in demos:
                demo.close()


def _check(tabs: dict[str, Tab]) -> None:
    """The apps show what the rows say they should (else the timings would be of nothing)."""
    from pixverse_ui.ui.history import PAGE_SIZE

    for name, search, shown in (
        ("few", "", f"1–{FEW} of {FEW}"),
        ("many", "", f"1–{PAGE_SIZE} of {MANY:,}"),
        ("few", WORD, f"1–{FOUND} of {FOUND}"),
        ("many", WORD, f"1–{FOUND} of {FOUND}"),
    ):
        gallery, ids, cards = tabs[name].call(search)
        if shown not in cards or not gallery:
            raise RuntimeError(f"the {name} app showed {cards[:300]!r} for {search!r}")


def _row(
    what: str,
    samples: dict[str, list[float]],
    repeats: int,
    target: str,
    shown: Callable[[float], str] = seconds,
) -> Row:
    few, many = median(samples["few"]), median(samples["many"])
    met = ratio(many, few) <= TARGET if target.startswith("<=") else None
    return Row(
        NAME,
        f"{what}: {MANY:,} generations vs {FEW} (median of {repeats})",
        shown(many),
        shown(few),
        ratio(many, few),
        target,
        met,
    )


def run(quick: bool = False) -> list[Row]:
    from pixverse_ui.ui.history import PAGE_SIZE

    repeats = 7 if quick else 21
    goal = f"<= {TARGET}x"
    with TemporaryDirectory(prefix="pxui-bench-history-") as tmp:
        start = time.perf_counter()
        with _apps(Path(tmp)) as tabs:
            took = time.perf_counter() - start
            say(f"  history: two apps, {FEW} and {MANY:,} generations ({took:.0f} s)")
            _check(tabs)
            say(f"  history: list_history, first page and '{WORD}', {repeats} rounds each")
            first = interleaved({n: lambda t=t: t.timed("") for n, t in tabs.items()}, repeats)
            found = interleaved({n: lambda t=t: t.timed(WORD) for n, t in tabs.items()}, repeats)
            reads = interleaved(
                {n: lambda t=t: t.timed_reads(WORD) for n, t in tabs.items()}, repeats
            )
    return [
        _row(
            f"History tab's list_history over HTTP, first page ({PAGE_SIZE} shown vs {FEW})",
            first,
            repeats,
            goal,
        ),
        _row(
            f"History tab's list_history over HTTP, text filter ({FOUND} found of all)",
            found,
            repeats,
            goal,
        ),
        _row(
            "history_page alone for the text filter (the count, the page), no Gradio",
            reads,
            repeats,
            "(all the index read)",
            lambda value: f"{value * 1000:.2f} ms",
        ),
    ]
