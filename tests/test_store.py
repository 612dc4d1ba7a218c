"""The SQLite ledger: written before the POST, safe across threads and processes, keyless."""

import multiprocessing
import sqlite3
import threading

import pytest

from pixverse_ui import validate
from pixverse_ui.clock import ManualClock
from pixverse_ui.lifecycle import IllegalMove, Status
from pixverse_ui.store import (
    _SCHEMA,
    HISTORY_INDEX,
    RECENT_TIMINGS,
    Ledger,
    _history_filter,
    count_sql,
    search_sql,
)

KEY = "sk-live-LEDGER-SECRET-987654321"


@pytest.fixture
def ledger(tmp_path):
    return Ledger(tmp_path / "ledger.sqlite3", clock=ManualClock())


def _record(ledger, crid, owner="o1", body=None):
    body = body or validate("a red fox", resolution="540p").to_body()
    return ledger.record(client_request_id=crid, owner=owner, endpoint="e", body=body)


def test_a_job_is_recorded_with_its_exact_body_before_any_id(ledger):
    body = validate("a red fox", seed=3, style="clay").to_body()
    job = _record(ledger, "crid-1", body=body)
    assert job.state == Status.SUBMITTING and job.generation_id is None
    assert job.request == body
    assert ledger.get("crid-1") == job


def test_the_generation_id_and_status_changes_are_kept(ledger):
    _record(ledger, "crid-1")
    ledger.update(
        "crid-1", generation_id="gen-1", state=Status.RUNNING, status="queued", submitted_at=5
    )
    ledger.update("gen-1", status="generating")
    ledger.update("gen-1", polls_added=3)
    job = ledger.get("gen-1")
    assert (job.client_request_id, job.status, job.polls) == ("crid-1", "generating", 3)
    assert [j.generation_id for j in ledger.unfinished()] == ["gen-1"]
    ledger.update("gen-1", state=Status.DONE, video_path="/v.mp4", finished_at=70)
    assert ledger.unfinished() == []
    assert ledger.get("gen-1").render_seconds == 65


def test_unknown_jobs_and_columns_are_refused(ledger):
    with pytest.raises(KeyError):
        ledger.update("nope", status="x")
    _record(ledger, "c")
    with pytest.raises(ValueError):
        ledger.update("c", owner="someone else")
    with pytest.raises(ValueError):
        ledger.update("c", state="exploded")


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        (
            (Status.RUNNING, Status.DONE),
            Status.RUNNING,
        ),  # a finished video does not start running again
        ((Status.RUNNING, Status.FAILED), Status.DONE),
        ((Status.REJECTED,), Status.RUNNING),  # nothing was created: there is nothing to run
        ((), Status.DONE),  # a job ends from running, never straight from its POST
    ],
    ids=["done-to-running", "failed-to-done", "rejected-to-running", "submitting-to-done"],
)
def test_an_illegal_move_is_refused_and_nothing_is_written(ledger, path, illegal):
    _record(ledger, "c")
    for state in path:
        ledger.update("c", generation_id="g", state=state)
    before = ledger.get("c")
    with pytest.raises(IllegalMove, match=f"is {before.state} and cannot become {illegal}"):
        ledger.update("c", state=illegal, video_path="/other.mp4", polls_added=5)
    assert ledger.get("c") == before  # the state, the video and the polls as they were
    stored = ledger._connection().execute("SELECT state FROM jobs").fetchone()[0]
    assert stored == before.state.value and type(stored) is str  # the words ledgers always held


