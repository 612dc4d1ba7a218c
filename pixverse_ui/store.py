"""The job ledger: every generation we start, in SQLite (stdlib ``sqlite3``, WAL).

The client request id is written before the POST, the generation id the moment it returns, and
every status change after; so a killed process can list what it left unfinished and resume it.
Two salted hashes name who a job belongs to, never a key itself: ``owner`` is whose history shows
it (a key, a logged-in name or a browser, see ``access.py``), ``payer`` is the key that pays for
it, so that a restarted process resumes each job with the key that started it.

What a person keeps of a job (a star, a note) is changed only by its owner: a job of someone else
is refused exactly as an unknown one is (``KeyError``), so a foreign id looks like no id at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from statistics import median
from typing import Any

from . import intervals
from .clock import REAL_CLOCK, Clock
from .errors import ValidationError
from .lifecycle import IllegalMove, Status, check_move
from .processes import is_gone, this_process

log = logging.getLogger(__name__)

HOME_ENV = "PIXVERSE_UI_HOME"
LEDGER_NAME = "ledger.sqlite3"
#: Beside the ledger: generation ids the ledger could not take when they arrived, one JSON line
#: each, written into the ledger again by :meth:`Ledger.recover_journal`.
JOURNAL_SUFFIX = ".journal.jsonl"
#: The client request id of a generation known by its id alone (``resume(id)`` of a stranger).
ADOPTED_PREFIX = "adopted:"


#: Said of a start whose sending process ended before its answer was written (see
#: :meth:`Ledger.settle_abandoned`).
ABANDONED = (
    "The process sending this start ended before the API's answer was recorded; the API may "
    "have made (and charged) the video. Look for the client request id in your AI/ML API usage "
    "log before trying again."
)

#: The longest note a person may keep with a job.
NOTE_MAX_CHARS = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    client_request_id TEXT PRIMARY KEY,
    generation_id TEXT UNIQUE,
    owner TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    state TEXT NOT NULL,
    status TEXT NOT NULL,
    request_json TEXT NOT NULL,
    resolution TEXT NOT NULL,
    duration INTEGER NOT NULL,
    aspect_ratio TEXT NOT NULL,
    prompt TEXT NOT NULL,
    created_at REAL NOT NULL,
    submitted_at REAL,
    started_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL,
    credits_used REAL,
    usd_spent REAL,
    video_url TEXT,
    video_path TEXT,
    error TEXT,
    polls INTEGER NOT NULL DEFAULT 0,
    batch TEXT,
    payer TEXT,
    starred INTEGER NOT NULL DEFAULT 0,
    note TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_shape ON jobs (resolution, duration, state);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at);
CREATE TABLE IF NOT EXISTS storyboards (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    board_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    stitched_path TEXT
);
CREATE TABLE IF NOT EXISTS storyboard_takes (
    storyboard_id TEXT NOT NULL REFERENCES storyboards (id),
    shot INTEGER NOT NULL,
    take INTEGER NOT NULL,
    client_request_id TEXT NOT NULL UNIQUE,
    prompt TEXT NOT NULL,
    seed INTEGER,
    from_request_id TEXT,
    chosen INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    PRIMARY KEY (storyboard_id, shot, take)
);
"""


def default_home() -> Path:
    """``$PIXVERSE_UI_HOME``, else ``~/.pixverse-ui``: where the ledger and the videos live."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".pixverse-ui").expanduser()


@dataclass(frozen=True)
class JobRecord:
    """One row of the ledger."""

    client_request_id: str
    generation_id: str | None
    owner: str
    endpoint: str
    state: Status
    #: What the API last said of the job (its provider status), as it said it; None until it
    #: has said one. Never a word of ours: see :attr:`finding`. (The column holds ``""`` then.)
    status: str | None
    request_json: str
    resolution: str
    duration: int
    aspect_ratio: str
    prompt: str
    created_at: float
    submitted_at: float | None
    started_at: float | None
    finished_at: float | None
    updated_at: float
    credits_used: float | None
    usd_spent: float | None
    video_url: str | None
    video_path: str | None
    error: str | None
    polls: int
    batch: str | None
    #: The salted hash of the key that pays; ledgers written before it existed leave it empty,
    #: when the owner was always the key (see :attr:`paid_by`).
    payer: str | None = None
    #: Kept by the person: a star and a note (see :meth:`Ledger.set_starred`, ``set_note``).
    starred: bool = False
    note: str | None = None
    #: The seed the provider's video link names (``_seed<digits>.``), when it names one.
    provider_seed: int | None = None
    #: The image an image-to-video job started from (``images.py``; all None for text-to-video):
    #: where it came from (``url``, ``file``, ``pil``, ``frame``, ``data``), the URL sent as
    #: given, or the copy of a local image's bytes in the home's ``images`` folder (its
    #: data: URI is not kept in ``request_json``), its SHA-256 and size. Written before the POST.
    image_source: str | None = None
    image_url: str | None = None
    image_path: str | None = None
    image_sha256: str | None = None
    image_width: int | None = None
    image_height: int | None = None
    #: What our own check found of the job when the provider's word could not say it
    #: (``lifecycle.FINDINGS``: ``not_found``...); None when it found nothing to say.
    finding: str | None = None

    @property
    def paid_by(self) -> str:
        """The salted hash of the key that pays for this job."""
        return self.payer or self.owner

    @property
    def request(self) -> dict[str, Any]:
        """The exact request body that was (or was to be) sent."""
        return json.loads(self.request_json)

    @property
    def unfinished(self) -> bool:
        """Still worth watching: it has an id and no final outcome yet."""
        return self.state == Status.RUNNING

    @property
    def adopted(self) -> bool:
        """Known by its generation id alone: started elsewhere, its request unknown here."""
        return self.client_request_id.startswith(ADOPTED_PREFIX)

    @property
    def render_seconds(self) -> float | None:
        """From the create answer to the job's end, as we saw it."""
        if self.submitted_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.submitted_at


