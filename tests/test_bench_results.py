"""benchmarks/RESULTS.md: its targets table is written from the rows of the run it sits under."""

from __future__ import annotations

from pathlib import Path

from benchmarks.__main__ import BEGIN, END, RESULTS, report, save
from benchmarks.common import HEADER, Row, markdown_table, targets_table

ROWS = [
    Row("polling", "p50 latency vs 2 s loop", "0.58 s", "0.97 s", 0.59, "p50 <= 1 s", True),
    Row("concurrency", "200 at once vs 1", "1.946", "1.022", 1.90, "<= 1.1x", False),
    Row("render", "1080p vs 360p", "834 ms", "101 ms", 8.26, "(cost for tests)", None),
    Row("posters", "sheet: to make vs made", "259 ms", "20 ms", None, "bounded", True),
]


def rows_of(table: str) -> list[Row]:
    """The rows of a table ``markdown_table`` wrote (what a saved run holds)."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    assert [c.strip() for c in lines[0].strip("|").split("|")] == HEADER
    rows = []
    for line in lines[2:]:
        bench, measure, ours, baseline, ratio, target, met = (
            c.strip() for c in line.strip().removeprefix("|").removesuffix("|").split(" | ")
        )
        number = None if ratio == "—" else float(ratio.removesuffix("x"))
        verdict = {"yes": True, "NO": False, "—": None}[met]
        rows.append(Row(bench, measure, ours, baseline, number, target, verdict))
    return rows


def test_the_targets_are_the_rows_that_have_one_with_this_runs_figures():
    table = targets_table(ROWS)
    assert table.splitlines() == [
        "| benchmark | measure | target | result |",
        "|---|---|---|---|",
        "| polling | p50 latency vs 2 s loop | p50 <= 1 s | met: 0.58 s against 0.97 s, 0.59x |",
        "| concurrency | 200 at once vs 1 | <= 1.1x | **missed**: 1.946 against 1.022, 1.90x |",
        "| posters | sheet: to make vs made | bounded | met: 259 ms against 20 ms |",
    ]
    piped = Row("redact", "keys | clients", "256", "5,000", None, "<= 256", True)
    assert "| redact | keys / clients | <= 256 |" in targets_table([piped])
    assert rows_of(markdown_table(ROWS)) == ROWS  # what the check below reads back


def test_a_saved_run_replaces_the_block_and_keeps_the_notes(tmp_path: Path):
    path = tmp_path / "RESULTS.md"
    path.write_text(f"# Results\n\nnotes before\n\n{BEGIN}\nold run\n{END}\n\nnotes after\n")
    save(report("quick run of polling", ROWS), path)
    text = path.read_text()
    assert "old run" not in text and text.count(BEGIN) == text.count(END) == 1
    assert text.startswith("# Results\n\nnotes before\n\n") and text.endswith("\n\nnotes after\n")
    block = text.split(BEGIN)[1].split(END)[0]
    assert block.index(markdown_table(ROWS)) < block.index(targets_table(ROWS))


def test_the_committed_results_quote_one_run():
    """The targets table in RESULTS.md is the one its own rows make: no hand-written figures
    from another run."""
    block = RESULTS.read_text("utf-8").split(BEGIN)[1].split(END)[0]
    table, _, targets = block.partition("### Targets of this run")
    assert targets.strip() == targets_table(rows_of(table))