def test_of_many_writers_ending_one_job_at_once_one_wins(tmp_path):
    """The state a move starts from is read in the write's own transaction: of twenty
    connections ending the same running job together, ten as done and ten as failed, one side
    wins (its others only repeat its end) and the other is refused whole."""
    path = tmp_path / "ledger.sqlite3"
    _record(Ledger(path), "c")
    Ledger(path).update("c", generation_id="g", state=Status.RUNNING)
    barrier = threading.Barrier(20)
    won, refused = [], []

    def end(state) -> None:
        mine = Ledger(path)
        barrier.wait(timeout=30)
        try:
            mine.update("g", state=state)
            won.append(state)
        except IllegalMove:
            refused.append(state)

    threads = [
        threading.Thread(target=end, args=(Status.DONE if i % 2 else Status.FAILED,))
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(set(won)) == 1 and len(won) == 10 and set(refused).isdisjoint(won)
    assert Ledger(path).get("g").state == won[0]


def test_write_changes_a_job_without_reading_it_back_and_refuses_what_update_refuses(ledger):
    _record(ledger, "c")
    assert ledger.write("c", polls_added=2, status="generating") is None
    assert (ledger.get("c").status, ledger.get("c").polls) == ("generating", 2)
    with pytest.raises(KeyError):
        ledger.write("nope", status="x")
    with pytest.raises(ValueError):
        ledger.write("c", owner="someone else")


def test_recent_timings_are_read_from_the_newest_without_sorting_the_whole_history(ledger):
    """Every watch reads them when it starts: their cost must not grow with the history."""
    for i in range(60):
        _record(ledger, f"c{i}")
        ledger.update(f"c{i}", state=Status.RUNNING)
        ledger.update(f"c{i}", state=Status.DONE, submitted_at=i, finished_at=i + 10.0 + i % 3)
    timings = ledger.finished_timings("e", last=50)
    assert len(timings) == 50 and timings[0].seconds == 10.0 + 59 % 3  # the newest first
    plan = " ".join(
        row[3]
        for row in ledger._connection().execute(
            "EXPLAIN QUERY PLAN " + RECENT_TIMINGS, (Status.DONE, Status.RUNNING, "e", "e", 50)
        )
    )
    assert "jobs_finished" in plan and "TEMP B-TREE" not in plan


def test_owner_is_a_salted_hash_and_the_key_is_stored_nowhere(ledger, tmp_path):
    owner = ledger.owner_of(KEY)
    assert owner == ledger.owner_of(KEY) and owner != ledger.owner_of(KEY + "x")
    other = Ledger(tmp_path / "other.sqlite3")
    assert other.owner_of(KEY) != owner  # a different salt per ledger
    _record(ledger, "c", owner=owner)
    ledger.update("c", error="boom")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.sqlite3*"))
    assert KEY.encode() not in raw


def test_history_is_per_owner_and_newest_first(ledger):
    clock = ledger.clock
    for i in range(3):
        _record(ledger, f"a{i}", owner="alice")
        clock.advance(1)
    _record(ledger, "b0", owner="bob")
    assert [j.client_request_id for j in ledger.history("alice")] == ["a2", "a1", "a0"]
    assert [j.client_request_id for j in ledger.history("bob")] == ["b0"]


#: Every History filter, alone and together (``Ledger.search``'s keywords).
FILTERS = [
    {},
    {"text": "fox"},
    {"states": (Status.DONE,)},
    {"states": (Status.DONE, Status.FAILED)},
    {"starred": True},
    {"resolution": "540p"},
    {"since": 1.0},
    {"since": 1.0, "until": 9.0},
    {"text": "fox", "states": (Status.DONE,), "starred": False, "resolution": "720p", "since": 1.0},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "+".join(f) or "none")
def test_a_history_page_and_its_count_read_the_history_index_alone(ledger, filters):
    """A page and a count cost the same with 10,000 jobs as with 10 (``benchmarks/history.py``):
    every filter is a column of the index, so neither reads a row it does not show."""
    for i in range(30):
        _record(ledger, f"c{i}", owner="alice" if i % 3 else "bob")
        ledger.clock.advance(1)
    keywords = {
        "text": None, "states": (), "starred": None, "resolution": None, "since": None,
        "until": None, **filters,
    }  # fmt: skip
    where, args = _history_filter("alice", **keywords)
    db = ledger._connection()
    page = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + search_sql(where), (*args, 20, 0))]
    count = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + count_sql(where), args)]
    # the page's ids from the index alone, then those rows by id; the count from the index
    assert any(f"COVERING INDEX {HISTORY_INDEX} (owner=?" in step for step in page), page
    assert [step for step in count if f"COVERING INDEX {HISTORY_INDEX} (owner=?" in step] == count
    assert not any(step.startswith("SCAN") for step in page + count), (page, count)
    shown = ledger.search("alice", **filters, limit=1000)
    assert ledger.count("alice", **filters) == len(shown)


