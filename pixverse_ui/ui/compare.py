"""The Compare tab: two to four of the caller's generations side by side, playing together, with
the parameters that differ between them highlighted."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from .. import errors
from ..history import HistoryItem, HistoryQuery, compare_params, history
from ..history import item as own_item
from ..lifecycle import Status
from .common import NOT_YOURS, Page, caller, error_markdown, strict_input

#: How many of the caller's latest finished videos are offered.
OFFERED = 30
MOST = 4
EMPTY = "<p>Pick two to four of your videos above, then press <b>Compare</b>.</p>"


def label(item: HistoryItem) -> str:
    """How a video is offered for comparing."""
    return f"{item.short_prompt(40)} · {item.settings} · {item.ident[:8]}"


def comparison_html(items: list[HistoryItem], urls: list[str]) -> str:
    """The videos side by side (they play, pause and seek together; see ``page.PAGE_JS``) and a
    table of their parameters, the rows that differ marked."""
    cells = "".join(
        f'<figure class="pxui-compare-cell"><video src="{html.escape(url, quote=True)}" '
        f'muted loop playsinline controls preload="auto"></video>'
        f"<figcaption>{html.escape(item.short_prompt(60))}<br><small>"
        f"{html.escape(item.settings)} · {html.escape(item.ident)}</small></figcaption></figure>"
        for item, url in zip(items, urls, strict=True)
    )
    head = "".join(f"<th>{html.escape(item.ident[:8])}</th>" for item in items)
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
        f'<table class="pxui-compare-params"><thead><tr><th>parameter</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


class ComparePart:
    """The Compare tab: ``layout`` builds it, the methods are its events' handlers."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def layout(self) -> None:
        self.choices = gr.CheckboxGroup(
            [], label=f"Your videos (pick 2 to {MOST})", elem_id="compare-choices"
        )
        self.run = gr.Button("Compare", variant="primary", elem_id="compare")
        self.view = gr.HTML(EMPTY, elem_id="compare-view")
        strict_input(self.choices)

    def wire(self, tab: gr.Tab, api_key: gr.Textbox, visitor: gr.Textbox) -> None:
        tab.select(
            self.offer,
            inputs=[api_key, visitor],
            outputs=[self.choices],
            api_visibility="private",
        )
        self.run.click(
            self.compare,
            inputs=[self.choices, api_key, visitor],
            outputs=[self.view],
            api_visibility="private",
        )

    # --- handlers -----------------------------------------------------------------------------

    def offer(
        self,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> Any:
        """The caller's latest finished videos, to pick from."""
        try:
            who = caller(self.page, api_key, None, visitor, request)
        except errors.PixVerseError:
            return gr.update(choices=[], value=[])
        items = history(
            self.page.app.ledger, who.owner, HistoryQuery(state=Status.DONE), limit=OFFERED
        )
        offered = [(label(i), i.client_request_id) for i in items if i.has_video]
        return gr.update(choices=offered, value=[])

    def compare(
        self,
        picked: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> str:
        """The picked videos side by side, with their differing parameters marked."""
        page = self.page
        try:
            who = caller(page, api_key, None, visitor, request)
        except errors.PixVerseError as exc:
            return f"<p>{html.escape(error_markdown(exc))}</p>"
        if not isinstance(picked, list) or not 2 <= len(picked) <= MOST:
            return f"<p>Pick two to {MOST} videos to compare.</p>"
        items = [own_item(page.app.ledger, who.owner, ident) for ident in picked]
        if any(item is None or not item.has_video for item in items):
            return f"<p>{html.escape(NOT_YOURS.replace('**', ''))}</p>"
        found = [item for item in items if item is not None]
        urls = [
            "gradio_api/file=" + page.publisher.file(item.video_path)  # type: ignore[arg-type]
            for item in found
        ]
        return comparison_html(found, urls)
