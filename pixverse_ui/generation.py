"""A whole generation: validate, record, submit, watch, download.

``submit`` returns a handle (a ``jobs.Job``) once the API has given the job an id, and ``job``
re-attaches to any generation by id; ``generate`` and ``stream`` follow one to its end, and
``resume`` finishes what a killed process left. Every one of them goes through the process's
watchers, so a generation id is watched once however many ask for it.

Its parts live below the watchers: ``submission.create_job`` records, POSTs and keeps the id, and
``outcome.Generation`` is what a generation came to; both are importable from here too.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import errors
from .budget import Budget
from .client import Client
from .defaults import default_client, default_ledger, videos_dir
from .jobs import Job, watchers
from .outcome import Generation as Generation
from .params import Params, validate
from .polling import DEFAULT_TIMEOUT, Update
from .store import Ledger
from .submission import create_job as create_job

log = logging.getLogger(__name__)


def submit(
    prompt: Any = None,
    *,
    client: Client | None = None,
    ledger: Ledger | None = None,
    download_dir: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    batch: str | None = None,
    owner: str | None = None,
    client_request_id: str | None = None,
    params: Params | None = None,
    budget: Budget | None = None,
    **options: Any,
) -> Job:
    """Start one generation and return its handle once the API has given it an id.

    The handle (``.id``, ``.status``, ``.updates()``, ``.wait()``) follows a watcher that runs
    in the background until the video is on disk. Bad input raises ``ValidationError`` before
    anything is recorded or sent, and so does a start over ``budget`` (``BudgetError``, see
    ``budget.py``); a refusal by the API raises here.

    ``budget``: the daily limits the start meets. None (the default) means the environment's,
    ``PIXVERSE_UI_DAILY_BUDGET``, so every way in honours it; ``budget.UNLIMITED`` means none.
    """
    params = params or validate(prompt, **options)
    budget = Budget.or_env(budget)
    ledger = ledger or default_ledger()
    return watchers().submit(
        params,
        client or default_client(),
        ledger,
        download_dir or videos_dir(),
        timeout=timeout,
        owner=owner,
        batch=batch,
        client_request_id=client_request_id,
        budget=budget,
    )


def job(
    generation_id: str,
    *,
    client: Client | None = None,
    ledger: Ledger | None = None,
    download_dir: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Job:
    """The handle of any generation by id: the one watcher of it in this process.

    A generation this ledger has never seen (started elsewhere) is asked of the API first, then
    recorded as this key's and watched; an id the API does not know raises, and nothing is
    recorded.
    """
    if not isinstance(generation_id, str) or not generation_id.strip():
        raise errors.ValidationError("A generation id is needed.", field="generation_id")
    generation_id = generation_id.strip()
    client = client or default_client()
    ledger = ledger or default_ledger()
    record = ledger.find(generation_id)
    if record is not None and record.generation_id is None:
        raise errors.SubmissionUnconfirmedError(
            f"This job never got a generation id (it is {record.state})",
            client_request_id=record.client_request_id,
        )
    if record is None:
        client.retrieve(generation_id)  # raises if the API does not know it
        owner = ledger.owner_of(client.owner_key)
        ledger.adopt(generation_id, owner=owner, endpoint=client.label)
    assert record is None or record.generation_id is not None
    gid = record.generation_id if record is not None else generation_id
    return watchers().attach(
        gid,
        client,
        ledger,
        download_dir or videos_dir(),
        timeout=timeout,  # type: ignore[arg-type]
    )


def stream(
    prompt: Any = None,
    *,
    client: Client | None = None,
    ledger: Ledger | None = None,
    download_dir: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stop: threading.Event | None = None,
    batch: str | None = None,
    params: Params | None = None,
    owner: str | None = None,
    budget: Budget | None = None,
    **options: Any,
) -> Iterator[Update]:
    """Validate, submit and follow one generation, yielding every ``Update``.

    Bad input raises ``ValidationError`` before anything is recorded or sent. With ``stop`` set,
    the following ends with a ``stopped`` update; the generation goes on in the background.
    """
    handle = submit(
        prompt,
        client=client,
        ledger=ledger,
        download_dir=download_dir,
        timeout=timeout,
        batch=batch,
        params=params,
        owner=owner,
        budget=budget,
        **options,
    )
    yield from handle.updates(stop=stop)


def generate(
    prompt: Any = None,
    *,
    on_update: Callable[[Update], None] | None = None,
    client: Client | None = None,
    ledger: Ledger | None = None,
    **options: Any,
) -> Generation:
    """Make one video and return it. ``on_update`` sees every step; errors carry the job's ids.

    ``options`` are :func:`submit`'s (the daily budget of the environment applies unless
    ``budget`` says otherwise)."""
    handle = submit(prompt, client=client, ledger=ledger, **options)
    return handle.wait(on_update=on_update)


def resume(
    generation_id: str | None = None,
    *,
    client: Client | None = None,
    ledger: Ledger | None = None,
    download_dir: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_update: Callable[[Update], None] | None = None,
) -> list[Generation]:
    """Watch unfinished jobs to the end: one by id, or every one this key left on this endpoint.

    An id this ledger has never seen is adopted (see :func:`job`). Ids the ledger could not take
    when they arrived are read back from its journal first. A job that fails again is reported
    in its ``Generation`` (``error``), not raised, so one bad job does not stop the others.
    """
    client = client or default_client()
    ledger = ledger or default_ledger()
    ledger.recover_journal()
    folder = download_dir or videos_dir()
    if generation_id is not None:
        handles = [
            job(generation_id, client=client, ledger=ledger, download_dir=folder, timeout=timeout)
        ]
    else:
        payer = ledger.owner_of(client.owner_key)
        handles = [
            job(r.generation_id, client=client, ledger=ledger, download_dir=folder, timeout=timeout)
            for r in ledger.unfinished(endpoint=client.label, payer=payer)
            if r.generation_id
        ]
    results = []
    for handle in handles:
        try:
            results.append(handle.wait(on_update=on_update))
        except errors.PixVerseError as exc:
            gid = handle.generation_id
            try:
                ledger.update(gid, error=exc.user_message)  # kept with the job, in its result
            except (KeyError, sqlite3.Error):
                pass
            log.warning("resume %s: %s", gid, exc.user_message)
            results.append(replace(handle.outcome(), error=exc.user_message))
    return results