def test_a_history_is_read_a_page_at_a_time_newest_first(ledger):
    for i in range(25):
        _record(ledger, f"c{i:02d}", body=validate(f"fox number {i}", resolution="540p").to_body())
        if i % 5 == 0:
            ledger.clock.advance(1)  # jobs made in the same second keep their order too
    newest = [f"c{i:02d}" for i in reversed(range(25))]
    pages = [ledger.search("o1", limit=10, offset=start) for start in (0, 10, 20, 30)]
    assert [[j.client_request_id for j in page] for page in pages] == [
        newest[:10],
        newest[10:20],
        newest[20:],
        [],
    ]
    assert ledger.count("o1") == 25 and ledger.count("o1", text="NUMBER 1") == 11
    assert ledger.count("someone else") == 0


def test_the_text_filter_finds_a_note_as_it_is_now(ledger):
    _record(ledger, "c", body=validate("a red fox", resolution="540p").to_body())
    assert ledger.count("o1", text="heron") == 0
    ledger.set_note("c", "o1", "Try a HÉRON next")
    assert [j.client_request_id for j in ledger.search("o1", text="héron")] == ["c"]
    ledger.set_note("c", "o1", "")
    assert ledger.count("o1", text="héron") == 0
    ledger.update("c", prompt="a grey heron")  # the prompt is searched as it is now, too
    assert ledger.count("o1", text="HERON") == 1 and ledger.count("o1", text="fox") == 0


def test_an_old_ledger_is_searchable_and_loses_its_old_index(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA)
        db.execute("CREATE INDEX jobs_owner_created ON jobs (owner, created_at DESC)")
        db.execute(
            "INSERT INTO jobs (client_request_id, owner, endpoint, state, status, request_json,"
            " resolution, duration, aspect_ratio, prompt, created_at, updated_at, note)"
            " VALUES ('c0', 'alice', 'e', 'failed', 'error', '{}', '360p', 5, '16:9',"
            " 'Un CAFÉ à Paris', 1, 1, 'an old Note')"
        )
    ledger = Ledger(path)
    assert [j.client_request_id for j in ledger.search("alice", text="café")] == ["c0"]
    assert ledger.count("alice", text="OLD NOTE") == 1
    indexes = {row[0] for row in ledger._connection().execute("SELECT name FROM sqlite_master")}
    assert HISTORY_INDEX in indexes and "jobs_owner_created" not in indexes


def test_expected_seconds_and_typical_credits_come_from_finished_jobs(ledger):
    for i, took in enumerate([100, 110, 120]):
        _record(ledger, f"c{i}")
        ledger.update(f"c{i}", state=Status.RUNNING)
        ledger.update(
            f"c{i}",
            generation_id=f"g{i}",
            state=Status.DONE,
            submitted_at=0,
            finished_at=took,
            credits_used=1000 * (i + 1),
        )
    assert sorted(ledger.expected_seconds("540p", 5)) == [100, 110, 120]
    assert ledger.expected_seconds("1080p", 5) == []
    assert ledger.typical_credits("540p", 5) == 2000


def test_many_threads_write_at_once(ledger):
    def work(n):
        for i in range(25):
            _record(ledger, f"t{n}-{i}")
            ledger.update(
                f"t{n}-{i}", generation_id=f"g{n}-{i}", state=Status.RUNNING, status="queued"
            )
            ledger.update(f"g{n}-{i}", polls_added=1)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    jobs = ledger.history(limit=1000)
    assert len(jobs) == 200 and all(j.polls == 1 for j in jobs)


def _process_writer(path, n):
    ledger = Ledger(path)
    for i in range(20):
        ledger.record(
            client_request_id=f"p{n}-{i}", owner="o", endpoint="e", body=validate("x").to_body()
        )
        ledger.update(f"p{n}-{i}", generation_id=f"pg{n}-{i}", state=Status.RUNNING)


