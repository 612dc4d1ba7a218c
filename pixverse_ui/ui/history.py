"""The History tab: the caller's generations, found, kept and taken out.

``list_history`` (an API endpoint and MCP tool) shows the caller's items, newest first, filtered by
text (prompt and note), state, star, resolution and date, each with a still frame as its preview;
it reads only. The caller's unfinished jobs are watched again when their page loads or they enter
their key (``resume``, private), and when they start another (``App.start``). Picking an item
loads it back (its settings into the form, its video and state into the result) and selects it
for starring, a note and an export (a zip of the MP4, its request, and a script and a curl
command that make it again). Every
handler that takes an id answers only for the caller's own: a foreign id gets the same sentence
as an unknown one, and nothing is written. What a pick or an export hands the page (the request
file, the video, the zip) is published once per version (``Publisher.derived``): picking or
exporting the same item again adds nothing to the disk.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import gradio as gr

from .. import errors, params
from ..export import export, export_key
from ..history import PERIODS, HistoryItem, HistoryQuery, history, period_start
from ..history import item as own_item
from ..lifecycle import Status
from ..names import safe_name
from ..posters import poster_or_none
from .common import (
    NOT_YOURS,
    Page,
    caller,
    error_markdown,
    request_json,
    status_html,
    strict_input,
)
from .generate import GeneratePart, loaded_form

HISTORY_LIMIT = 60
ANY = "any"
NOTHING_PICKED = "Pick a video: Star, Note and Export act on the one picked."


def acting_on(item: HistoryItem) -> str:
    """The line above Star, Note and Export that names the item they act on."""
    prompt = html.escape(item.short_prompt(40))
    return f"Star, Note and Export act on **{prompt}** (id `{item.ident}`)."


def caption(item: HistoryItem) -> str:
    """A history item's one line under its preview."""
    return ("★ " if item.starred else "") + f"{item.short_prompt(60)} · {item.facts()}"


