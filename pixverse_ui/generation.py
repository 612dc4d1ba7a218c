"""A whole generation: validate, record, submit, watch, download.

``submit`` returns a handle (a ``jobs.Job``) once the API has given the job an id, and ``job``
re-attaches to any generation by id; ``generate`` and ``stream`` follow one to its end, and
``resume`` finishes what a killed process left. Each asks the service every face asks
(``access.App.local``: whose it is, what it may spend) and is made or followed by its
``jobs.Jobs`` (its parts the defaults unless given), so a generation id is watched once however
many ask for it.

The generation id is never lost: the ledger row is written before the POST, the id the moment the
POST returns (retried a few times), and if the ledger still cannot take it, the id goes to a
journal beside the ledger that ``resume`` reads back, and the person is told the id either way.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import errors
from .access import App, Caller
from .budget import UNLIMITED, Budget
from .client import Client
from .jobs import Job, Jobs, checked_id, default_jobs
from .outcome import Generation as Generation
from .params import Params, validate
from .polling import DEFAULT_TIMEOUT, Update
from .store import Ledger
from .submission import create_job as create_job

log = logging.getLogger(__name__)


def submit(
    prompt: Any = None,
    *,
    image: Any = None,
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

    The handle (``.id``, ``.status``, ``.updates()``, ``.wait()``, see ``jobs.Job``) follows a
    watcher that runs in the background until the video is on disk. Bad input raises
    ``ValidationError`` before anything is recorded or sent, and so does a start over ``budget``
    (``BudgetError``, see ``budget.py``); a refusal by the API raises here.

    ``image``: start from an image (image-to-video): a path, an http(s) URL, a ``PIL.Image``
    or ``images.Frame(video, "first"|"last")`` (see ``images.py``); no ``aspect_ratio`` with it.
    """
    params = params or validate(prompt, image=image, **options)
    app, who = _local(client, ledger, download_dir, Budget.or_env(budget))
    service = app.jobs_for(who.client, app.budget_for(who), timeout=timeout)
    return service.submit(
        params, owner=owner or who.owner, batch=batch, client_request_id=client_request_id
    )


def _local(
    client: Client | None,
    ledger: Ledger | None,
    download_dir: str | Path | None,
    budget: Budget,
) -> tuple[App, Caller]:
    """The service every face asks (``access.App.local``), over the parts given and the
    defaults for the rest, and who is asking with that client: whose a job is, what it may
    spend, whether its money is pretend."""
    parts = default_jobs(client=client, ledger=ledger, folder=download_dir)
    app = App.local(parts.ledger, parts.folder, budget=budget)
    return app, app.caller_for(parts.client)


def _following(
    client: Client | None,
    ledger: Ledger | None,
    download_dir: str | Path | None,
    timeout: float,
) -> Jobs:
    """The service's jobs for following what is already started (nothing is spent, so no
    budget applies and none is read)."""
    app, who = _local(client, ledger, download_dir, UNLIMITED)
    return app.jobs_for(who.client, timeout=timeout)


def job(
    generation_id: str,
    *,
    client: Client | None = None,
    ledger: Ledger | None = None,
    download_dir: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Job:
    """The handle of any generation by id, as fal's ``from_request_id`` and replicate's
    ``predictions.get`` give one: the one watched in this process, if any. Nothing is sent,
    recorded or watched until it is followed (``wait``, ``updates``); then a generation this
    ledger has never seen (started elsewhere) is asked of the API first, recorded as this key's
    and watched, and an id the API does not know raises, with nothing recorded.
    """
    generation_id = checked_id(generation_id)
    return _following(client, ledger, download_dir, timeout).get(generation_id)


async def asubmit(prompt: Any = None, **kwargs: Any) -> Job:
    """:func:`submit` for event loops (the POST runs in a worker thread); ``await
    job.async_wait()`` then follows it without holding a thread."""
    return await asyncio.to_thread(submit, prompt, **kwargs)


def watch(
    generation_id: str,
    *,
    client: Client | None = None,
    ledger: Ledger | None = None,
    download_dir: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stop: threading.Event | None = None,
) -> Iterator[Update]:
    """Every ``Update`` of a generation by id, to its end: its handle's ``updates`` (the one
    watcher of it in this process, see :func:`job`). With ``stop`` set, the following ends with
    a ``stopped`` update; the job goes on."""
    handle = job(
        generation_id, client=client, ledger=ledger, download_dir=download_dir, timeout=timeout
    )
    yield from handle.updates(stop=stop)


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
    image: Any = None,
    on_update: Callable[[Update], None] | None = None,
    client: Client | None = None,
    ledger: Ledger | None = None,
    **options: Any,
) -> Generation:
    """Make one video and return it (from ``image``, if given: see :func:`submit`).
    ``on_update`` sees every step; errors carry the job's ids."""
    handle = submit(prompt, image=image, client=client, ledger=ledger, **options)
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
    service = _following(client, ledger, download_dir, timeout)
    ledger = service.ledger
    ledger.recover_journal()
    if generation_id is not None:
        handles = [service.watch(generation_id)]
    else:
        unfinished = service.unfinished()
        handles = [service.watch(r.generation_id) for r in unfinished if r.generation_id]
    results = []
    for handle in handles:
        try:
            results.append(handle.wait(on_update=on_update))
        except errors.PixVerseError as exc:
            gid = handle.id
            try:
                ledger.update(gid, error=exc.user_message)  # kept with the job, in its result
            except (KeyError, sqlite3.Error):
                pass
            log.warning("resume %s: %s", gid, exc.user_message)
            results.append(replace(handle.outcome(), error=exc.user_message))
    return results