def test_many_processes_write_at_once(tmp_path):
    path = tmp_path / "shared.sqlite3"
    Ledger(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(path, n)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert len(Ledger(path).unfinished()) == 80


def test_the_ledger_uses_wal(ledger):
    mode = sqlite3.connect(ledger.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_ledger_from_before_payers_is_migrated_and_its_jobs_stay_resumable(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the first release's table, without the payer column
        db.executescript(_SCHEMA.replace(",\n    payer TEXT", ""))
        db.execute(
            "INSERT INTO jobs (client_request_id, generation_id, owner, endpoint, state, status,"
            " request_json, resolution, duration, aspect_ratio, prompt, created_at, updated_at)"
            " VALUES ('c1', 'g1', 'old-owner', 'e', 'running', 'queued', '{}', '360p', 5,"
            " '16:9', 'p', 1, 1)"
        )
    ledger = Ledger(path)
    [old] = ledger.unfinished(payer="old-owner")
    assert old.payer is None and old.paid_by == "old-owner"
    body = validate("a heron").to_body()
    ledger.record(client_request_id="c2", owner="alice", payer="host", endpoint="e", body=body)
    ledger.update("c2", generation_id="g2", state=Status.RUNNING)
    assert [j.client_request_id for j in ledger.unfinished("alice", payer="host")] == ["c2"]
    assert ledger.unfinished("alice", payer="old-owner") == []
    Ledger(path)  # opening it again (another process) finds the column there


def test_an_image_is_kept_with_its_job_and_never_changed(ledger, tmp_path):
    from PIL import Image

    from pixverse_ui import images

    Image.new("RGB", (40, 30), (1, 2, 3)).save(tmp_path / "a.png")
    request = validate("a fox", image=tmp_path / "a.png")
    kept = images.keep(request.image, ledger.path.parent)
    job = ledger.record(
        client_request_id="c-image", owner="o1", endpoint="e", body=request.to_record(),
        image=kept.columns(), aspect_ratio=request.frame_ratio,
    )  # fmt: skip
    assert (job.image_source, job.image_width, job.image_height) == ("file", 40, 30)
    assert job.image_sha256 == kept.sha256 and job.image_path == kept.path
    assert job.aspect_ratio == "4:3" and job.request == request.to_record()
    with pytest.raises(ValueError, match="not ledger columns"):
        ledger.update("c-image", image_path="/elsewhere.png")
    text = _record(ledger, "c-text")
    assert (text.image_source, text.image_sha256, text.image_path) == (None, None, None)


def test_a_ledger_from_before_images_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the table as it was, and the columns added before images
        db.executescript(_SCHEMA)
        for name in ("provider_seed INTEGER", "folded TEXT"):
            db.execute(f"ALTER TABLE jobs ADD COLUMN {name}")
        db.execute(
            "INSERT INTO jobs (client_request_id, generation_id, owner, endpoint, state, status,"
            " request_json, resolution, duration, aspect_ratio, prompt, created_at, updated_at)"
            " VALUES ('c1', 'g1', 'alice', 'e', 'done', 'completed',"
            ' \'{"model": "pixverse/v5-5-text-to-video", "prompt": "p"}\', \'360p\', 5,'
            " '16:9', 'p', 1, 1)"
        )
    ledger = Ledger(path)
    [old] = ledger.history()
    assert old.image_source is None and old.image_sha256 is None
    columns = {row["name"] for row in ledger._connection().execute("PRAGMA table_info(jobs)")}
    assert {"image_source", "image_url", "image_path", "image_sha256"} <= columns
    assert {"image_width", "image_height"} <= columns
    Ledger(path)  # opening it again (another process) finds the columns there


def test_what_history_is_drawn_from_changes_with_jobs_and_ends_not_polls(ledger):
    """``Ledger.changes`` tells a page when to draw History again: not on a poll."""
    empty = ledger.changes("o1")
    _record(ledger, "crid-1")
    started = ledger.changes("o1")
    assert started != empty
    ledger.update(
        "crid-1", generation_id="gen-1", state=Status.RUNNING, status="queued", submitted_at=5
    )
    running = ledger.changes("o1")
    assert running != started
    ledger.update("gen-1", status="generating", polls_added=1)  # a poll: nothing to redraw
    assert ledger.changes("o1") == running
    ledger.update("gen-1", state=Status.DONE, video_path="/v.mp4", finished_at=70)
    done = ledger.changes("o1")
    assert done != running
    ledger.set_starred("gen-1", "o1", True)  # the page that starred it draws itself again
    assert ledger.changes("o1") == done
    assert ledger.changes("o2") == empty  # another owner's view is not theirs to redraw
    # every open page asks this every few seconds: one read of the owner's index, not the table
    db = ledger._connection()
    sent: list[str] = []
    db.set_trace_callback(sent.append)  # the statement as run, its values bound
    ledger.changes("o1")
    db.set_trace_callback(None)
    [query] = [sql for sql in sent if sql.lstrip().upper().startswith("SELECT")]
    plan = [row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {query}").fetchall()]
    assert len(plan) == 1 and "COVERING INDEX" in plan[0], plan
