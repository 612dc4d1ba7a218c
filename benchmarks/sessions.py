"""Sessions: what the app's memory holds after many visitors have opened the page and left.

A session is one page load as a browser makes it: GET the page, open the heartbeat connection
when the page's config asks for one, run the events the page's load starts (the history and the
form's cost) under the session's hash, then close the heartbeat, as closing the tab does. The
app runs in this process on loopback, on the simulator; the process's resident memory is read,
after a garbage collection, once 10 sessions and once 1,000 have come and gone.

tracemalloc put what a session left behind in Gradio's ``SessionState`` (a copy of every
component's config, about 145 kB for this page), its message queue and its set of event ids;
before they were freed when the page closed, 500 sessions added about 80 MB and 1,000 about
150 MB (1.8x the memory after 10).
"""

from __future__ import annotations

import gc
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from tempfile import TemporaryDirectory
from typing import Any

import requests

from .common import Row, environment, ratio, say

NAME = "sessions"
FEW, MANY = 10, 1000
#: The page's hidden fields a load event reads, by their element id, as a browser fills them.
FILLED = {"api-key": "", "visitor-id": None}


class Pages:
    """Opens the page at ``base`` and closes it again, as a browser tab would."""

    def __init__(self, base: str, http: requests.Session | None = None) -> None:
        self.base = base.rstrip("/")
        self.http = http or requests.Session()
        config = self.http.get(self.base + "/config", timeout=30).json()
        self.heartbeat = bool(config.get("connect_heartbeat"))
        values = {c["id"]: c.get("props", {}).get("value") for c in config["components"]}
        names = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
        deps = config["dependencies"]
        load = next(d["id"] for d in deps if any(t[1] == "load" for t in d["targets"]))
        self.events = [
            (d["id"], [(i, names.get(i), values.get(i)) for i in d["inputs"]])
            for d in deps
            if d.get("trigger_after") == load and d.get("backend_fn")
        ]
        assert self.events, "the page's load starts no event on the server"

    def visit(self) -> None:
        """One session: the page opens, runs its load's events, and closes."""
        with self.page():
            pass

    @contextmanager
    def page(self, *, heartbeat: bool = True) -> Iterator[str]:
        """A page open (its load's events run) until the block ends: its session hash.

        ``heartbeat=False`` runs the same events as an API client does, which opens none.
        """
        session = uuid.uuid4().hex[:11]
        visitor = str(uuid.uuid4())
        self.http.get(self.base + "/", timeout=30).raise_for_status()
        beat = None
        if heartbeat and self.heartbeat:
            beat = self.http.get(
                f"{self.base}/gradio_api/heartbeat/{session}", stream=True, timeout=30
            )
        try:
            for fn_index, inputs in self.events:
                data = [
                    (visitor if name == "visitor-id" else FILLED[name]) if name in FILLED else value
                    for _, name, value in inputs
                ]
                self._run(fn_index, data, session)
            yield session
        finally:
            if beat is not None:
                beat.close()  # the tab closes

    def _run(self, fn_index: int, data: list[Any], session: str) -> None:
        body = {"data": data, "fn_index": fn_index, "session_hash": session, "trigger_id": None}
        joined = self.http.post(self.base + "/gradio_api/queue/join", json=body, timeout=30)
        joined.raise_for_status()
        with self.http.get(
            self.base + "/gradio_api/queue/data",
            params={"session_hash": session},
            stream=True,
            timeout=30,
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith(b"data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_completed":
                        assert message.get("success"), message
                        return
        raise AssertionError(f"event {fn_index} ended without completing")


def settle(read: Callable[[], object], *, quiet: float = 1.0, bound: float = 60.0) -> None:
    """Wait until ``read()`` has not changed for ``quiet`` seconds (at most ``bound``): the
    background work a closed page starts (Gradio's unload events) has run."""
    last, since, end = read(), time.monotonic(), time.monotonic() + bound
    while time.monotonic() < end and time.monotonic() - since < quiet:
        time.sleep(0.1)
        now = read()
        if now != last:
            last, since = now, time.monotonic()


def resident_bytes() -> int:
    """This process's resident memory (Linux ``/proc``), as ``ps`` and a Space's meter show it."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _memory_after(
    counts: tuple[int, ...], measure: Callable[[], int] = resident_bytes
) -> tuple[list[int], dict[str, int]]:
    """``measure()`` after each of ``counts`` sessions (cumulative), every page closed and the
    garbage collected; and Gradio's per-session tables at the end."""
    from pixverse_ui.ui import build_demo, launch_options
    from pixverse_ui.ui.sessions import session_tables

    with (
        TemporaryDirectory(prefix="pxui-bench-sessions-") as tmp,
        environment(PIXVERSE_UI_HOME=f"{tmp}/home", GRADIO_TEMP_DIR=f"{tmp}/gradio"),
    ):
        demo = build_demo()
        try:
            demo.launch(
                **launch_options(
                    demo, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True
                )
            )
            pages = Pages(demo.local_url)
            pages.visit()  # the first visit fills Gradio's lazy caches: not a session's cost
            figures, done = [], 0
            for count in counts:
                for _ in range(count - done):
                    pages.visit()
                done = count
                settle(lambda: session_tables(demo))
                gc.collect()
                figures.append(measure())
            return figures, session_tables(demo)
        finally:
            demo.close()


def run(quick: bool = False) -> list[Row]:
    many = MANY // 5 if quick else MANY
    say(f"  sessions: memory after {FEW} and after {many:,} page loads, each page closed")
    start = time.perf_counter()
    (few_bytes, many_bytes), tables = _memory_after((FEW, many))
    say(f"  sessions: {many:,} page loads in {time.perf_counter() - start:.0f} s; {tables}")
    per_session = (many_bytes - few_bytes) / (many - FEW) / 1024
    return [
        Row(
            NAME,
            f"resident memory after {many:,} sessions (each page closed) vs after {FEW}",
            f"{many_bytes / 2**20:.1f} MB ({per_session:+.1f} kB a session)",
            f"{few_bytes / 2**20:.1f} MB",
            ratio(many_bytes, few_bytes),
            "flat (<= 1.1x)",
            ratio(many_bytes, few_bytes) <= 1.1,
        ),
        Row(
            NAME,
            f"after {many:,} sessions: sessions in Gradio's per-session tables",
            ", ".join(f"{v} {k}" for k, v in tables.items()),
            f"{many:,} sessions",
            ratio(tables["states"], many),
            "(none left)",
            None,
        ),
    ]
