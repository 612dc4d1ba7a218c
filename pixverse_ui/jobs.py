"""Generations that run in the background and outlive whoever is watching them.

A ``JobRunner`` runs each generation (submit, watch, download) in its own thread. Pages, notebooks
and batch runs *follow* a job; closing a tab or pressing Stop ends the following, never the job,
whose video still lands on disk and in the ledger.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import errors
from .client import Client
from .generation import stream
from .params import Params
from .polling import DEFAULT_TIMEOUT, Update, watch
from .store import Ledger

#: How often a follower looks for new updates (in-memory, so cheap).
FOLLOW_STEP = 0.1


@dataclass
class Job:
    """One background generation and everything it has reported so far."""

    params: Params | None
    owner: str
    batch: str | None = None
    updates: list[Update] = field(default_factory=list)
    error: errors.PixVerseError | None = None
    finished: bool = False
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def generation_id(self) -> str | None:
        """Known from the first update on."""
        return self.updates[0].generation_id if self.updates else None

    @property
    def last(self) -> Update | None:
        """The latest update, if any."""
        return self.updates[-1] if self.updates else None

    def _push(self, update: Update) -> None:
        with self._changed:
            self.updates.append(update)
            self._changed.notify_all()

    def _finish(self, error: errors.PixVerseError | None = None) -> None:
        with self._changed:
            self.error = error
            self.finished = True
            self._changed.notify_all()

    def follow(self, *, timeout: float | None = None) -> Iterator[Update]:
        """Every update, from the first, as it comes; raises the job's error at the end.

        ``timeout`` bounds the wait for each next update (``TimeoutError`` past it); the job's own
        deadline bounds the whole.
        """
        seen = 0
        while True:
            with self._changed:
                if not self._changed.wait_for(
                    lambda n=seen: len(self.updates) > n or self.finished, timeout=timeout
                ):
                    raise TimeoutError("no news from the job in time")
                fresh, finished, error = self.updates[seen:], self.finished, self.error
            seen += len(fresh)
            yield from fresh
            if finished and seen == len(self.updates):
                if error is not None:
                    raise error
                return

    async def afollow(
        self, step: float = FOLLOW_STEP, *, tick: float | None = None
    ) -> AsyncIterator[Update]:
        """``follow`` for event loops: no thread is held while waiting.

        With ``tick``, the last update is repeated every ``tick`` seconds of silence with its
        elapsed time and estimate moved on, so a page's clock keeps running between polls.
        """
        seen = 0
        received = last_said = time.monotonic()
        while True:
            fresh, finished, error = self.updates[seen:], self.finished, self.error
            seen += len(fresh)
            for update in fresh:
                yield update
            if fresh:
                received = last_said = time.monotonic()
            if finished and seen == len(self.updates):
                if error is not None:
                    raise error
                return
            if fresh:
                continue
            await asyncio.sleep(step)
            now = time.monotonic()
            if tick and self.updates and now - last_said >= tick:
                yield _aged(self.updates[-1], now - received)
                last_said = now


class JobRunner:
    """Starts generations in daemon threads and keeps the recent ones for followers."""

    def __init__(
        self,
        ledger: Ledger,
        download_dir: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        keep: int = 2000,
    ) -> None:
        self.ledger = ledger
        self.download_dir = Path(download_dir)
        self.timeout = timeout
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(
        self, params: Params, client: Client, *, batch: str | None = None, owner: str | None = None
    ) -> Job:
        """Submit and watch ``params`` in the background; returns at once.

        ``owner`` is whose history shows the job (default: the client's key's).
        """
        owner = owner or self.ledger.owner_of(client.owner_key)
        job = Job(params=params, owner=owner, batch=batch)

        def run() -> Iterator[Update]:
            return stream(
                params=params,
                client=client,
                ledger=self.ledger,
                download_dir=self.download_dir,
                timeout=self.timeout,
                batch=batch,
                owner=owner,
            )

        self._spawn(job, run)
        return job

    def resume(self, generation_id: str, client: Client) -> Job:
        """Watch an unfinished job from the ledger in the background (once per id at a time)."""
        with self._lock:
            running = self._jobs.get(generation_id)
        if running is not None and not running.finished:
            return running
        record = self.ledger.get(generation_id)
        job = Job(params=None, owner=record.owner, batch=record.batch)

        def run() -> Iterator[Update]:
            return watch(
                generation_id,
                client=client,
                ledger=self.ledger,
                download_dir=self.download_dir,
                timeout=self.timeout,
            )

        self._spawn(job, run, generation_id)
        return job

    def get(self, generation_id: str) -> Job | None:
        """A job this runner started or resumed, if it still remembers it."""
        with self._lock:
            return self._jobs.get(generation_id)

    def active(self) -> list[Job]:
        """Jobs still running."""
        with self._lock:
            return [job for job in self._jobs.values() if not job.finished]

    def _spawn(self, job: Job, run: Callable[[], Iterator[Update]], key: str | None = None) -> None:
        def target() -> None:
            try:
                for update in run():
                    if not self._jobs_has(job):
                        self._remember(update.generation_id, job)
                    job._push(update)
            except errors.PixVerseError as exc:
                job._finish(exc)
            except Exception as exc:  # noqa: BLE001 - a bug must still end the job with a sentence
                job._finish(errors.PixVerseError(f"Unexpected failure: {type(exc).__name__}"))
                raise
            else:
                job._finish()

        if key is not None:
            self._remember(key, job)
        threading.Thread(target=target, name="pixverse-job", daemon=True).start()

    def _jobs_has(self, job: Job) -> bool:
        return job.generation_id is not None and self._jobs.get(job.generation_id) is job

    def _remember(self, key: str, job: Job) -> None:
        with self._lock:
            self._jobs[key] = job
            if len(self._jobs) > self.keep:
                for old in [k for k, j in self._jobs.items() if j.finished][: self.keep // 10]:
                    del self._jobs[old]


def _aged(update: Update, seconds: float) -> Update:
    """The same news, ``seconds`` later."""
    eta = None if update.eta is None else update.eta - seconds
    return replace(update, elapsed=update.elapsed + seconds, eta=eta if eta and eta > 0 else None)
