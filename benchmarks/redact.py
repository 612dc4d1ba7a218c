"""Per-visitor state: what masking a log line costs, and what the app keeps, after many visitors.

A public app registers every visitor's key for masking and makes a client per key. Before the key
table was bounded and looked up by token, masking one log line cost 4 us with one key and 540 us
after 5,000 visitors. Here the same line is masked with one visitor's key registered and with
5,000 (in a fresh table each, taking turns), each key both sent and accepted by the API (the
tables of both kinds full), and ``access.App`` is handed 5,000 keyed visitors to count the
clients and keys it keeps.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from pixverse_ui import redact as redaction

from .common import Row, interleaved, median, ratio, say

NAME = "redact"
VISITORS = 5000
LINE = (
    "INFO pixverse_ui.client create 16:9 · 720p · 5 s · anime (client request id "
    "pxui-Zk3q.9xYbW1Lq2mN0pR7sT) answered 200 in 312 ms; polling generation FxkOMGP_IRjjNHfzH3LTV"
)


def _mask_cost(keys: int, lines: int) -> float:
    """Microseconds to mask ``LINE`` once, with ``keys`` keys registered in a fresh table."""
    saved = redaction._secrets
    redaction._secrets = redaction._Secrets(redaction.MAX_KEYS)
    try:
        for i in range(keys):
            key = f"sk-visitor-{i:06d}-0123456789abcdef"
            redaction.register_sent_key(key)  # as the page does with a key it is sent
            redaction.register_secret(key)  # as a client does once the API accepted it
        start = time.perf_counter()
        for _ in range(lines):
            redaction.redact(LINE)
        return (time.perf_counter() - start) / lines * 1e6
    finally:
        redaction._secrets = saved


def _kept_after_visitors(count: int) -> tuple[int, dict[str, int]]:
    """(clients, keys per table) an app keeps after ``count`` visitors each brought their own
    key (never used: sent, not accepted)."""
    from pixverse_ui.access import App, Mode
    from pixverse_ui.store import Ledger

    saved = redaction._secrets
    redaction._secrets = redaction._Secrets(redaction.MAX_KEYS)
    try:
        with TemporaryDirectory(prefix="pxui-bench-redact-") as tmp:
            mode = Mode(
                host_key="sk-bench-host-000000000000",
                on_space=False,
                share_host_key=False,
                has_auth=False,
            )
            app = App(mode, Ledger(Path(tmp) / "l.sqlite3"), Path(tmp) / "videos")
            for i in range(count):
                app.caller(f"sk-visitor-{i:06d}-0123456789abcdef", f"browser-{i}")
            gc.collect()  # a client the app dropped holds its key until it is collected
            return len(app._clients), redaction._secrets.sizes()
    finally:
        redaction._secrets = saved


def run(quick: bool = False) -> list[Row]:
    repeats = 5 if quick else 15
    lines = 2000
    say(f"  redact: one log line, 1 key vs {VISITORS:,} keys, {repeats} rounds of {lines} lines")
    samples = interleaved(
        {"one": lambda: _mask_cost(1, lines), "many": lambda: _mask_cost(VISITORS, lines)},
        repeats,
    )
    one, many = median(samples["one"]), median(samples["many"])
    clients, keys = _kept_after_visitors(VISITORS)
    return [
        Row(
            NAME,
            f"mask one log line: {VISITORS:,} keys registered vs 1 (median of {repeats})",
            f"{many:.1f} us",
            f"{one:.1f} us",
            ratio(many, one),
            "<= 1.3x",
            ratio(many, one) <= 1.3,
        ),
        Row(
            NAME,
            f"after {VISITORS:,} keyed visitors: clients and keys kept (sent, held by clients)",
            f"{clients} clients, {keys['sent']:,} keys, {keys['held']} held",
            f"{VISITORS:,} visitors",
            ratio(clients, VISITORS),
            "bounded (256, 4,096)",
            clients <= 256 and keys["sent"] <= redaction.MAX_KEYS and keys["held"] <= clients,
        ),
    ]
