"""The first step of every generation: record the job, POST it, keep its id.

The generation id is never lost: the ledger row is written before the POST, the id the moment the
POST returns (retried a few times), and if the ledger still cannot take it, the id goes to a
journal beside the ledger that ``resume`` reads back, and the person is told the id either way.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import errors, images, intervals
from .budget import Budget
from .client import Client, JobState
from .lifecycle import Status
from .params import Params
from .pricing import is_simulated
from .store import JobRecord, Ledger

#: Tries at writing a new generation id into the ledger before it goes to the journal.
ID_WRITE_ATTEMPTS = 3
ID_WRITE_BACKOFF = intervals.ID_WRITE_BACKOFF

log = logging.getLogger(__name__)


def create_job(
    params: Params,
    *,
    client: Client,
    ledger: Ledger,
    batch: str | None = None,
    owner: str | None = None,
    client_request_id: str | None = None,
    claim: Callable[[JobState], None] | None = None,
    budget: Budget | None = None,
) -> JobRecord:
    """Record the job, POST it, record its id. The ledger row exists before anything is sent.

    ``owner`` is whose history shows the job (default: the client's key's). ``claim`` is called
    with the create answer (the new generation id in it) before the ledger marks the job
    running (the watchers register it there, so that nothing reading the ledger starts a second
    watcher). With a ``budget``, a start whose safe price would take the owner's spending today,
    or the paying key's, over its limit raises ``BudgetError``: nothing is recorded or sent (a
    start on the simulator, whose money is pretend, never is). A local image is copied into the
    ledger's home before the row is written (``images.keep``), so the row can send it again.
    """
    crid = client_request_id or client.new_request_id()
    payer = ledger.owner_of(client.owner_key)
    owner = owner or payer
    check = None
    if budget is not None and budget.limited and not is_simulated(client.label):

        def check() -> None:  # in the insert's transaction: what it reads cannot change
            budget.check(ledger, owner, budget.quote(params, ledger), payer=payer)

    params = with_kept_image(params, ledger)
    image = params.image
    ledger.record(
        client_request_id=crid,
        owner=owner,
        payer=payer,
        endpoint=client.label,
        body=params.to_record(),
        batch=batch,
        check=check,
        image=image.columns() if image is not None else None,
        aspect_ratio=params.frame_ratio,
    )
    try:
        state = client.create(params, client_request_id=crid)
    except errors.SubmissionUnconfirmedError as exc:
        ledger.update(crid, state=Status.UNCONFIRMED, error=exc.user_message)
        raise
    except errors.PixVerseError as exc:
        exc.client_request_id = exc.client_request_id or crid
        ledger.update(crid, state=Status.REJECTED, error=exc.user_message)
        raise
    except BaseException:  # Ctrl-C or a bug mid-POST: the request may have gone out
        ledger.update(
            crid,
            state=Status.UNCONFIRMED,
            error="Interrupted while the create request was being sent.",
        )
        raise
    if claim is not None:
        claim(state)
    changes: dict[str, Any] = {
        "generation_id": state.id,
        "state": Status.RUNNING,
        "status": state.status or None,
        "submitted_at": client.clock.now(),
        "credits_used": state.credits_used,
        "usd_spent": state.usd_spent,
    }
    return _keep_id(ledger, client, crid, changes)


def with_kept_image(params: Params, ledger: Ledger) -> Params:
    """``params`` with its local image copied into the ledger's home (``images.keep``) and read
    from there when sent: the same bytes, and no handle holding them in memory."""
    if params.image is None:
        return params
    return replace(params, image=images.keep(params.image, ledger.path.parent))


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
