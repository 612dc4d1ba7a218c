"""The Variations tab's cards: each variant of a batch as a player in its own aspect ratio, with
what varied, where it is, and **Use this one** (a ``gr.HTML`` whose ``click`` event carries the
variant's id)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from .. import formatting

EMPTY_GRID = '<p class="pxui-batch-empty">Each variant plays here as soon as it is ready.</p>'
#: The tallest a card's player may be, in CSS pixels (a 9:16 one is then 236 px wide).
PLAYER_MAX_HEIGHT = 420
#: Scoped to the cards' component (``gr.HTML``'s ``css_template``). Each card is at most 360 px
#: wide; each player has its video's own aspect ratio, as wide as the card unless that would
#: make it taller than ``PLAYER_MAX_HEIGHT`` (see ``card_html``); nothing is wider than a phone.
GRID_CSS = """
.pxui-batch-grid {display: grid; gap: 10px;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 160px), 360px))}
.pxui-batch-card {margin: 0; min-width: 0; display: flex; flex-direction: column; gap: 4px}
.pxui-batch-card video, .pxui-batch-wait {display: block; height: auto; align-self: center;
  object-fit: contain; background: #000; border-radius: 6px}
.pxui-batch-wait {display: flex; align-items: center; justify-content: center;
  background: var(--block-background-fill, #f4f4f5); color: var(--body-text-color-subdued, #888);
  border: 1px dashed var(--border-color-primary, #ccc)}
.pxui-batch-card figcaption {overflow-wrap: anywhere; font-size: .9em; line-height: 1.3}
.pxui-batch-card button {align-self: flex-start; font: inherit; font-size: .9em; cursor: pointer;
  padding: .3em .9em; border-radius: var(--button-small-radius, 6px);
  border: 1px solid var(--button-secondary-border-color, #ccc);
  background: var(--button-secondary-background-fill, #eee);
  color: var(--button-secondary-text-color, inherit)}
"""
#: A press of a card's **Use this one** is the cards' ``click`` event, with that variant's id.
GRID_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest && event.target.closest('button[data-use]');
  if (button) trigger('click', {id: button.dataset.use});
});
"""


@dataclass(frozen=True)
class Card:
    """One variant as the tab shows it."""

    #: Its client request id: what **Use this one** loads.
    ident: str
    number: int
    #: What varied, with its value: ``seed 123``, ``style anime``, ``aspect ratio 9:16``.
    varied: str
    #: Its settings in one line (``16:9 · 540p · 5 s · seed 123``).
    settings: str
    #: Where it is: ``done in 0:14``, ``generating``, ``failed: ...``.
    state: str
    width: int
    height: int
    #: Seconds it has run while it runs (the page's clock moves it on), else None.
    elapsed: float | None = None
    #: The published video and its still, once it is ready.
    video: str | None = None
    poster: str | None = None


def grid_html(cards: Sequence[Card]) -> str:
    """The batch as cards (see :func:`card_html`), as many to a row as fit (one on a phone)."""
    if not cards:
        return EMPTY_GRID
    return f'<div class="pxui-batch-grid">{"".join(card_html(card) for card in cards)}</div>'


def card_html(card: Card) -> str:
    """One variant: its player in its own aspect ratio (its still as the poster) once it is
    ready, else a frame of that shape; what varied and where it is under it; and, once it is
    ready, **Use this one**."""
    widest = round(PLAYER_MAX_HEIGHT * card.width / card.height)
    shape = f"aspect-ratio: {card.width} / {card.height}; width: min(100%, {widest}px)"
    ident = html.escape(card.ident, quote=True)
    state = html.escape(card.state)
    if card.elapsed is not None:  # the page's clock moves it on between redraws
        clock = formatting.duration(card.elapsed)
        state += f' <span data-elapsed="{card.elapsed:.1f}">{clock}</span>'
    if card.video is None:
        media = f'<div class="pxui-batch-wait" style="{shape}">…</div>'
        use = ""
    else:
        poster = f' poster="{_url(card.poster)}"' if card.poster else ""
        media = (
            f'<video src="{_url(card.video)}"{poster} controls playsinline preload="metadata" '
            f'style="{shape}" aria-label="#{card.number}, {html.escape(card.varied)}"></video>'
        )
        use = f'<button type="button" class="pxui-use" data-use="{ident}">Use this one</button>'
    return (
        f'<figure class="pxui-batch-card" data-id="{ident}">{media}'
        f"<figcaption><b>#{card.number} · {html.escape(card.varied)}</b><br>{state}<br>"
        f"<small>{html.escape(card.settings)}</small></figcaption>{use}</figure>"
    )


def _url(published: str) -> str:
    return html.escape("gradio_api/file=" + published, quote=True)