def history_table(items: list[HistoryItem]) -> str:
    """Every item, finished or not, as a Markdown table."""
    if not items:
        return "No generations yet."
    rows = [
        "| ★ | when (UTC) | state | prompt | settings | cost | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for item in items:
        cells = (
            "★" if item.starred else "",
            item.when(local=False).removesuffix(" UTC")[5:],
            str(item.state.label),
            item.short_prompt(40),
            item.settings,
            item.cost_text() or "—",
            item.note[:40] + ("…" if len(item.note) > 40 else ""),
        )
        rows.append("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |")
    return "\n".join(rows)


def query_of(
    search: Any, state: Any, starred: Any, resolution: Any, period: Any, now: float
) -> HistoryQuery:
    """The filters as a ``HistoryQuery``; a sentence for a value that is not on offer."""
    since = period_start(period, now)
    return HistoryQuery(
        text=search if isinstance(search, str) else "",
        state=None if state in (None, "", ANY) else state,
        starred=True if starred is True else None,
        resolution=None if resolution in (None, "", ANY) else resolution,
        since=since,
    ).checked()


def download_name(item: HistoryItem) -> str:
    """``request-<id>.json``, the id made a plain name (``names.safe_name``)."""
    return f"request-{safe_name(item.ident)}.json"


class HistoryPart:
    """The History tab: ``layout`` builds it, the methods are its events' handlers."""

    def __init__(self, page: Page, generate: GeneratePart) -> None:
        self.page = page
        self.generate = generate

    def layout(self) -> None:
        with gr.Row(equal_height=True):
            self.search = gr.Textbox(
                "",  # an initial value makes it optional in the API and the MCP tool
                label="Search",
                placeholder="Words in prompts and notes",
                elem_id="history-search",
                scale=3,
                min_width=160,
            )
            self.state = gr.Dropdown(
                [(ANY, ANY), *((str(s.label), s.value) for s in Status)],
                value=ANY,
                label="State",
                elem_id="history-state",
                min_width=110,
            )
            self.resolution = gr.Dropdown(
                [ANY, *params.RESOLUTIONS],
                value=ANY,
                label="Resolution",
                elem_id="history-resolution",
                min_width=110,
            )
            self.period = gr.Dropdown(
                list(PERIODS), value="any time", label="When", elem_id="history-period",
                min_width=120,
            )  # fmt: skip
            self.starred_only = gr.Checkbox(
                label="★ starred only", elem_id="history-starred", min_width=110
            )
        self.refresh = gr.Button("Refresh history", elem_id="refresh-history", size="sm")
        self.picked_note = gr.Markdown("", elem_id="picked-note")
        self.gallery = gr.Gallery(
            label="Your videos, newest first (click one to load it)",
            columns=4,
            height="auto",
            elem_id="history-gallery",
            allow_preview=False,
        )
        self.acting_on = gr.Markdown(NOTHING_PICKED, elem_id="acting-on")
        with gr.Row(equal_height=True, elem_id="history-selected"):
            self.selected = gr.Textbox(visible=False, elem_id="history-selected-id")
            self.star = gr.Checkbox(label="★ Star", elem_id="star-toggle", min_width=80)
            self.note = gr.Textbox(
                label="Note", placeholder="Pick a video, then note what you learnt",
                elem_id="note", scale=4,
            )  # fmt: skip
            self.save_note = gr.Button("Save note", size="sm", elem_id="save-note")
            self.export_button = gr.Button("Export (zip)", size="sm", elem_id="export")
        self.export_file = gr.File(label="Export", visible=False, elem_id="export-file")
        self.table = gr.Markdown("No generations yet.", elem_id="history-table")
        # The ids of the gallery's videos. Not gr.State: Gradio's MCP tools fail on State
        # outputs ("pop index out of range"), and API callers may use the ids.
        self.ids = gr.JSON([], visible=False)
        for component in (
            self.search, self.state, self.resolution, self.period, self.starred_only,
            self.selected, self.star, self.note,
        ):  # fmt: skip
            strict_input(component)

    @property
    def outputs(self) -> list[Any]:
        return [self.gallery, self.ids, self.table]

    def inputs(self, visitor: gr.Textbox) -> list[Any]:
        return [
            self.generate.api_key,
            visitor,
            self.search,
            self.state,
            self.starred_only,
            self.resolution,
            self.period,
        ]

    def wire(self, visitor: gr.Textbox) -> None:
        g = self.generate
        listed = self.refresh.click(
            self.list_history,
            inputs=self.inputs(visitor),
            outputs=self.outputs,
            api_name="list_history",
            concurrency_limit=None,
        )
        self.follow_pick_after(listed, visitor)
        for source in (self.state, self.resolution, self.period, self.starred_only):
            self.refresh_after(source.input, visitor)
        self.refresh_after(self.search.submit, visitor)
        #: What a pick answers, in order; its refusals leave all but the last (the sentence) alone
        self.pick_outputs = [
            *g.form, g.body, g.body_file, g.video, g.status, self.selected, self.star,
            self.note, self.acting_on, self.picked_note,
        ]  # fmt: skip
        picked = self.gallery.select(
            self.pick,
            inputs=[self.ids, g.api_key, visitor],
            outputs=self.pick_outputs,
            api_visibility="private",
        )
        g.follow_up(picked.then, visitor)
        kept = self.star.input(
            self.set_star,
            inputs=[self.selected, self.star, g.api_key, visitor],
            outputs=[self.picked_note],
            api_visibility="private",
        )
        noted = self.save_note.click(
            self.set_note,
            inputs=[self.selected, self.note, g.api_key, visitor],
            outputs=[self.picked_note],
            api_visibility="private",
        )
        for changed in (kept, noted):
            self.refresh_after(changed.then, visitor)
        self.export_button.click(
            self.export,
            inputs=[self.selected, g.api_key, visitor],
            outputs=[self.export_file, self.picked_note],
            api_visibility="private",
        )

    def resume_after(self, event: Any, visitor: gr.Textbox) -> None:
        """Watch the caller's unfinished jobs again after ``event`` (a page load, a key entered)."""
        event(
            self.resume,
            inputs=[self.generate.api_key, visitor],
            api_visibility="private",
            queue=False,
        )

    def refresh_after(self, event: Any, visitor: gr.Textbox, *, quietly: bool = False) -> None:
        """Show the history again after ``event`` (a page load, a generation's end, a filter),
        and keep the pick only if it is still shown (by its id, highlighted where it now is).
        ``quietly``: no progress shown over the gallery (a redraw the visitor did not ask for)."""
        shown = event(
            self.list_history,
            inputs=self.inputs(visitor),
            outputs=self.outputs,
            api_visibility="private",
            show_progress="hidden" if quietly else "full",
        )
        self.follow_pick_after(shown, visitor)

    def follow_pick_after(self, shown: Any, visitor: gr.Textbox) -> None:
        """Once ``shown`` has shown the gallery again, make the pick follow it."""
        shown.then(
            self.follow_pick,
            inputs=[self.ids, self.selected, self.generate.api_key, visitor],
            outputs=[self.gallery, self.selected, self.star, self.note, self.acting_on],
            api_visibility="private",
            queue=False,
        )

    # --- handlers -----------------------------------------------------------------------------

    def list_history(
        self,
        api_key: str | None = None,
        visitor: str | None = None,
        search: str = "",
        state: str = ANY,
        starred_only: bool = False,
        resolution: str = ANY,
        period: str = "any time",
        request: gr.Request = None,  # type: ignore[assignment]
        x_aimlapi_key: gr.Header | None = None,
    ) -> tuple[Any, list[str], str]:
        """Your past generations, newest first, with their state, settings, cost and notes.

        Args:
            api_key: Leave empty; send your key in the X-AIMLAPI-Key header instead.
            visitor: The name you gave generate, when you gave no key (on the simulator).
            search: Words to find in prompts and notes; empty for all.
            state: "any", or one of submitting, unconfirmed, rejected, running, done, failed
                ("sending" and "refused", as the page shows them, are taken too).
            starred_only: True for starred generations only.
            resolution: "any", or 360p, 540p, 720p or 1080p.
            period: "any time", "today", "last 7 days" or "last 30 days".

        Returns:
            Your finished videos (a still of each), their ids, and a table of every job.
        """
        page = self.page
        try:
            who = caller(page, api_key, x_aimlapi_key, visitor, request)
            ledger = page.app.ledger
            query = query_of(search, state, starred_only, resolution, period, ledger.clock.now())
        except errors.PixVerseError as exc:
            return [], [], error_markdown(exc)
        items = history(page.app.ledger, who.owner, query, limit=HISTORY_LIMIT)
        previews, ids = [], []
        for item in items:
            if item.state is Status.DONE and item.has_video:
                assert item.video_path is not None
                still = poster_or_none(item.video_path) or item.video_path
                previews.append((page.publisher.file(still), caption(item)))
                ids.append(item.client_request_id)
        return previews, ids, history_table(items)

    def resume(
        self,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> None:
        """Watch in the background what the caller left unfinished (with their key)."""
        try:
            who = caller(self.page, api_key, None, visitor, request)
        except errors.PixVerseError:
            return  # not a caller yet (no key where one is needed): nothing of theirs to watch
        self.page.app.resume_for(who)

    def pick(
        self,
        ids: Any,
        api_key: Any,
        visitor: Any,
        evt: gr.SelectData,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        """Load a history item back: its settings into the form, its video and state into the
        result, and select it for a star, a note or an export; only the caller's own items."""
        page = self.page
        unchanged = (gr.update(),) * (len(self.pick_outputs) - 1)
        try:
            who = caller(page, api_key, None, visitor, request)
        except errors.PixVerseError as exc:
            return (*unchanged, error_markdown(exc))
        index = getattr(evt, "index", None)
        ident = None
        if isinstance(ids, list) and isinstance(index, int) and not isinstance(index, bool):
            ident = ids[index] if 0 <= index < len(ids) else None
        item = own_item(page.app.ledger, who.owner, ident)
        if item is None:
            return (*unchanged, NOT_YOURS)
        video = page.publisher.file(item.video_path) if item.has_video else None
        summary = f"{item.state.label} · {caption(item)} · id {item.ident}"
        return (
            *loaded_form(item.params),
            request_json(item.params),
            gr.update(value=page.publisher.json(download_name(item), item.params), visible=True),
            video,
            status_html(None, note=html.escape(summary)),
            item.client_request_id,
            item.starred,
            item.note,
            acting_on(item),
            f"Loaded `{item.ident}` ({caption(item)}). Press **Generate** to run it again.",
        )

    def follow_pick(
        self,
        ids: Any,
        selected: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, ...]:
        """After the gallery is shown again: the picked item highlighted where it now is, or,
        when it is no longer shown, no pick at all (never the item now at its old place)."""
        shown = ids if isinstance(ids, list) else []
        item = None
        if isinstance(selected, str) and selected in shown:
            try:
                who = caller(self.page, api_key, None, visitor, request)
                item = own_item(self.page.app.ledger, who.owner, selected)
            except errors.PixVerseError:
                item = None
        if item is None:
            return gr.update(selected_index=None), "", False, "", NOTHING_PICKED
        index = shown.index(selected)
        # the same item stays picked: its star and note fields keep what the person may be
        # typing into them right now (a redraw must never erase a note before it is saved)
        return gr.update(selected_index=index), selected, gr.skip(), gr.skip(), acting_on(item)

    def set_star(
        self,
        selected: Any,
        starred: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> str:
        """Star or unstar the selected item (the caller's own only)."""

        def keep(ident: str, owner: str) -> str:
            self.page.app.ledger.set_starred(ident, owner, starred is True)
            return "★ Starred." if starred is True else "Star removed."

        return self._on_selected(selected, api_key, visitor, request, "star it", keep)

    def set_note(
        self,
        selected: Any,
        note: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> str:
        """Keep a note with the selected item (the caller's own only)."""

        def keep(ident: str, owner: str) -> str:
            self.page.app.ledger.set_note(ident, owner, note)
            return "Note saved." if note else "Note removed."

        return self._on_selected(selected, api_key, visitor, request, "write its note", keep)

    def _on_selected(
        self,
        selected: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request | None,
        doing: str,
        change: Callable[[str, str], str],
    ) -> str:
        """Apply ``change(id, owner)`` to the selected item for its owner; a sentence otherwise
        (a foreign id gets the same one as an unknown id, and nothing is written)."""
        try:
            who = caller(self.page, api_key, None, visitor, request)
            if not isinstance(selected, str) or not selected:
                return f"Pick a video first, then {doing}."
            return change(selected, who.owner)
        except KeyError:
            return NOT_YOURS
        except errors.PixVerseError as exc:
            return error_markdown(exc)

    def export(
        self,
        selected: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, str]:
        """A zip of the selected item: its MP4, its request, a script and a curl command."""
        page = self.page
        hidden = gr.update(visible=False)
        try:
            who = caller(page, api_key, None, visitor, request)
            item = own_item(page.app.ledger, who.owner, selected)
            if item is None:
                return hidden, NOT_YOURS
            record = page.app.ledger.get(item.client_request_id)
            made = page.publisher.derived(export_key(record), lambda folder: export(record, folder))
        except errors.PixVerseError as exc:
            return hidden, error_markdown(exc)
        return gr.update(value=str(made), visible=True), (
            f"Exported `{item.ident}`: the video, its request, `reproduce.py` and "
            "`reproduce.sh` (they read your key from `AIMLAPI_KEY`; none is written)."
        )
