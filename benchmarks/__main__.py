"""``python -m benchmarks [--quick] [--only NAME]... [--save]``: run, then print the results.

Progress goes to stderr, the results to stdout: one table of every row, then the targets of this
run (:func:`common.targets_table`, from the same rows). A benchmark that fails becomes a row
saying so and the others still run (the exit status is then 1). ``--save`` also writes both into
``benchmarks/RESULTS.md`` between its markers, keeping the notes around them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path

from .common import Row, load_average, markdown_table, say, targets_table

NAMES = (
    "polling",
    "concurrency",
    "startup",
    "download",
    "render",
    "redact",
    "posters",
    "stitch",
    "sessions",
    "history",
)
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def run_one(name: str, quick: bool) -> tuple[list[Row], bool]:
    """The rows of one benchmark, or one row naming its failure (and False)."""
    say(f"{name}:")
    start = time.perf_counter()
    try:
        run: Callable[[bool], list[Row]] = import_module(f".{name}", __package__).run
        rows = run(quick)
    except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
        say(f"  {name} FAILED: {type(exc).__name__}: {exc}")
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:80]
        return [Row(name, "FAILED", message, "", None, "", False)], False
    say(f"  {name}: {time.perf_counter() - start:.0f} s")
    return rows, True


def heading(quick: bool, names: list[str], load_before: str, took: float) -> str:
    """Where, when and how the table was made."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "quick" if quick else "full"
    return (
        f"{mode} run of {', '.join(names)} on {when}, took {took / 60:.1f} min; "
        f"{os.cpu_count()} CPUs ({platform.machine()}, shared with other work: 1-min load average "
        f"{load_before} before, {load_average()} after); Python {platform.python_version()}. "
        "Timed figures are medians of the repeats their rows name (polling: quantiles over its "
        "simulated jobs), each as a ratio to a baseline measured in the same run."
    )


def report(head: str, rows: list[Row]) -> str:
    """What a run prints and saves: its heading, every row, and the targets of these rows."""
    return f"{head}\n\n{markdown_table(rows)}\n\n### Targets of this run\n\n{targets_table(rows)}"


def save(text: str, path: Path = RESULTS) -> None:
    """Put ``text`` between the markers in ``path`` (made, with the markers, if missing)."""
    block = f"{BEGIN}\n{text}\n{END}"
    old = path.read_text("utf-8") if path.exists() else ""
    if BEGIN in old and END in old:
        head, _, rest = old.partition(BEGIN)
        _, _, tail = rest.partition(END)
        new = head + block + tail
    else:
        new = (old.rstrip() + "\n\n" if old else "# Benchmark results\n\n") + block + "\n"
    path.write_text(new, "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and jobs")
    parser.add_argument(
        "--only", action="append", choices=NAMES, metavar="NAME", help=f"one of {NAMES}"
    )
    parser.add_argument("--save", action="store_true", help=f"write the table into {RESULTS}")
    args = parser.parse_args(argv)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    names = [n for n in NAMES if not args.only or n in args.only]
    load_before = load_average()
    start = time.perf_counter()
    rows: list[Row] = []
    ok = True
    for name in names:
        more, fine = run_one(name, args.quick)
        rows += more
        ok = ok and fine
    text = report(heading(args.quick, names, load_before, time.perf_counter() - start), rows)
    print(text)
    if args.save:
        save(text)
        say(f"saved to {RESULTS}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