@dataclass(frozen=True)
class JobTiming:
    """How long one finished job took, from the create answer to its end as we saw it."""

    resolution: str
    aspect_ratio: str
    duration: int
    seconds: float


_COLUMNS = tuple(f.name for f in fields(JobRecord))
#: Columns added after the first release, with their types, for :meth:`Ledger._migrate`.
_ADDED_COLUMNS = (
    ("payer", "TEXT"),
    ("starred", "INTEGER NOT NULL DEFAULT 0"),
    ("note", "TEXT"),
    ("provider_seed", "INTEGER"),
    ("folded", "TEXT"),
    ("sender", "TEXT"),
    *((name, "TEXT") for name in ("image_source", "image_url", "image_path", "image_sha256")),
    ("image_width", "INTEGER"),
    ("image_height", "INTEGER"),
    ("finding", "TEXT"),
)
#: Words of ours that ledgers written before ``finding`` existed kept in the provider's
#: ``status`` column: moved out of it once (:meth:`Ledger._migrate`, the ``meta`` key below).
_OUR_WORDS_MOVED = "provider_status_apart"
#: The columns of a job's image (``Ledger.record(image=...)``), never changed after.
IMAGE_COLUMNS = tuple(name for name, _ in _ADDED_COLUMNS if name.startswith("image_"))
#: The index a history is read through (``Ledger.search``, ``Ledger.count``): one owner's jobs in
#: the order of their making, with every column a History filter reads, so that a page, a filter
#: and a count read the index alone, whatever the size of the ledger (``folded`` last: it is the
#: longest). It replaced ``jobs_owner_created`` (``owner, created_at DESC``), which left the
#: filters and the newest-first tie-break to the table's rows and a sort.
HISTORY_INDEX = "jobs_history"
_HISTORY_INDEX_SQL = (
    f"CREATE INDEX IF NOT EXISTS {HISTORY_INDEX}"
    " ON jobs (owner, created_at, state, starred, resolution, folded)"
)
#: ``folded`` as SQL, from the row's own prompt and note (for rows written without it).
_FOLDED_SQL = "casefold(prompt) || char(10) || coalesce(casefold(note), '')"
#: What ``update`` may change: not who a job is, nor what its owner keeps (``set_starred``...).
_UPDATABLE = frozenset(_COLUMNS) - {
    "client_request_id",
    "owner",
    "payer",
    "created_at",
    "request_json",
    "starred",
    "note",
    *IMAGE_COLUMNS,
}


