"""The History tab: the caller's generations, found, kept and taken out.

``list_history`` (an API endpoint and MCP tool) shows the caller's items, newest first, filtered by
text (prompt and note), state, star, resolution and date, a page of ``PAGE_SIZE`` at a time: every
item of the page as a card (its still in its own aspect ratio, prompt, state, settings, cost, star,
time and note, the person's words escaped), and for API callers the finished videos' stills; it
reads only. The cards are the page's one view of the history: a click on one picks it, and a
finished video's tick selects it for Compare (two to four; a fifth is refused at the tick).
"Newer" and "Older" turn the pages; a filter starts again from the first.
The caller's unfinished jobs are watched again when their page loads or they enter their key
(``resume``, private), and when they start another (``App.start``). Picking an item loads it back
(its settings into the form, its video and state into the result) and selects it for starring, a
note and an export (a zip of the MP4, its request, and a script and a curl command that make it
again). Every handler that takes an id answers only for the caller's own: a foreign id gets the
same sentence as an unknown one, and nothing is written. What a pick or an export hands the page
(the request file, the video, the zip) is published once per version (``Publisher.derived``):
picking or exporting the same item again adds nothing to the disk.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gradio as gr

from .. import errors, images, params
from ..export import export, export_key
from ..history import PERIODS, HistoryItem, HistoryPage, HistoryQuery, history_page, period_start
from ..history import item as own_item
from ..lifecycle import Status
from ..names import safe_name
from ..posters import poster_or_none
from ..publish import version
from .common import (
    NOT_YOURS,
    Page,
    caller,
    error_markdown,
    request_json,
    status_html,
    strict_input,
)
from .generate import GeneratePart, loaded_form, loaded_image

#: How many items a page of the History tab shows. Gradio's checks of each still of the gallery
#: (about 1.2 ms: nine path comparisons) are most of a page's cost, whatever the ledger holds
#: (``benchmarks/history.py``): against a whole history of 10, a page of 60 took 2.9 times as
#: long (on a busy machine), one of 20 1.43 times and one of 12 1.13 to 1.17 times (idle).
#: 12 fill four rows of cards on a desktop and keep a phone's scroll short.
PAGE_SIZE = 12
ANY = "any"
NOTHING_PICKED = "Pick a video: Star, Note and Export act on the one picked."
#: What Star, Note and Export say with nothing picked (``doing``: what they would do).
PICK_FIRST = "Pick a video first, then {doing}."
#: Said when a redraw (a search, a filter, a job's end) no longer shows the video picked.
PICK_HIDDEN = (
    "The video you picked is not among those shown now, so nothing is picked: pick one of "
    "these, or clear the search and filters to find it."
)
EMPTY = "No generations yet."
NONE_MATCH = "No generations match these filters."
#: What the History's pager buttons and filters do to ``list_history``'s inputs (the page is the
#: last) before it runs, in the page: the filters start again from the first page.
FIRST_PAGE_JS = "(...inputs) => [...inputs.slice(0, -1), 1]"
NEWER_JS = "(...inputs) => [...inputs.slice(0, -1), Math.max(1, Number(inputs.at(-1)) - 1)]"
OLDER_JS = "(...inputs) => [...inputs.slice(0, -1), Math.max(1, Number(inputs.at(-1)) + 1)]"
#: How long typing in Search pauses before it searches, in milliseconds (Enter searches at once).
SEARCH_PAUSE_MS = 450
#: Enter: the search runs now, so the pause's search is not run as well.
SEARCH_NOW_JS = "() => { clearTimeout(window.pxuiSearchPause); }"
#: Search as you type: each keystroke restarts a wait of ``SEARCH_PAUSE_MS``, at whose end the
#: page presses the tab's hidden search button (which searches from the first page).
SEARCH_AS_YOU_TYPE_JS = (
    "() => { clearTimeout(window.pxuiSearchPause); window.pxuiSearchPause = setTimeout(() => {"
    " const go = document.querySelector('#history-search-go'); if (go) go.click(); }, "
    f"{SEARCH_PAUSE_MS}); }}"
)
#: The longest side of a card's still, in CSS pixels (the other follows the aspect ratio).
STILL_SIDE = 128
#: The longest side of a card's thumbnail of the image a job started from, in CSS pixels.
IMAGE_SIDE = 56
#: The cards' style (scoped to them by ``gr.HTML``): one column on a phone, as many as fit on a
#: desktop; no text wider than its card.
CARDS_CSS = """
.pxui-history { display: flex; flex-direction: column; gap: 8px; }
.pxui-range { margin: 0; font-size: 0.9em; color: var(--body-text-color-subdued); }
.pxui-cards {
  list-style: none; margin: 0; padding: 0; display: grid; gap: 10px;
  grid-template-columns: repeat(auto-fill, minmax(min(100%, 340px), 1fr));
}
.pxui-card {
  display: flex; gap: 10px; align-items: flex-start; margin: 0; padding: 8px; min-width: 0;
  border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  background: var(--background-fill-secondary);
}
.pxui-still {
  flex: 0 0 auto; display: block; object-fit: contain; border-radius: var(--radius-sm);
  background: var(--background-fill-primary);
}
.pxui-pictures { flex: 0 0 auto; display: flex; flex-direction: column; gap: 4px; }
.pxui-from { display: block; object-fit: contain; border-radius: var(--radius-sm);
  background: var(--background-fill-primary); }
