"""A whole generation: validate, record, submit, watch, download.

``submit`` returns a handle (a ``jobs.Job``) once the API has given the job an id, and ``job``
re-attaches to any generation by id; ``generate`` and ``stream`` follow one to its end, and
``resume`` finishes what a killed process left. Every one of them goes through the process's
watchers, so a generation id is watched once however many ask for it.

The generation id is never lost: the ledger row is written before the POST, the id the moment the
POST returns (retried a few times), and if the ledger still cannot take it, the id goes to a
journal beside the ledger that ``resume`` reads back, and the person is told the id either way.
"""

from __future__ import annotations

import html
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import errors
from .budget import Budget
from .client import Client
from .defaults import default_client, default_ledger, videos_dir
from .params import Params, validate
from .polling import DEFAULT_TIMEOUT, Update
from .store import REJECTED, RUNNING, UNCONFIRMED, JobRecord, Ledger

if TYPE_CHECKING:  # pragma: no cover
    from .jobs import Job

#: Tries at writing a new generation id into the ledger before it goes to the journal.
ID_WRITE_ATTEMPTS = 3
ID_WRITE_BACKOFF = 0.2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generation:
    """The outcome of a generation, as the ledger holds it."""

    id: str | None
    client_request_id: str
    state: str
    status: str
    #: None for a generation known by its id alone (adopted by ``job(id)`` or ``resume(id)``).
    params: Params | None
    video_path: Path | None
    video_url: str | None
    credits_used: float | None
    seconds: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The video is on disk."""
        return self.video_path is not None

    @classmethod
    def from_record(cls, record: JobRecord) -> Generation:
        """Build one from a ledger row."""
        body = record.request
        params = None
        if not record.adopted:
            params = validate(body.pop("prompt"), let_server_decide=True, **body)
        return cls(
            id=record.generation_id,
            client_request_id=record.client_request_id,
            state=record.state,
            status=record.status,
            params=params,
            video_path=Path(record.video_path) if record.video_path else None,
            video_url=record.video_url,
            credits_used=record.credits_used,
            seconds=record.render_seconds,
            error=record.error,
        )

    def _repr_html_(self) -> str:
        """Jupyter: a playable video with its parameters and credits."""
        prompt = html.escape(self.params.prompt if self.params else "(request unknown here)")
        facts = html.escape(self.params.summary() if self.params else "")
        credits = f"{self.credits_used:,.0f} credits" if self.credits_used is not None else ""
        took = f"{self.seconds:.0f} s" if self.seconds is not None else ""
        meta = " · ".join(x for x in (facts, credits, took, html.escape(self.status)) if x)
        if self.video_path and self.video_path.exists():
            from base64 import b64encode

            data = b64encode(self.video_path.read_bytes()).decode()
            w, h = self.params.size if self.params else (640, 360)
            scale = min(1.0, 640 / w)
            media = (
                f'<video controls loop width="{int(w * scale)}" height="{int(h * scale)}" '
                f'src="data:video/mp4;base64,{data}"></video>'
            )
        else:
            media = f"<p><b>No video yet</b> ({html.escape(self.error or self.state)})</p>"
        ident = html.escape(self.id or self.client_request_id)
        return (
            f'<div class="pixverse-generation">{media}<p>“{prompt}”</p>'
            f"<p><small>{meta} · id {ident}</small></p></div>"
        )


def create_job(
    params: Params,
    *,
    client: Client,
    ledger: Ledger,
    batch: str | None = None,
    owner: str | None = None,
    client_request_id: str | None = None,
    claim: Callable[[str], None] | None = None,
    budget: Budget | None = None,
) -> JobRecord:
    """Record the job, POST it, record its id. The ledger row exists before anything is sent.

    ``owner`` is whose history shows the job (default: the client's key's). ``claim`` is called
    with the new generation id before the ledger marks the job running (the watchers register
    it there, so that nothing reading the ledger starts a second watcher). With a ``budget``, a
    start whose safe price would take the owner's spending today, or the paying key's, over its
    limit raises ``BudgetError``: nothing is recorded or sent.
    """
    crid = client_request_id or client.new_request_id()
    payer = ledger.owner_of(client.owner_key)
    owner = owner or payer
    check = None
    if budget is not None and budget.limited:

        def check() -> None:  # in the insert's transaction: what it reads cannot change
            budget.check(ledger, owner, budget.quote(params, ledger), payer=payer)

    ledger.record(
        client_request_id=crid,
        owner=owner,
        payer=payer,
        endpoint=client.label,
        body=params.to_body(),
        batch=batch,
        check=check,
    )
    try:
        state = client.create(params, client_request_id=crid)
    except errors.SubmissionUnconfirmedError as exc:
        ledger.update(crid, state=UNCONFIRMED, status=UNCONFIRMED, error=exc.user_message)
        raise
    except errors.PixVerseError as exc:
        exc.client_request_id = exc.client_request_id or crid
        ledger.update(crid, state=REJECTED, status=REJECTED, error=exc.user_message)
        raise
    except BaseException:  # Ctrl-C or a bug mid-POST: the request may have gone out
        ledger.update(
            crid,
            state=UNCONFIRMED,
            status=UNCONFIRMED,
            error="Interrupted while the create request was being sent.",
        )
        raise
    if claim is not None:
        claim(state.id)
    changes: dict[str, Any] = {
        "generation_id": state.id,
        "state": RUNNING,
        "status": state.status,
        "submitted_at": client.clock.now(),
        "credits_used": state.credits_used,
        "usd_spent": state.usd_spent,
    }
    return _keep_id(ledger, client, crid, changes)


def _keep_id(ledger: Ledger, client: Client, crid: str, changes: dict[str, Any]) -> JobRecord:
    """Write a new generation id into the ledger; failing that, into its journal.

    The record returned then carries, in ``error``, the sentence that says where the id is.
    """
    problem: sqlite3.Error | None = None
    for attempt in range(ID_WRITE_ATTEMPTS):
        try:
            return ledger.update(crid, **changes)
        except sqlite3.Error as exc:
            problem = exc
            client.clock.sleep(ID_WRITE_BACKOFF * 2**attempt)
    gid = changes["generation_id"]
    record = ledger.find(crid)
    entry = {"client_request_id": crid, **changes}
    if record is not None:
        entry.update(
            owner=record.owner, payer=record.paid_by, endpoint=record.endpoint,
            body=record.request, batch=record.batch,
        )  # fmt: skip
    try:
        where = f"it is kept in {ledger.write_journal(entry)}, which `pixverse-ui resume` reads"
    except OSError as exc:
        where = f"the journal could not be written either ({exc.strerror or exc}): note the id"
    note = f"The ledger could not record generation {gid} ({problem}); {where}."
    log.warning(note)
    if record is None:
        raise errors.PixVerseError(note, generation_id=gid, client_request_id=crid)
    return replace(record, **changes, error=note)


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
    from .jobs import watchers

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
    from .jobs import watchers

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
