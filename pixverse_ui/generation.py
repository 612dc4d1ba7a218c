"""A whole generation: validate, record, submit, watch, download. ``generate`` and ``resume``."""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import errors
from .client import Client
from .defaults import default_client, default_ledger, videos_dir
from .params import Params, validate
from .polling import DEFAULT_TIMEOUT, Update, estimate_for, watch
from .store import REJECTED, RUNNING, UNCONFIRMED, JobRecord, Ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generation:
    """The outcome of a generation, as the ledger holds it."""

    id: str | None
    client_request_id: str
    state: str
    status: str
    params: Params
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
        return cls(
            id=record.generation_id,
            client_request_id=record.client_request_id,
            state=record.state,
            status=record.status,
            params=validate(body.pop("prompt"), let_server_decide=True, **body),
            video_path=Path(record.video_path) if record.video_path else None,
            video_url=record.video_url,
            credits_used=record.credits_used,
            seconds=record.render_seconds,
            error=record.error,
        )

    def _repr_html_(self) -> str:
        """Jupyter: a playable video with its parameters and credits."""
        prompt = html.escape(self.params.prompt)
        facts = html.escape(self.params.summary())
        credits = f"{self.credits_used:,.0f} credits" if self.credits_used is not None else ""
        took = f"{self.seconds:.0f} s" if self.seconds is not None else ""
        meta = " · ".join(x for x in (facts, credits, took, html.escape(self.status)) if x)
        if self.video_path and self.video_path.exists():
            from base64 import b64encode

            data = b64encode(self.video_path.read_bytes()).decode()
            w, h = self.params.size
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


def submit(
    params: Params, *, client: Client, ledger: Ledger, batch: str | None = None
) -> JobRecord:
    """Record the job, POST it, record its id. The ledger row exists before anything is sent."""
    crid = client.new_request_id()
    ledger.record(
        client_request_id=crid,
        owner=ledger.owner_of(client.owner_key),
        endpoint=client.label,
        body=params.to_body(),
        batch=batch,
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
    return ledger.update(
        crid,
        generation_id=state.id,
        state=RUNNING,
        status=state.status,
        submitted_at=client.clock.now(),
        credits_used=state.credits_used,
        usd_spent=state.usd_spent,
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
    **options: Any,
) -> Iterator[Update]:
    """Validate, submit and watch one generation, yielding every ``Update``.

    Bad input raises ``ValidationError`` before anything is recorded or sent.
    """
    params = params or validate(prompt, **options)
    client = client or default_client()
    ledger = ledger or default_ledger()
    record = submit(params, client=client, ledger=ledger, batch=batch)
    assert record.generation_id is not None
    yield from watch(
        record.generation_id,
        client=client,
        ledger=ledger,
        download_dir=download_dir or videos_dir(),
        estimate=estimate_for(
            params.resolution,
            params.duration,
            ledger,
            endpoint=client.label,
            time_scale=client.time_scale,
            aspect_ratio=params.aspect_ratio,
        ),
        timeout=timeout,
        stop=stop,
    )


def generate(
    prompt: Any = None,
    *,
    on_update: Callable[[Update], None] | None = None,
    client: Client | None = None,
    ledger: Ledger | None = None,
    **options: Any,
) -> Generation:
    """Make one video and return it. ``on_update`` sees every step; errors carry the job's ids."""
    ledger = ledger or default_ledger()
    last: Update | None = None
    for update in stream(prompt, client=client, ledger=ledger, **options):
        last = update
        if on_update:
            on_update(update)
    assert last is not None
    return Generation.from_record(ledger.get(last.generation_id))


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

    A job that fails again is reported in its ``Generation`` (``error``), not raised, so one bad
    job does not stop the others.
    """
    client = client or default_client()
    ledger = ledger or default_ledger()
    if generation_id is not None:
        record = ledger.find(generation_id)
        if record is not None and record.generation_id is None:
            raise errors.SubmissionUnconfirmedError(
                f"This job never got a generation id (it is {record.state})",
                client_request_id=record.client_request_id,
            )
        ids = [record.generation_id if record else generation_id]
    else:
        owner = ledger.owner_of(client.owner_key)
        ids = [j.generation_id for j in ledger.unfinished(owner, client.label) if j.generation_id]
    results = []
    for gid in ids:
        assert gid is not None
        try:
            for update in watch(
                gid,
                client=client,
                ledger=ledger,
                timeout=timeout,
                download_dir=download_dir or videos_dir(),
            ):
                if on_update:
                    on_update(update)
        except errors.PixVerseError as exc:
            if ledger.find(gid) is None:
                raise
            ledger.update(gid, error=exc.user_message)  # kept with the job, shown in its result
            log.warning("resume %s: %s", gid, exc.user_message)
        record = ledger.find(gid)
        if record is not None:
            results.append(Generation.from_record(record))
    return results