class Ledger:
    """The SQLite ledger. Safe for many threads (a connection each) and many processes (WAL)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        clock: Clock = REAL_CLOCK,
        busy_timeout: float = 30.0,
    ):
        self.path = Path(path) if path is not None else default_home() / LEDGER_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        #: How long a write waits for another connection's lock before it fails.
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._connection().executescript(_SCHEMA)  # idempotent; commits by itself
        self._migrate()
        with self._conn() as db:
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('salt', ?)",
                (secrets.token_hex(16),),
            )
        self._salt = self._meta("salt").encode()
        self.settle_abandoned()  # what a killed process left mid-POST, found at start-up

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    # --- connections ------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            db.row_factory = sqlite3.Row
            # case-insensitive search beyond ASCII (SQLite's lower() and LIKE fold ASCII only)
            db.create_function("casefold", 1, _casefold, deterministic=True)
            db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            _use_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _migrate(self) -> None:
        """Add the columns later versions brought to a ledger an earlier version made."""
        db = self._connection()
        have = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in have:
                try:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise
        # what a key paid today, summed at every start on a shared key (``budget.py``)
        db.execute("CREATE INDEX IF NOT EXISTS jobs_payer_created ON jobs (payer, created_at)")
        # rows written before ``folded`` existed (or by an older version since): searchable too
        db.execute(f"UPDATE jobs SET folded = {_FOLDED_SQL} WHERE folded IS NULL")
        db.execute(_HISTORY_INDEX_SQL)
        db.execute("DROP INDEX IF EXISTS jobs_owner_created")
        self._move_our_words()

    def _move_our_words(self) -> None:
        """Once per ledger: take the words of ours older versions wrote into the provider's
        ``status`` column out of it. ``not_found`` (a 404 to a poll) becomes the row's
        ``finding``; ``unknown`` (no word heard yet, or an answer that named none) and a state's
        own word written with it before the API answered (``submitting``, ``rejected``,
        ``unconfirmed``) leave the column empty: the provider said nothing of those jobs."""
        db = self._connection()
        done = "SELECT 1 FROM meta WHERE key = ?"
        if db.execute(done, (_OUR_WORDS_MOVED,)).fetchone() is not None:
            return
        lifecycle_words = (Status.SUBMITTING, Status.REJECTED, Status.UNCONFIRMED)
        with self._conn() as db:
            if db.execute(done, (_OUR_WORDS_MOVED,)).fetchone() is not None:
                return  # another process moved them first
            db.execute(
                "UPDATE jobs SET finding = 'not_found', status = '' WHERE status = 'not_found'"
            )
            db.execute("UPDATE jobs SET status = '' WHERE status IN ('unknown', 'invalid')")
            db.execute(
                "UPDATE jobs SET status = '' WHERE status = state AND state IN (?, ?, ?)",
                lifecycle_words,
            )
            db.execute("INSERT INTO meta (key, value) VALUES (?, '1')", (_OUR_WORDS_MOVED,))

    def _meta(self, key: str) -> str:
        row = self._connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"]

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # --- storyboards (``storyboard.py``): the board, and each shot's takes ----------------------

    def add_storyboard(self, board_id: str, owner: str, board: Mapping[str, Any]) -> None:
        """Keep a new storyboard (its file's shape, ``Storyboard.to_json``) as ``owner``'s."""
        with self._conn() as db:
            db.execute(
                "INSERT INTO storyboards (id, owner, board_json, created_at) VALUES (?, ?, ?, ?)",
                (board_id, owner, json.dumps(dict(board), ensure_ascii=False), self.clock.now()),
            )

    def set_storyboard(self, board_id: str, **changes: Any) -> None:
        """Change a storyboard's ``board_json`` (a dict) or ``stitched_path``."""
        if "board_json" in changes:
            changes["board_json"] = json.dumps(changes["board_json"], ensure_ascii=False)
        unknown = set(changes) - {"board_json", "stitched_path"}
        assert not unknown, unknown
        sets = ", ".join(f"{name} = ?" for name in changes)
        with self._conn() as db:
            db.execute(f"UPDATE storyboards SET {sets} WHERE id = ?", (*changes.values(), board_id))

    def storyboard_row(self, board_id: str, *, owner: str | None = None) -> dict[str, Any] | None:
        """A storyboard and its takes (shot, then take order) as plain rows; None for an id
        unknown, or another owner's (the same answer)."""
        db = self._connection()
        row = db.execute("SELECT * FROM storyboards WHERE id = ?", (board_id,)).fetchone()
        if row is None or (owner is not None and row["owner"] != owner):
            return None
        takes = db.execute(
            "SELECT * FROM storyboard_takes WHERE storyboard_id = ? ORDER BY shot, take",
            (board_id,),
        ).fetchall()
        return {
            **dict(row),
            "board": json.loads(row["board_json"]),
            "takes": [dict(t) for t in takes],
        }

    def add_take(
        self,
        board_id: str,
        shot: int,
        *,
        client_request_id: str,
        prompt: str,
        seed: int | None,
        from_request_id: str | None = None,
    ) -> int:
        """Keep a new take of ``shot`` under the client request id its job is to be recorded
        by, before that job is: chosen at once (the others of the shot no longer). Its number."""
        with self._conn() as db:
            row = db.execute(
                "SELECT coalesce(max(take), 0) + 1 FROM storyboard_takes"
                " WHERE storyboard_id = ? AND shot = ?",
                (board_id, shot),
            ).fetchone()
            number = int(row[0])
            db.execute(
                "UPDATE storyboard_takes SET chosen = 0 WHERE storyboard_id = ? AND shot = ?",
                (board_id, shot),
            )
            db.execute(
                "INSERT INTO storyboard_takes (storyboard_id, shot, take, client_request_id,"
                " prompt, seed, from_request_id, chosen, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
                (board_id, shot, number, client_request_id, prompt, seed, from_request_id,
                 self.clock.now()),
            )  # fmt: skip
        return number

    def choose_take(self, board_id: str, shot: int, take: int) -> bool:
        """Have ``shot`` use its take ``take``; False when it has no such take."""
        with self._conn() as db:
            found = db.execute(
                "SELECT 1 FROM storyboard_takes WHERE storyboard_id = ? AND shot = ? AND take = ?",
                (board_id, shot, take),
            ).fetchone()
            if found is None:
                return False
            db.execute(
                "UPDATE storyboard_takes SET chosen = (take = ?)"
                " WHERE storyboard_id = ? AND shot = ?",
                (take, board_id, shot),
            )
        return True

    # --- owners -------------------------------------------------------------------------------

    def owner_of(self, api_key: str) -> str:
        """The salted hash that stands for a key in this ledger."""
        return hmac.new(self._salt, api_key.encode(), hashlib.sha256).hexdigest()[:32]

    # --- writing ------------------------------------------------------------------------------

    def record(
        self,
        *,
        client_request_id: str,
        owner: str,
        endpoint: str,
        body: Mapping[str, Any],
        batch: str | None = None,
        payer: str | None = None,
        check: Callable[[], None] | None = None,
        image: Mapping[str, Any] | None = None,
        aspect_ratio: str | None = None,
    ) -> JobRecord:
        """Write a job before its POST is sent. ``payer`` defaults to ``owner``.

        ``image``: an image-to-video job's image, by column (``IMAGE_COLUMNS``,
        ``images.InputImage.columns``); ``aspect_ratio``: the shape it is kept under when the
        body names none (the image's nearest ratio, ``Params.frame_ratio``).

        ``check`` runs inside the insert's transaction, which holds the ledger's write lock: what
        it reads (a day's spending, see ``budget.py``) cannot change before the row is in, so
        two starts at once cannot both pass a limit only one fits under. If it raises, nothing
        is written.
        """
        now = self.clock.now()
        kept = {name: (image or {}).get(name) for name in IMAGE_COLUMNS}
        with self._conn() as db:
            if check is not None:
                self._settle_abandoned(db)  # a dead sender's start holds no limit
                check()
            db.execute(
                "INSERT INTO jobs (client_request_id, owner, payer, endpoint, state, status,"
                " request_json, resolution, duration, aspect_ratio, prompt, created_at, updated_at,"
                f" batch, folded, sender, {', '.join(kept)})"
                f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?{', ?' * len(kept)})",
                (
                    client_request_id,
                    owner,
                    payer or owner,
                    endpoint,
                    Status.SUBMITTING,
                    "",  # the provider has said nothing yet
                    json.dumps(dict(body), ensure_ascii=False, sort_keys=True),
                    body["resolution"],
                    int(body["duration"]),
                    body.get("aspect_ratio") or aspect_ratio or "",
                    body["prompt"],
                    now,
                    now,
                    batch,
                    search_text(body["prompt"], None),
                    this_process(),
                    *kept.values(),
                ),
            )
        return self.get(client_request_id)

    def settle_abandoned(self) -> list[str]:
        """Mark ``unconfirmed`` every start left ``submitting`` by a process that has ended
        (a kill or a crash mid-POST): its answer will never be written, and the API may have
        made the video. Returns their client request ids. Done when a ledger is opened and
        before every start a limit checks, so such a row neither stays "sending" after a
        restart nor counts as a start in flight for the rest of the day."""
        waiting = "SELECT 1 FROM jobs WHERE state = ? LIMIT 1"
        if self._connection().execute(waiting, (Status.SUBMITTING,)).fetchone() is None:
            return []
        with self._conn() as db:
            return self._settle_abandoned(db)

    def _settle_abandoned(self, db: sqlite3.Connection) -> list[str]:
        rows = db.execute(
            "SELECT client_request_id, sender, created_at FROM jobs WHERE state = ?",
            (Status.SUBMITTING,),
        ).fetchall()
        if not rows:
            return []
        now, journaled = self.clock.now(), self._journaled()
        gone: dict[str | None, bool | None] = {}
        settled = []
        for crid, sender, created_at in rows:
            if sender not in gone:
                gone[sender] = is_gone(sender)
            # a sender no one can ask about (another machine, an older ledger's row) is taken
            # for gone once no POST of its could still be under way
            ended = gone[sender]
            if ended is None:
                ended = now - created_at > intervals.SUBMIT_ABANDONED
            if ended and crid not in journaled:
                settled.append(crid)
        for crid in settled:
            db.execute(
                "UPDATE jobs SET state = ?, error = ?, updated_at = ?"
                " WHERE client_request_id = ? AND state = ?",
                (Status.UNCONFIRMED, ABANDONED, now, crid, Status.SUBMITTING),
            )
        if settled:
            log.warning("%d start(s) whose sender ended mid-POST are now unconfirmed", len(settled))
        return settled

    def _journaled(self) -> set[str]:
        """Client request ids the journal holds an id for (their rows are recovered from it)."""
        try:
            lines = self.journal_path.read_text("utf-8").splitlines()
        except OSError:
            return set()
        found = set()
        for line in lines:
            try:
                found.add(json.loads(line)["client_request_id"])
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def heard(self, generation_id: str, status: str, credits_used: float | None = None) -> None:
        """Record what the API said of a running job when asked once (``Job.reload``): its
        provider status (an answer that named none keeps the last), and its credits when it gave
        them, as one more poll. A job that is
        over keeps what it ended with."""
        with self._conn() as db:
            db.execute(
                "UPDATE jobs SET status = coalesce(nullif(?, ''), status),"
                " credits_used = coalesce(?, credits_used),"
                " polls = polls + 1, updated_at = ? WHERE generation_id = ? AND state = ?",
                (status, credits_used, self.clock.now(), generation_id, Status.RUNNING),
            )

    def update(self, job: str, *, polls_added: int = 0, **changes: Any) -> JobRecord:
        """Change some columns of a job named by generation id or client request id, and count
        ``polls_added`` more GETs for it, in one transaction; returns the job as it is now."""
        self.write(job, polls_added=polls_added, **changes)
        return self.get(job)

    def write(self, job: str, *, polls_added: int = 0, **changes: Any) -> None:
        """``update`` without reading the job back (the poll loop's writes need nothing back).

        Raises ``KeyError`` when no job has that name, and ``lifecycle.IllegalMove`` (writing
        nothing) for a new ``state`` the job's lifecycle does not lead to from the state it is
        in, read in the same transaction."""
        bad = set(changes) - _UPDATABLE
        if bad:
            raise ValueError(f"not ledger columns: {sorted(bad)}")
        if "state" in changes and changes["state"] not in tuple(Status):
            raise ValueError(f"unknown state {changes['state']!r}")
        if "status" in changes and changes["status"] is None:
            changes["status"] = ""  # the provider's word is not known: the column holds ""
        changes["updated_at"] = self.clock.now()
        assignments = ", ".join(f"{name} = ?" for name in changes)
        with self._conn() as db:
            if "state" in changes:
                row = db.execute(
                    "SELECT state FROM jobs WHERE client_request_id = ? OR generation_id = ?",
                    (job, job),
                ).fetchone()
                if row is None:
                    raise KeyError(job)
                changes["state"] = check_move(job, row["state"], changes["state"]).value
            cursor = db.execute(
                f"UPDATE jobs SET {assignments}, polls = polls + ?"
                " WHERE client_request_id = ? OR generation_id = ?",
                (*changes.values(), polls_added, job, job),
            )
            if cursor.rowcount == 0:
                raise KeyError(job)
            if "prompt" in changes:
                self._refold(db, job)

    def adopt(
        self, generation_id: str, *, owner: str, endpoint: str, payer: str | None = None
    ) -> JobRecord:
        """Record a generation known by its id alone, to watch it (its request is unknown)."""
        now = self.clock.now()
        with self._conn() as db:
            db.execute(
                "INSERT OR IGNORE INTO jobs (client_request_id, generation_id, owner, payer,"
                " endpoint, state, status, request_json, resolution, duration, aspect_ratio,"
                " prompt, created_at, submitted_at, updated_at, folded)"
                " VALUES (?, ?, ?, ?, ?, ?, '', '{}', '', 0, '', '', ?, ?, ?, ?)",
                (ADOPTED_PREFIX + generation_id, generation_id, owner, payer or owner, endpoint,
                 Status.RUNNING, now, now, now, search_text("", None)),
            )  # fmt: skip
        return self.get(generation_id)

    # --- the journal: generation ids the ledger could not take ---------------------------------

    @property
    def journal_path(self) -> Path:
        """Where generation ids go when the ledger cannot be written."""
        return self.path.with_name(self.path.name + JOURNAL_SUFFIX)

    def write_journal(self, entry: Mapping[str, Any]) -> Path:
        """Append ``entry`` (one JSON line) to the journal and flush it to disk."""
        with open(self.journal_path, "a", encoding="utf-8") as journal:
            journal.write(json.dumps(dict(entry), ensure_ascii=False, sort_keys=True) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
        return self.journal_path

    def recover_journal(self) -> list[str]:
        """Write the journal's generation ids into the ledger; returns the ids written.

        The journal is moved aside first, so that a process appending to it meanwhile starts a
        new one; entries that still cannot be written go back into the journal.
        """
        if not self.journal_path.exists():
            return []
        taken = self.journal_path.with_name(f"{self.journal_path.name}.{os.getpid()}.taken")
        try:
            os.replace(self.journal_path, taken)
        except FileNotFoundError:
            return []  # another process took it
        recovered, left = [], []
        for line in taken.read_text("utf-8").splitlines():
            try:
                entry = json.loads(line)
                self._recover(entry)
                recovered.append(entry["generation_id"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn line from a crash mid-write: nothing to recover from it
            except sqlite3.Error:
                left.append(entry)
        for entry in left:
            self.write_journal(entry)
        taken.unlink(missing_ok=True)
        return recovered

    def _recover(self, entry: Mapping[str, Any]) -> None:
        crid, gid = entry["client_request_id"], entry["generation_id"]
        record = self.find(crid)
        if record is None:
            self.record(
                client_request_id=crid,
                owner=entry["owner"],
                payer=entry.get("payer"),
                endpoint=entry["endpoint"],
                body=entry["body"],
                batch=entry.get("batch"),
            )
        elif record.generation_id is not None:
            return  # the ledger took it after all
        self.update(
            crid,
            generation_id=gid,
            state=Status.RUNNING,
            status=entry.get("status") or None,
            submitted_at=entry.get("submitted_at"),
            credits_used=entry.get("credits_used"),
            error=None,
        )

    # --- what the owner keeps: a star and a note ----------------------------------------------

    def set_starred(self, job: str, owner: str, starred: bool) -> JobRecord:
        """Star (or unstar) ``owner``'s job; ``KeyError`` if unknown or not ``owner``'s."""
        return self._keep(job, owner, starred=1 if starred else 0)

    def set_note(self, job: str, owner: str, note: str) -> JobRecord:
        """Keep a note with ``owner``'s job (empty removes it); ``KeyError`` as for a star.

        At most ``NOTE_MAX_CHARS`` characters, else ``ValidationError``.
        """
        if not isinstance(note, str):
            raise ValidationError(f"A note must be text, not {type(note).__name__}.", field="note")
        text = note.strip()
        if "\x00" in text:
            raise ValidationError("The note contains a NUL character; remove it.", field="note")
        if len(text) > NOTE_MAX_CHARS:
            raise ValidationError(
                f"The note is {len(text)} characters long; the limit is {NOTE_MAX_CHARS}.",
                field="note",
            )
        return self._keep(job, owner, note=text or None)

    def _keep(self, job: str, owner: str, **changes: Any) -> JobRecord:
        assignments = ", ".join(f"{name} = ?" for name in changes)
        with self._conn() as db:
            cursor = db.execute(
                f"UPDATE jobs SET {assignments}, updated_at = ?"
                " WHERE (client_request_id = ? OR generation_id = ?) AND owner = ?",
                (*changes.values(), self.clock.now(), job, job, owner),
            )
            if cursor.rowcount == 0:
                raise KeyError(job)
            if "note" in changes:
                self._refold(db, job)
        return self.get(job)

    @staticmethod
    def _refold(db: sqlite3.Connection, job: str) -> None:
        """Write ``folded`` again from the job's prompt and note, as they are now."""
        db.execute(
            f"UPDATE jobs SET folded = {_FOLDED_SQL}"
            " WHERE client_request_id = ? OR generation_id = ?",
            (job, job),
        )

    # --- reading -------------------------------------------------------------------------------

    def get(self, job: str, *, owner: str | None = None) -> JobRecord:
        """A job by generation id or client request id; ``KeyError`` if unknown.

        With ``owner``, a job that is not ``owner``'s is unknown too.
        """
        row = (
            self._connection()
            .execute(
                "SELECT * FROM jobs WHERE (generation_id = ? OR client_request_id = ?)"
                " AND (? IS NULL OR owner = ?)",
                (job, job, owner, owner),
            )
            .fetchone()
        )
        if row is None:
            raise KeyError(job)
        return _record(row)

    def find(self, job: str, *, owner: str | None = None) -> JobRecord | None:
        """Like :meth:`get`, but ``None`` if unknown."""
        try:
            return self.get(job, owner=owner)
        except KeyError:
            return None

    def history(
        self, owner: str | None = None, *, limit: int = 100, states: tuple[str, ...] = ()
    ) -> list[JobRecord]:
        """Jobs, newest first; one owner's if given, some states only if given."""
        where, args = [], []
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if states:
            where.append(f"state IN ({', '.join('?' for _ in states)})")
            args.extend(states)
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        rows = self._connection().execute(sql, (*args, limit)).fetchall()
        return [_record(row) for row in rows]

    def changes(self, owner: str) -> tuple[object, ...]:
        """What one owner's history view is drawn from, in one read of the owner's index: how
        many jobs there are, how many are still sending and still running, and the newest start:
        every column is in ``HISTORY_INDEX``, so the read never touches the table. A view need
        not be drawn again while this stays the same (a poll alone does not change it; a new job,
        a new id or an end does). Stars and notes are left out: the page that keeps them draws
        itself again, and a second redraw racing the person's next filter left the pager's
        buttons of the one before."""
        row = (
            self._connection()
            .execute(
                "SELECT COUNT(*), SUM(state = ?), SUM(state = ?), MAX(created_at)"
                " FROM jobs WHERE owner = ?",
                (Status.SUBMITTING, Status.RUNNING, owner),
            )
            .fetchone()
        )
        return tuple(row)

    def search(
        self,
        owner: str,
        *,
        text: str | None = None,
        states: tuple[str, ...] = (),
        starred: bool | None = None,
        resolution: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobRecord]:
        """One owner's jobs, newest first, filtered in SQL (see ``history.HistoryQuery``), from
        the ``offset``-th on.

        ``text`` is looked for in the prompt and the note, ignoring case (Unicode-aware);
        ``since`` and ``until`` bound ``created_at`` (epoch seconds; ``until`` excluded).
        """
        where, args = _history_filter(owner, text, states, starred, resolution, since, until)
        rows = self._connection().execute(search_sql(where), (*args, limit, offset)).fetchall()
        return [_record(row) for row in rows]

    def count(
        self,
        owner: str,
        *,
        text: str | None = None,
        states: tuple[str, ...] = (),
        starred: bool | None = None,
        resolution: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> int:
        """How many jobs :meth:`search` finds with the same filters and no limit."""
        where, args = _history_filter(owner, text, states, starred, resolution, since, until)
        return self._connection().execute(count_sql(where), args).fetchone()[0]

    def created_since(
        self, owner: str | None, since: float, *, payer: str | None = None
    ) -> list[JobRecord]:
        """Jobs created at or after ``since`` that the API did not refuse: ``owner``'s, or (with
        ``payer``) those that key pays for, whoever owns them; both given, both must hold.

        The rows a day's spending is summed over (``budget.spent_since``); read inside a
        ``record(check=...)`` they are those of the write-locked transaction.
        """
        if owner is None and payer is None:
            raise ValueError("created_since needs an owner or a payer")
        rows = (
            self._connection()
            .execute(
                "SELECT * FROM jobs WHERE created_at >= ? AND state != ?"
                " AND (? IS NULL OR owner = ?) AND (? IS NULL OR payer = ?)",
                (since, Status.REJECTED, owner, owner, payer, payer),
            )
            .fetchall()
        )
        return [_record(row) for row in rows]

    def highest_costs(
        self, excluding_endpoint: str | None = None
    ) -> list[tuple[str, int, str, float | None, float | None]]:
        """For every shape the API has priced here (on any endpoint but ``excluding_endpoint``):
        (resolution, duration, aspect ratio, the most credits, the most dollars) a job of it
        cost (``pricing.PricesSeen``)."""
        rows = (
            self._connection()
            .execute(
                "SELECT resolution, duration, aspect_ratio, MAX(credits_used) AS credits,"
                " MAX(usd_spent) AS usd FROM jobs"
                " WHERE (credits_used IS NOT NULL OR usd_spent IS NOT NULL)"
                " AND (? IS NULL OR endpoint != ?)"
                " GROUP BY resolution, duration, aspect_ratio",
                (excluding_endpoint, excluding_endpoint),
            )
            .fetchall()
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def unfinished(
        self, owner: str | None = None, endpoint: str | None = None, *, payer: str | None = None
    ) -> list[JobRecord]:
        """Jobs with an id and no outcome yet: what a restarted process must resume.

        Only one owner's, one endpoint's, or those one key pays for, when given.
        """
        jobs = self.history(owner, limit=10_000, states=(Status.RUNNING,))
        return [
            j
            for j in jobs
            if (endpoint is None or j.endpoint == endpoint)
            and (payer is None or j.paid_by == payer)
        ]

    def expected_seconds(
        self, resolution: str, duration: int, endpoint: str | None = None, *, last: int = 50
    ) -> list[float]:
        """How long recent finished jobs of this shape took (on one endpoint, if given)."""
        rows = (
            self._connection()
            .execute(
                "SELECT finished_at - submitted_at AS took FROM jobs"
                " WHERE resolution = ? AND duration = ? AND state IN (?, ?)"
                " AND submitted_at IS NOT NULL AND finished_at IS NOT NULL"
                " AND (? IS NULL OR endpoint = ?)"
                " ORDER BY finished_at DESC LIMIT ?",
                (resolution, duration, Status.DONE, Status.RUNNING, endpoint, endpoint, last),
            )
            .fetchall()
        )
        return [row["took"] for row in rows if row["took"] and row["took"] > 0]

    def typical_credits(
        self, resolution: str, duration: int, aspect_ratio: str | None = None
    ) -> float | None:
        """The median credits of recent jobs of this shape, to quote before a batch."""
        typical = self.typical_cost(resolution, duration, aspect_ratio)
        return typical[0] if typical else None

    def typical_cost(
        self, resolution: str, duration: int, aspect_ratio: str | None = None
    ) -> tuple[float, float | None] | None:
        """(median credits, median dollars or None) of the last 50 jobs of this shape that
        reported credits; dollars only from the jobs whose answer gave them. None if none did."""
        rows = (
            self._connection()
            .execute(
                "SELECT credits_used, usd_spent FROM jobs WHERE resolution = ? AND duration = ?"
                " AND (? IS NULL OR aspect_ratio = ?)"
                " AND credits_used IS NOT NULL ORDER BY created_at DESC LIMIT 50",
                (resolution, duration, aspect_ratio, aspect_ratio),
            )
            .fetchall()
        )
        if not rows:
            return None
        dollars = [row["usd_spent"] for row in rows if row["usd_spent"] is not None]
        return median(row["credits_used"] for row in rows), median(dollars) if dollars else None

    def finished_timings(self, endpoint: str | None = None, *, last: int = 50) -> list[JobTiming]:
        """How long this endpoint's recent finished jobs took, of every shape, newest first.

        Read at every watch's start, so it walks the ``finished_at`` index from the newest and
        stops at ``last``: the same cost with 3,000 jobs as with 50 (``+state`` keeps SQLite
        from choosing the state index, which meant sorting every finished job).
        """
        rows = (
            self._connection()
            .execute(RECENT_TIMINGS, (Status.DONE, Status.RUNNING, endpoint, endpoint, last))
            .fetchall()
        )
        return [
            JobTiming(row["resolution"], row["aspect_ratio"], row["duration"], row["took"])
            for row in rows
            if row["took"] and row["took"] > 0
        ]


class Recorder:
    """What one watch of a generation writes to the ledger, and how.

    The poll loop tells it what it sees; the recorder writes as few transactions as it can (a
    poll's GET is counted, and a change is kept with ``later``, until the next ``write``). When
    the ledger cannot take a write (locked, broken), the changes wait for the next write that
    can be made, and the watching goes on. An id the ledger could not take when it came (in its
    journal, see :meth:`Ledger.recover_journal`) is written from there once it takes writes
    again. A move another process has made already (it ended the job) stands. With no ledger,
    nothing is written.
    """

    def __init__(self, ledger: Ledger | None, generation_id: str) -> None:
        self.ledger = ledger
        self.generation_id = generation_id
        #: GETs made since the ledger last counted them.
        self._polls = 0
        #: Changes seen but not written yet: they go with the next write.
        self._unsaved: dict[str, object] = {}
        #: Whether the journal has been read back for this id already.
        self._healed = False

    def count_poll(self) -> None:
        """One more GET, counted with the next write."""
        self._polls += 1

    def later(self, **changes: object) -> None:
        """Keep ``changes`` to be written with the next write (the job's end, which comes next)."""
        self._unsaved.update(changes)

    def write(self, **changes: object) -> None:
        """Write ``changes``, with what waited and the polls counted, in one transaction."""
        if self.ledger is None:
            return
        gid = self.generation_id
        try:
            self.ledger.write(gid, polls_added=self._polls, **{**self._unsaved, **changes})
        except KeyError:
            # a new id the ledger could not take when it came is in its journal: once the ledger
            # takes writes again, write it from there (else: a job this ledger never saw)
            journal = self.ledger.journal_path
            if not self._healed and journal.exists() and gid in self.ledger.recover_journal():
                self._healed = True
                self.write(**changes)
            return
        except sqlite3.Error as exc:  # the ledger is locked or broken: the watching goes on
            self._unsaved.update(changes)  # to be written with the next write that can be
            log.warning("could not write generation %s to the ledger (%s)", gid, exc)
            return
        except IllegalMove as exc:  # another process has ended the job already: its word stands
            log.warning("the ledger kept generation %s as it was: %s", gid, exc)
        self._polls = 0
        self._unsaved = {}


#: The query behind ``Ledger.finished_timings`` (its plan is tested: see there).
RECENT_TIMINGS = (
    "SELECT resolution, aspect_ratio, duration, finished_at - submitted_at AS took"
    " FROM jobs WHERE +state IN (?, ?)"
    " AND submitted_at IS NOT NULL AND finished_at IS NOT NULL"
    " AND (? IS NULL OR endpoint = ?)"
    " ORDER BY finished_at DESC, rowid DESC LIMIT ?"
)


def search_text(prompt: str, note: str | None) -> str:
    """What a history's text filter looks in (the ``folded`` column): the prompt and the note,
    casefolded, on two lines; kept in the row so that a search reads the index alone (a function
    called per row, or the row itself, cost ten times as much on 10,000 jobs)."""
    return f"{prompt.casefold()}\n{(note or '').casefold()}"


def _history_filter(
    owner: str,
    text: str | None,
    states: tuple[str, ...],
    starred: bool | None,
    resolution: str | None,
    since: float | None,
    until: float | None,
) -> tuple[str, list[Any]]:
    """The WHERE clause (and its arguments) of ``Ledger.search`` and ``Ledger.count``: only
    columns of ``HISTORY_INDEX``."""
    where, args = ["owner = ?"], [owner]
    if text:
        where.append("instr(folded, ?) > 0")
        args.append(text.casefold())
    if states:
        where.append(f"state IN ({', '.join('?' for _ in states)})")
        args.extend(states)
    if starred is not None:
        where.append("starred = ?")
        args.append(1 if starred else 0)
    if resolution is not None:
        where.append("resolution = ?")
        args.append(resolution)
    if since is not None:
        where.append("created_at >= ?")
        args.append(since)
    if until is not None:
        where.append("created_at < ?")
        args.append(until)
    return " AND ".join(where), args


def search_sql(where: str) -> str:
    """``Ledger.search``'s query (its plan is tested): the page's row ids from the history index
    alone, then those rows only; its last two arguments are the limit and the offset."""
    return (
        f"SELECT * FROM jobs WHERE rowid IN (SELECT rowid FROM jobs WHERE {where}"
        " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?)"
        " ORDER BY created_at DESC, rowid DESC"
    )


def count_sql(where: str) -> str:
    """``Ledger.count``'s query (its plan is tested)."""
    return f"SELECT count(*) FROM jobs WHERE {where}"


def _record(row: sqlite3.Row) -> JobRecord:
    values = {name: row[name] for name in _COLUMNS}
    values["starred"] = bool(values["starred"])
    values["state"] = Status(values["state"])
    values["status"] = values["status"] or None
    return JobRecord(**values)


def _casefold(text: str | None) -> str | None:
    return text.casefold() if isinstance(text, str) else None


def _use_wal(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it stays so). SQLite refuses the switch at once, busy timeout or
    not, while another connection makes it: connections opened together on a new ledger (eight
    threads, in a test) then failed with "database is locked". The other's switch is as good."""
    if db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    try:
        db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            raise