.pxui-from-url { font-size: 0.85em; }
.pxui-card-text { flex: 1 1 auto; min-width: 0; overflow-wrap: anywhere; }
.pxui-prompt {
  margin: 0 0 4px; font-weight: 600; display: -webkit-box; -webkit-line-clamp: 3;
  -webkit-box-orient: vertical; overflow: hidden;
}
.pxui-facts, .pxui-note { margin: 0; font-size: 0.85em; }
.pxui-note { margin-top: 4px; font-style: italic; }
.pxui-state { font-weight: 600; }
.pxui-state-failed, .pxui-state-rejected, .pxui-state-unconfirmed {
  color: var(--error-text-color, #b91c1c);
}
.pxui-card { cursor: pointer; }
.pxui-card:focus-visible { border-color: var(--color-accent, #f97316); }
@media (hover: hover) { .pxui-card:hover { border-color: var(--color-accent, #f97316); } }
.pxui-card.pxui-picked {
  border-color: var(--color-accent, #f97316); box-shadow: 0 0 0 2px var(--color-accent, #f97316);
}
.pxui-tick { display: inline-flex; align-items: center; gap: 4px; margin-top: 6px;
  font-size: 0.85em; cursor: pointer; }
.pxui-compare-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; }
.pxui-compare-bar[hidden] { display: none; }
.pxui-compare-said { flex: 1 1 16em; font-size: 0.9em; }
.pxui-compare-said.pxui-refused { color: var(--error-text-color, #b91c1c); font-weight: 600; }
.pxui-compare-bar button {
  font: inherit; font-size: 0.9em; font-weight: 600; line-height: 1.4; padding: 4px 12px;
  border-radius: var(--radius-md); cursor: pointer;
  border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color);
}
.pxui-compare-bar .pxui-compare-go:not(:disabled) {
  background: var(--button-primary-background-fill); color: var(--button-primary-text-color);
}
.pxui-compare-bar button:disabled { opacity: 0.55; cursor: default; }
"""
#: How many videos Compare shows at most (in words for the sentences).
MOST = 4
MOST_WORD = "four"
#: What the bar above the cards says: how Compare is picked, and why a fifth tick is refused.
COMPARE_HINT = f"Tick two to {MOST_WORD} finished videos, then press Compare."
TOO_MANY = f"Compare shows at most {MOST_WORD} videos: untick one to pick another."
#: The cards' component: the Compare bar, then the cards (``${value}``, what ``list_history``
#: gives). Gradio fills it as a JS template literal: no backticks, ``${`` or ``{{`` in the words.
CARDS_TEMPLATE = (
    '<div class="pxui-compare-bar" hidden>'
    f'<span class="pxui-compare-said" role="status" aria-live="polite"'
    f' data-hint="{html.escape(COMPARE_HINT)}" data-too-many="{html.escape(TOO_MANY)}">'
    f"{html.escape(COMPARE_HINT, quote=False)}</span>"
    '<button type="button" class="pxui-compare-go" disabled>Compare</button>'
    '<button type="button" class="pxui-compare-clear" hidden>Untick all</button>'
    "</div>${value}"
)
#: Runs once when the cards are first drawn (Gradio's ``js_on_load``: ``element``, ``trigger``,
#: ``watch``). A click on a card picks it (the ``select`` event, its index among the ids); a tick
#: selects a finished video for Compare, kept across redraws and pages, at most ``MOST``: a
#: fifth is unticked at once with ``TOO_MANY``; the bar's Compare sends the ticked ids (the
#: ``compare`` event). The pick and the ticks are marked again after every redraw (Gradio
#: patches the cards in place: a box keeps its tick where another card now is, unless told).
CARDS_JS = (
    f"const most = {MOST};"
    + """
let picked = null, ticked = [], refusal = '';
const cards = () => [...element.querySelectorAll('.pxui-card')];
const sync = () => {
  const shown = cards();
  if (picked !== null && !shown.some((c) => c.dataset.id === picked)) picked = null;
  for (const card of shown) {
    const on = card.dataset.id === picked;
    card.classList.toggle('pxui-picked', on);
    if (on) card.setAttribute('aria-current', 'true'); else card.removeAttribute('aria-current');
    const box = card.querySelector('.pxui-tick input');
    if (box) box.checked = ticked.includes(card.dataset.id);
  }
  const bar = element.querySelector('.pxui-compare-bar');
  if (!bar) return;
  const n = ticked.length, said = bar.querySelector('.pxui-compare-said');
  bar.hidden = !n && !element.querySelector('.pxui-tick');
  said.classList.toggle('pxui-refused', !!refusal);
  said.textContent = refusal || (n === 0 ? said.dataset.hint : n === 1
    ? '1 ticked: tick one more to compare.' : n + ' ticked: press Compare to see them together.');
  const go = bar.querySelector('.pxui-compare-go');
  go.disabled = n < 2;
  go.textContent = n < 2 ? 'Compare' : 'Compare ' + n;
  bar.querySelector('.pxui-compare-clear').hidden = !n;
};
element.addEventListener('change', (event) => {
  const box = event.target;
  if (!box.closest || !box.closest('.pxui-tick')) return;
  const id = box.closest('.pxui-card').dataset.id;
  refusal = '';
  if (box.checked && !ticked.includes(id)) {
    if (ticked.length >= most) {
      box.checked = false;
      refusal = element.querySelector('.pxui-compare-said').dataset.tooMany;
    } else ticked.push(id);
  } else if (!box.checked) ticked = ticked.filter((t) => t !== id);
  sync();
});
element.addEventListener('click', (event) => {
  const at = event.target;
  if (!at.closest || at.closest('.pxui-tick')) return;  // a tick is not a pick
  if (at.closest('.pxui-compare-go')) {
    if (ticked.length >= 2) trigger('compare', {index: ticked.length, value: [...ticked]});
    return;
  }
  if (at.closest('.pxui-compare-clear')) { ticked = []; refusal = ''; sync(); return; }
  const card = at.closest('.pxui-card');
  if (!card) return;
  picked = card.dataset.id;
  sync();
  trigger('select', {index: cards().indexOf(card), value: card.dataset.id});
});
element.addEventListener('keydown', (event) => {
  const card = event.target;
  if (!card.classList || !card.classList.contains('pxui-card')) return;
  if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); card.click(); }
});
watch('value', sync);
sync();
"""
)
#: The page facts ``cards_html`` writes into its first tag, for the pager (``pager_of``).
_PAGER_FACTS = re.compile(
    r'^<div class="pxui-history" data-page="(\d+)" data-pages="(\d+)" data-range="([^"<>&]*)">'
)


def acting_on(item: HistoryItem) -> str:
    """The line above Star, Note and Export that names the item they act on."""
    prompt = html.escape(item.short_prompt(40))
    return f"Star, Note and Export act on **{prompt}** (id `{item.ident}`)."


def caption(item: HistoryItem) -> str:
    """A history item's one line under its preview."""
    return ("★ " if item.starred else "") + f"{item.short_prompt(60)} · {item.facts()}"


def still_size(aspect_ratio: str) -> tuple[int, int]:
    """A still's box in CSS pixels: ``STILL_SIDE`` on its longer side, the other as the aspect
    ratio says (16:9 for a ratio the ledger does not know, as an adopted job's)."""
    w, h = params.frame_size(
        aspect_ratio if aspect_ratio in params.ASPECT_RATIOS else params.DEFAULT_ASPECT_RATIO,
        params.RESOLUTIONS[0],
    )
    scale = STILL_SIDE / max(w, h)
    return round(w * scale), round(h * scale)


def text(words: str) -> str:
    """Words for an HTML text node, as they are: ``<``, ``>`` and ``&`` escaped (quotes only
    matter in attributes, which take ``html.escape`` whole)."""
    return html.escape(words, quote=False)


def image_size(item: HistoryItem) -> tuple[int, int]:
    """The box of a card's thumbnail of the image a job started from: ``IMAGE_SIDE`` on its
    longer side (a square when the ledger does not know its size)."""
    w, h = item.image_width or 1, item.image_height or 1
    scale = IMAGE_SIDE / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def url_host(url: str | None) -> str:
    """The host a URL names (``example.com``), for words; "" when it names none."""
    try:
        return urlsplit(url or "").hostname or ""
    except ValueError:
        return ""


def started_from(item: HistoryItem, image: str | None) -> tuple[str, str]:
    """What a card shows of the image an image-to-video job started from: a thumbnail of the
    ledger's copy (``image`` its published URL) beside the still, or for a URL job its host in
    words (nothing is fetched); ("", "") for a text-to-video job."""
    if image is not None:
        width, height = image_size(item)
        thumb = (
            f'<img class="pxui-from" src="{html.escape(image)}" alt="the image it started from"'
            f' title="the image it started from" loading="lazy" width="{width}"'
            f' height="{height}" style="width:{width}px;height:{height}px">'
        )
        return thumb, ""
    if item.image_source == images.URL:
        host = url_host(item.image_url)
        words = f"from an image at {host}" if host else "from an image URL"
        return "", f'<span class="pxui-from-url">{text(words)}</span>'
    if item.image_source:
        return "", '<span class="pxui-from-url">from an image no longer kept</span>'
    return "", ""


def card(item: HistoryItem, still: str | None, image: str | None = None) -> str:
    """One item as a card: its still (``still`` a URL, None for none yet) with the image it
    started from (``image`` a URL, or its URL's host in words), prompt, state, settings, cost,
    time and note; every word of the person's own escaped."""
    width, height = still_size(item.aspect_ratio)
    box = f'style="width:{width}px;height:{height}px"'
    if still is None:
        picture = f'<div class="pxui-still pxui-nostill" {box}></div>'
    else:
        picture = (
            f'<img class="pxui-still" src="{html.escape(still)}" alt="" loading="lazy"'
            f' width="{width}" height="{height}" {box}>'
        )
    thumb, source = started_from(item, image)
    if thumb:
        picture = f'<div class="pxui-pictures">{picture}{thumb}</div>'
    star = '<span class="pxui-star" title="starred">★</span> ' if item.starred else ""
    state = item.state.value
    facts = [
        f'<span class="pxui-state pxui-state-{state}">{text(item.state.word)}</span>',
        text(item.settings),
        *([source] if source else []),
        text(item.cost_words()),
        text(item.when(local=False)),
    ]
    note = f'<p class="pxui-note">{text(item.note)}</p>' if item.note else ""
    # a finished video can be ticked for Compare (the page's script keeps the ticks)
    tick = (
        '<label class="pxui-tick"><input type="checkbox"> compare</label>'
        if item.state is Status.DONE and item.has_video
        else ""
    )
    return (
        f'<li class="pxui-card" data-id="{html.escape(item.client_request_id)}" tabindex="0"'
        f' title="Click to load it into the form">{picture}'
        f'<div class="pxui-card-text"><p class="pxui-prompt">{star}'
        f"{text(item.short_prompt(300))}</p>"
        f'<p class="pxui-facts">{" · ".join(facts)}</p>{note}{tick}</div></li>'
    )


def cards_html(
    page: HistoryPage,
    stills: dict[str, str],
    *,
    filtered: bool,
    started: dict[str, str] | None = None,
) -> str:
    """A page of items as cards, under the range they are (``13–24 of 10,000``); ``stills``
    and ``started`` (the images jobs started from) URLs by client request id. Its first tag
    carries the page's number and count for the pager."""
    started = started or {}
    head = (
        f'<div class="pxui-history" data-page="{page.number}" data-pages="{page.pages}"'
        f' data-range="{page.range_text()}">'
    )
    if not page.items:
        return f'{head}<p class="pxui-range">{NONE_MATCH if filtered else EMPTY}</p></div>'
    cards = "".join(
        card(i, stills.get(i.client_request_id), started.get(i.client_request_id))
        for i in page.items
    )
    return (
        f'{head}<p class="pxui-range">Generations {page.range_text()}, newest first</p>'
        f'<ul class="pxui-cards">{cards}</ul></div>'
    )


def pager_of(cards: Any) -> tuple[int, int, str]:
    """(page, pages, range) as ``cards_html`` wrote them; (1, 1, "") for anything else (a
    sentence instead of cards)."""
    found = _PAGER_FACTS.match(cards) if isinstance(cards, str) else None
    return (int(found[1]), int(found[2]), found[3]) if found else (1, 1, "")


def page_of(value: Any) -> int:
    """The page asked for, from 1; a ``ValidationError`` for anything but a whole number."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if not (whole or (isinstance(value, float) and value.is_integer())):
        raise errors.ValidationError(
            f"The page must be a whole number from 1; got {params.shown(value)}.", field="page"
        )
    return max(1, int(value))


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


def frame_file(item: HistoryItem, which: str, folder: Path) -> Path:
    """The ``which`` frame of ``item``'s video as a PNG in ``folder`` (checked as any image
    sent is: ``images.prepare``)."""
    frame = images.prepare(images.Frame(item.video_path, which))
    target = folder / f"{which}-frame-{safe_name(item.ident)}.png"
    target.write_bytes(frame.content())
    return target


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
                info="Searches as you type (Enter searches at once).",
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
        with gr.Row(equal_height=True, elem_id="history-pager"):  # one line on a phone too
            self.refresh = gr.Button(
                "Refresh history", elem_id="refresh-history", size="sm", min_width=80
            )
            self.newer = gr.Button(
                "← Newer", elem_id="history-newer", size="sm", interactive=False, min_width=80
            )
            self.older = gr.Button(
                "Older →", elem_id="history-older", size="sm", interactive=False, min_width=80
            )
        # pressed by the page when typing in Search pauses (SEARCH_AS_YOU_TYPE_JS)
        self.search_go = gr.Button("Search", visible="hidden", elem_id="history-search-go")
        self.range = gr.Markdown("", elem_id="history-range")
        # the page shown, from 1: an input of list_history (the buttons and filters set it in
        # the page before it runs) and set again, clamped, by follow_pager
        self.page_number = gr.Number(1, precision=0, visible=False, elem_id="history-page")
        self.picked_note = gr.Markdown("", elem_id="picked-note")
        # the finished videos' stills, for API and MCP callers only: the page shows the cards
        self.gallery = gr.Gallery(visible=False, elem_id="history-gallery")
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
        with gr.Row(equal_height=True, elem_id="history-animate"):
            self.frame_choice = gr.Radio(
                [("first frame", images.FIRST), ("last frame", images.LAST)],
                value=images.LAST,
                label="Animate from the picked video's",
                elem_id="animate-which",
                min_width=160,
            )
            self.animate_button = gr.Button(
                "Animate from this frame", size="sm", elem_id="animate-frame", min_width=120
            )
        self.export_file = gr.File(label="Export", visible=False, elem_id="export-file")
        # the one view: the page's items as cards, to pick and to tick for Compare (the id
        # predates them: tests and helpers look for it)
        self.table = gr.HTML(
            EMPTY,
            elem_id="history-table",
            html_template=CARDS_TEMPLATE,
            css_template=CARDS_CSS,
            js_on_load=CARDS_JS,
        )
        # The ids of the page's cards, in order. Not gr.State: Gradio's MCP tools fail on State
        # outputs ("pop index out of range"), and API callers may use the ids.
        self.ids = gr.JSON([], visible=False)
        for component in (
            self.search, self.state, self.resolution, self.period, self.starred_only,
            self.page_number, self.selected, self.star, self.note, self.frame_choice,
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
            self.page_number,
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
        self.follow_after(listed, visitor)
        for source in (self.state, self.resolution, self.period, self.starred_only):
            self.refresh_after(source.input, visitor, js=FIRST_PAGE_JS)
        self.refresh_after(self.search.submit, visitor, js=FIRST_PAGE_JS)
        self.search.input(None, js=SEARCH_AS_YOU_TYPE_JS, queue=False)
        # Enter has searched: the pause's search still to come would search again, from the
        # first page, after the visitor had moved on (to "Older →", say)
        self.search.submit(None, js=SEARCH_NOW_JS, queue=False)
        self.refresh_after(self.search_go.click, visitor, js=FIRST_PAGE_JS)
        self.refresh_after(self.newer.click, visitor, js=NEWER_JS)
        self.refresh_after(self.older.click, visitor, js=OLDER_JS)
        #: What a pick answers, in order; its refusals leave all but the last (the sentence) alone
        self.pick_outputs = [
            *g.form, *g.image_fields, g.body, g.body_file, g.video, g.status, self.selected,
            self.star, self.note, self.acting_on, self.picked_note,
        ]  # fmt: skip
        picked = self.table.select(
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
        animated = self.animate_button.click(
            self.animate,
            inputs=[self.selected, self.frame_choice, g.api_key, visitor],
            outputs=[*g.image_fields, g.aspect, self.picked_note],
            api_visibility="private",
        )
        g.quote_after(animated.then, visitor)  # the frame is priced at its own shape
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

    def refresh_after(
        self, event: Any, visitor: gr.Textbox, *, js: str | None = None, quietly: bool = False
    ) -> None:
        """Show the history again after ``event`` (a page load, a generation's end, a filter),
        and keep the pick only if it is still shown (by its id; the cards' script marks it
        where it now is). ``js`` changes the inputs in the page first (``FIRST_PAGE_JS``...);
        ``quietly``: no progress shown over the cards (a redraw the visitor did not ask for)."""
        shown = event(
            self.list_history,
            inputs=self.inputs(visitor),
            outputs=self.outputs,
            api_visibility="private",
            js=js,
            show_progress="hidden" if quietly else "full",
        )
        self.follow_after(shown, visitor)

    def follow_after(self, shown: Any, visitor: gr.Textbox) -> None:
        """Once ``shown`` has shown the history again, make the pick and the pager follow it."""
        shown.then(
            self.follow_pick,
            inputs=[self.ids, self.selected, self.generate.api_key, visitor],
            outputs=[self.selected, self.star, self.note, self.acting_on, self.picked_note],
            api_visibility="private",
            queue=False,
        )
        shown.then(
            self.follow_pager,
            inputs=[self.table],
            outputs=[self.page_number, self.newer, self.range, self.older],
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
        page: int = 1,
        request: gr.Request = None,  # type: ignore[assignment]
        x_aimlapi_key: gr.Header | None = None,
    ) -> tuple[Any, list[str], str]:
        """Your past generations, newest first, with their state, settings, cost and notes,
        12 at a time.

        Args:
            api_key: Leave empty; send your key in the X-AIMLAPI-Key header instead.
            visitor: The token from visitor_token you gave generate, when you gave no key.
            search: Words to find in prompts and notes; empty for all.
            state: "any", or one of submitting, unconfirmed, rejected, running, done, failed
                ("sending" and "refused", as the page shows them, are taken too).
            starred_only: True for starred generations only.
            resolution: "any", or 360p, 540p, 720p or 1080p.
            period: "any time", "today", "last 7 days" or "last 30 days".
            page: 1 for the newest 12 found, 2 for the 12 before them, and so on (a page past
                the last gives the last).

        Returns:
            The page's finished videos (a still of each), the ids of every job of the page,
            and every job of the page as HTML cards (prompt, state, settings, cost, star, time,
            note), under the range they are, such as "Generations 13–24 of 10,000".
        """
        try:
            who = caller(self.page, api_key, x_aimlapi_key, visitor, request)
            ledger = self.page.app.ledger
            query = query_of(search, state, starred_only, resolution, period, ledger.clock.now())
            number = page_of(page)
        except errors.PixVerseError as exc:
            return [], [], text(error_markdown(exc))
        shown = history_page(ledger, who.owner, query, page=number, size=PAGE_SIZE)
        previews, ids, stills, started = [], [], {}, {}
        for item in shown.items:
            ids.append(item.client_request_id)  # every card, in order: a pick is its index
            if item.has_image_file:
                assert item.image_path is not None
                started[item.client_request_id] = "gradio_api/file=" + self.page.publisher.file(
                    item.image_path
                )
            if item.state is Status.DONE and item.has_video:
                assert item.video_path is not None
                still = self.page.publisher.file(poster_or_none(item.video_path) or item.video_path)
                stills[item.client_request_id] = "gradio_api/file=" + still
                previews.append((still, caption(item)))
        filtered = query != HistoryQuery()
        return previews, ids, cards_html(shown, stills, filtered=filtered, started=started)

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
        image = loaded_image(*self.image_of(item))
        return (
            *loaded_form(item.params, image=image[2] is not None),
            *image,
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

    def image_of(self, item: HistoryItem) -> tuple[str | None, str | None]:
        """(upload, URL): the image ``item`` started from, as the form takes it back: the
        ledger's copy published for this session, or the URL as sent; (None, None) for none."""
        if item.has_image_file:
            assert item.image_path is not None
            return self.page.publisher.file(item.image_path), None
        if item.image_source == images.URL and item.image_url:
            return None, item.image_url
        return None, None

    def animate(
        self,
        selected: Any,
        which: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, ...]:
        """The first or last frame of the picked video loaded as the form's image (an uploaded
        PNG, published for this session); nothing is sent until Generate."""
        unchanged = (gr.update(),) * 5
        page = self.page
        try:
            who = caller(page, api_key, None, visitor, request)
            if not isinstance(selected, str) or not selected:
                return (*unchanged, PICK_FIRST.format(doing="animate from its frame"))
            if which not in (images.FIRST, images.LAST):
                raise errors.ValidationError(
                    f"Animate from the 'first' or the 'last' frame; got {params.shown(which)}.",
                    field="frame",
                )
            item = own_item(page.app.ledger, who.owner, selected)
            if item is None:
                return (*unchanged, NOT_YOURS)
            if not item.has_video:
                raise errors.ValidationError(
                    "That generation has no video yet to take a frame of.", field="image"
                )
            assert item.video_path is not None
            frame = page.publisher.derived(
                ("frame", which, *version(item.video_path)),
                lambda folder: frame_file(item, which, folder),
            )
        except errors.PixVerseError as exc:
            return (*unchanged, error_markdown(exc))
        return (
            *loaded_image(frame, None),
            gr.update(value=None, interactive=False),
            f"The {which} frame of `{item.ident}` is the form's image now. Write a prompt and "
            "press **Generate** to animate it (nothing is sent before).",
        )

    def follow_pick(
        self,
        ids: Any,
        selected: Any,
        api_key: Any,
        visitor: Any,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> tuple[Any, ...]:
        """After the cards are shown again: the picked item kept while it is shown (the cards'
        script marks it where it now is), or, when it is no longer shown, no pick at all (never
        the item now at its old place).

        With no pick when the redraw read the page, nothing changes: a pick made while a redraw
        the visitor did not ask for was in flight (the timer's) is the visitor's, not undone.
        A pick the redraw no longer shows (made on the cards a search was replacing, say) is
        said to be gone, never dropped in silence."""
        if not isinstance(selected, str) or not selected:
            return (gr.skip(),) * 5
        shown = ids if isinstance(ids, list) else []
        item = None
        if selected in shown:
            try:
                who = caller(self.page, api_key, None, visitor, request)
                item = own_item(self.page.app.ledger, who.owner, selected)
            except errors.PixVerseError:
                item = None
        if item is None:
            return "", False, "", NOTHING_PICKED, PICK_HIDDEN
        # the same item stays picked: its star and note fields keep what the person may be
        # typing into them right now (a redraw must never erase a note before it is saved)
        return selected, gr.skip(), gr.skip(), acting_on(item), gr.skip()

    def follow_pager(self, cards: Any) -> tuple[Any, ...]:
        """After the history is shown again: the page number it showed (a page past the last
        was the last), the range, and Newer and Older enabled where there is a page to go to."""
        number, pages, shown = pager_of(cards)
        return (
            number,
            gr.update(interactive=number > 1),
            f"Generations {shown}, page {number:,} of {pages:,}" if pages > 1 else "",
            gr.update(interactive=number < pages),
        )

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
                return PICK_FIRST.format(doing=doing)
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
            if not isinstance(selected, str) or not selected:
                return hidden, PICK_FIRST.format(doing="export it")
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
