"""The History tab: the caller's generations, and picking one back into the form.

``list_history`` (an API endpoint and MCP tool) also resumes the caller's unfinished jobs. Picking
an item answers only for the caller's own items: a foreign id gets the same sentence as an
unknown one, and nothing is written.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gradio as gr

from .. import errors
from ..access import Caller
from ..store import DONE, FAILED, RUNNING, JobRecord
from .common import (
    ADOPTED_WORDS,
    NOT_YOURS,
    Page,
    caller,
    error_markdown,
    request_json,
    status_html,
)
from .generate import GeneratePart, loaded_form

HISTORY_LIMIT = 60

_STATE_WORDS = {
    DONE: "✅ done",
    FAILED: "❌ failed",
    RUNNING: "⏳ running",
    "unconfirmed": "❓ unconfirmed",
    "rejected": "🚫 refused",
    "submitting": "… sending",
}


def caption(record: JobRecord) -> str:
    """A history item's one-line description."""
    if record.adopted:
        return f"{record.generation_id} · {ADOPTED_WORDS}"
    p = record.request
    bits = [p["aspect_ratio"], p["resolution"], f"{p['duration']} s"]
    if p.get("style"):
        bits.append(p["style"])
    if p.get("seed") is not None:
        bits.append(f"seed {p['seed']}")
    if record.credits_used is not None:
        bits.append(f"{record.credits_used:,.0f} credits")
    if record.render_seconds is not None:
        bits.append(f"took {record.render_seconds:.0f} s")
    prompt = p["prompt"] if len(p["prompt"]) <= 60 else p["prompt"][:57] + "…"
    return f"{prompt} · " + " · ".join(bits)


def history_table(records: list[JobRecord]) -> str:
    """Every job of this visitor, finished or not, as a Markdown table."""
    if not records:
        return "No generations yet."
    rows = ["| when (UTC) | state | prompt | settings | credits |", "|---|---|---|---|---|"]
    for record in records:
        when = datetime.fromtimestamp(record.created_at, tz=timezone.utc).strftime("%m-%d %H:%M")
        p = record.request
        prompt = p.get("prompt", f"`{record.generation_id}`").replace("|", "/")
        prompt = prompt if len(prompt) <= 40 else prompt[:37] + "…"
        settings = ADOPTED_WORDS
        if not record.adopted:
            settings = f"{p['aspect_ratio']} {p['resolution']} {p['duration']} s"
            settings += f" {p.get('style') or ''}"
        credits = f"{record.credits_used:,.0f}" if record.credits_used is not None else "—"
        state = _STATE_WORDS.get(record.state, record.state)
        rows.append(f"| {when} | {state} | {prompt} | {settings.strip()} | {credits} |")
    return "\n".join(rows)


def own_record(page: Page, who: Caller, ids: Any, index: Any) -> JobRecord | None:
    """The ledger row at ``ids[index]`` if it is ``who``'s; else None, whatever the reason."""
    if not isinstance(ids, list) or isinstance(index, bool) or not isinstance(index, int):
        return None
    if not 0 <= index < len(ids) or not isinstance(ids[index], str):
        return None
    record = page.app.ledger.find(ids[index])
    return record if record is not None and record.owner == who.owner else None


def download_name(record: JobRecord) -> str:
    """``request-<id>.json``, with only safe characters."""
    ident = record.generation_id or record.client_request_id
    return "request-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in ident) + ".json"


class HistoryPart:
    """The History tab: ``layout`` builds it, the methods are its events' handlers."""

    def __init__(self, page: Page, generate: GeneratePart) -> None:
        self.page = page
        self.generate = generate

    def layout(self) -> None:
        self.refresh = gr.Button("Refresh history", elem_id="refresh-history", size="sm")
        self.picked_note = gr.Markdown("", elem_id="picked-note")
        self.gallery = gr.Gallery(
            label="Your videos, newest first (click one to load it)",
            columns=4,
            height="auto",
            elem_id="history-gallery",
            allow_preview=False,
        )
        self.table = gr.Markdown("No generations yet.", elem_id="history-table")
        # The ids of the gallery's videos. Not gr.State: Gradio's MCP tools fail on State
        # outputs ("pop index out of range"), and API callers may use the ids.
        self.ids = gr.JSON([], visible=False)

    @property
    def outputs(self) -> list[Any]:
        return [self.gallery, self.ids, self.table]

    def wire(self, visitor: gr.Textbox) -> None:
        g = self.generate
        self.refresh.click(
            self.list_history,
            inputs=[g.api_key, visitor],
            outputs=self.outputs,
            api_name="list_history",
            concurrency_limit=None,
        )
        picked = self.gallery.select(
            self.pick,
            inputs=[self.ids, g.api_key, visitor],
            outputs=[*g.form, g.body, g.body_file, g.video, g.status, self.picked_note],
            api_visibility="private",
        )
        g.follow_up(picked)

    def refresh_after(self, event: Any, visitor: gr.Textbox) -> None:
        """Show the history again after ``event`` (a page load, a generation's end)."""
        event(
            self.list_history,
            inputs=[self.generate.api_key, visitor],
            outputs=self.outputs,
            api_visibility="private",
        )

    # --- handlers -----------------------------------------------------------------------------

    def list_history(
        self,
        api_key: str | None = None,
        visitor: str | None = None,
        request: gr.Request = None,  # type: ignore[assignment]
        x_aimlapi_key: gr.Header | None = None,
    ) -> tuple[Any, list[str], str]:
        """Your past generations, newest first, with their state, settings and credits.

        Also resumes watching any of your generations left unfinished.

        Args:
            api_key: Leave empty; send your key in the X-AIMLAPI-Key header instead.
            visitor: The name you gave generate, when you gave no key (on the simulator).

        Returns:
            Your finished videos, their ids, and a table of every job.
        """
        page = self.page
        try:
            who = caller(page, api_key, x_aimlapi_key, visitor, request)
        except errors.PixVerseError as exc:
            return [], [], error_markdown(exc)
        page.app.resume_for(who)
        records = page.app.ledger.history(who.owner, limit=HISTORY_LIMIT)
        items, ids = [], []
        for record in records:
            if record.state == DONE and record.video_path and Path(record.video_path).exists():
                items.append((page.publisher.file(record.video_path), caption(record)))
                ids.append(record.client_request_id)
        return items, ids, history_table(records)

    def pick(
        self,
        ids: Any,
        api_key: Any,
        visitor: Any,
        evt: gr.SelectData,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        """Load a history item back: its settings into the form, its video and status into the
        result; only the caller's own items."""
        page = self.page
        unchanged = (gr.update(),) * 14
        try:
            who = caller(page, api_key, None, visitor, request)
        except errors.PixVerseError as exc:
            return (*unchanged, error_markdown(exc))
        record = own_record(page, who, ids, getattr(evt, "index", None))
        if record is None:
            return (*unchanged, NOT_YOURS)
        body = record.request
        video = None
        if record.video_path and Path(record.video_path).exists():
            video = page.publisher.file(record.video_path)
        return (
            *loaded_form(body),
            request_json(body),
            gr.update(value=page.publisher.json(download_name(record), body), visible=True),
            video,
            status_html(None, note=html.escape(
                f"{_STATE_WORDS.get(record.state, record.state)} · {caption(record)} · "
                f"id {record.generation_id}"
            )),
            f"Loaded `{record.generation_id}` ({caption(record)}). "
            "Press **Generate** to run it again.",
        )  # fmt: skip
