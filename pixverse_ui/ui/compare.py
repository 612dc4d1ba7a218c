"""The Compare tab: two to four of the caller's generations side by side, playing together, with
the parameters that differ between them highlighted.

They are picked in History: a finished video's card has a tick, and the bar above the cards
sends the ticked ids (``HistoryPart``'s ``compare`` event, at most ``MOST``); the comparison
opens this tab. Each column is headed by its prompt and time; an image-to-video item shows the
image it started from beside its video."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from .. import errors
from ..history import HistoryItem, compare_params
from ..history import item as own_item
from .common import NOT_YOURS, Page, caller, error_markdown
from .history import MOST, MOST_WORD, started_from

TAB = "compare"
EMPTY = (
    f"<p>Tick two to {MOST_WORD} finished videos in <b>History</b>, then press <b>Compare</b> "
    "there: they play here side by side.</p>"
)
PICK_TWO = f"<p>Tick two to {MOST_WORD} videos in History to compare them.</p>"
#: How long a column's heading quotes its prompt.
HEADING_CHARS = 40


def heading(item: HistoryItem) -> str:
    """A column's heading, as HTML: its prompt, shortened, and when it was made."""
    return (
        f"{html.escape(item.short_prompt(HEADING_CHARS))}<br>"
        f"<small>{html.escape(item.when(local=False))}</small>"
    )


def comparison_html(
    items: list[HistoryItem], urls: list[str], started: list[str | None] | None = None
) -> str:
    """The videos side by side (they play, pause and seek together; see ``page.PAGE_JS``), each
    with the image it started from (``started``: its published URL, None for none), and a table
    of their parameters, the rows that differ marked."""
    started = started or [None] * len(items)
    cells = ""
    for item, url, image in zip(items, urls, started, strict=True):
        thumb, source = started_from(item, image)
        beside = f'<div class="pxui-compare-from">{thumb}{source}</div>' if thumb or source else ""
        cells += (
            f'<figure class="pxui-compare-cell" data-id="{html.escape(item.client_request_id)}">'
            f'<div class="pxui-compare-media"><video src="{html.escape(url, quote=True)}" '
            f'muted loop playsinline controls preload="auto"></video>{beside}</div>'
            f"<figcaption>{heading(item)}<br><small>{html.escape(item.settings)}</small>"
            "</figcaption></figure>"
        )
    head = "".join(f"<th>{heading(item)}</th>" for item in items)
    rows = ""
    for row in compare_params(items):
        values = "".join(
            f"<td>{'—' if v is None else html.escape(str(v))}</td>" for v in row.values
        )
        mark = ' class="pxui-differs"' if row.differs else ""
        rows += f"<tr{mark}><th>{html.escape(row.name)}</th>{values}</tr>"
    return (
        '<div class="pxui-compare">'
        '<button type="button" class="pxui-play-all">▶ Play together from the start</button>'
        f'<div class="pxui-compare-grid" style="--n:{len(items)}">{cells}</div>'
        '<div class="pxui-compare-table">'
        f'<table class="pxui-compare-params"><thead><tr><th>parameter</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div></div>"
    )


class ComparePart:
    """The Compare tab: ``layout`` builds it, the methods are its events' handlers."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def layout(self) -> None:
        self.view = gr.HTML(EMPTY, elem_id="compare-view")

    def wire(self, tabs: gr.Tabs, cards: gr.HTML, api_key: gr.Textbox, visitor: gr.Textbox) -> None:
        """Compare what History's ``cards`` send (their bar's Compare), and open this tab."""
        cards.compare(
            self.compare,
            inputs=[api_key, visitor],
            outputs=[self.view, tabs],
            api_visibility="private",
        )

    # --- handlers -----------------------------------------------------------------------------

    def compare(
        self,
        api_key: Any,
        visitor: Any,
        evt: gr.SelectData,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[str, Any]:
        """The ticked videos (``evt.value``, their ids) side by side, with their differing
        parameters marked; the tab opened to show them (or why not)."""
        page = self.page
        shown = gr.Tabs(selected=TAB)
        try:
            who = caller(page, api_key, None, visitor, request)
        except errors.PixVerseError as exc:
            return f"<p>{html.escape(error_markdown(exc))}</p>", shown
        picked = getattr(evt, "value", None)
        if not isinstance(picked, list) or not all(isinstance(i, str) for i in picked):
            return PICK_TWO, shown
        picked = list(dict.fromkeys(picked))  # one column per video
        if not 2 <= len(picked) <= MOST:
            return PICK_TWO, shown
        items = [own_item(page.app.ledger, who.owner, ident) for ident in picked]
        if any(item is None or not item.has_video for item in items):
            return f"<p>{html.escape(NOT_YOURS.replace('**', ''))}</p>", shown
        found = [item for item in items if item is not None]
        urls = [
            "gradio_api/file=" + page.publisher.file(item.video_path)  # type: ignore[arg-type]
            for item in found
        ]
        started = [
            "gradio_api/file=" + page.publisher.file(item.image_path)
            if item.has_image_file and item.image_path is not None
            else None
            for item in found
        ]
        return comparison_html(found, urls, started), shown
