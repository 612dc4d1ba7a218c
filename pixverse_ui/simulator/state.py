"""Jobs: what a generation is (a frozen value), how long it takes, what it costs, where it lives.

What a job costs comes from ``pixverse_ui.pricing`` (``credits_for``, ``usd_for``): the library
estimates with the same table the simulator charges by.

A job's status is not stored: it follows from the clock (``queued`` until ``queued_until``,
``generating`` until ``done_at``, then success or failure), so a job keeps progressing across a
simulator restart when its times are wall-clock times.
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .. import params

#: Share of the expected time a job spends queued (the rest is generating).
QUEUE_SHARE = 0.15

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"


def new_id() -> str:
    """A 21-character id like the provider's (``FxkOMGP_IRjjNHfzH3LTV``); never reused."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(21))


def draw_timing(
    rng: random.Random, body: Mapping[str, Any], *, sigma: float, speed: float
) -> tuple[float, float]:
    """(queued seconds, generating seconds): a lognormal mix around ``params.expected_seconds``.

    The queue part varies more than the generating part, as queues do.
    """
    _, resolution = _shape(body)
    expected = params.expected_seconds(
        resolution, int(body.get("duration") or params.DEFAULT_DURATION)
    )
    queued = expected * QUEUE_SHARE * rng.lognormvariate(-2 * sigma**2, 2 * sigma)
    generating = expected * (1 - QUEUE_SHARE) * rng.lognormvariate(-(sigma**2) / 2, sigma)
    return queued / speed, generating / speed


def _shape(body: Mapping[str, Any]) -> tuple[str, str]:
    return (
        body.get("aspect_ratio") or params.DEFAULT_ASPECT_RATIO,
        body.get("resolution") or params.DEFAULT_RESOLUTION,
    )


@dataclass(frozen=True)
class Job:
    """One generation. ``fail_shape`` set means the job ends in failure, with that error shape."""

    id: str
    body: dict[str, Any]
    client_request_id: str | None
    created_at: float
    queued_until: float
    done_at: float
    credits: int
    fail_shape: str | None = None
    #: What the failure says, when it is not the simulator's stock sentence.
    error_message: str | None = None

    def phase(self, now: float) -> str:
        """``queued``, ``generating``, ``succeeded`` or ``failed`` at time ``now``."""
        if now < self.queued_until:
            return "queued"
        if now < self.done_at:
            return "generating"
        return "failed" if self.fail_shape else "succeeded"

    def failing(self, shape: str) -> Job:
        """This job, set to end in failure."""
        return replace(self, fail_shape=shape)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Job:
        return cls(**json.loads(text))


class JobStore:
    """The jobs, in memory and (with ``path``) in an SQLite file that survives restarts."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            with self._db:
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, "
                    "created_at REAL NOT NULL, data TEXT NOT NULL)"
                )
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
            for (data,) in self._db.execute("SELECT data FROM jobs ORDER BY created_at"):
                job = Job.from_json(data)
                self._jobs[job.id] = job

    def put(self, job: Job) -> Job:
        """Add or replace a job (written through to the file)."""
        with self._lock:
            self._jobs[job.id] = job
            if self._db is not None:
                with self._db:
                    self._db.execute(
                        "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)",
                        (job.id, job.created_at, job.to_json()),
                    )
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        """Every job, oldest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.created_at)

    def secret(self) -> bytes:
        """The URL-signing key: kept in the file, so URLs handed out survive a restart."""
        with self._lock:
            if self._db is None:
                return secrets.token_bytes(32)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'url_secret'").fetchone()
            if row is None:
                row = (secrets.token_hex(32),)
                with self._db:
                    self._db.execute("INSERT INTO meta VALUES ('url_secret', ?)", row)
            return bytes.fromhex(row[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
