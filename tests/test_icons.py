"""The page's and the terminal's state icons are plain text characters: no emoji font needed.

Debian's Chromium with only its default fonts drew ⏳, ✅, ❌ and 🚫 as empty boxes. The icons
now come from blocks that text fonts carry (DejaVu Sans has every one of them).
"""

from __future__ import annotations

import unicodedata

from pixverse_ui.lifecycle import LABELS, STOPPED_ICON, TRANSIENT_ICON
from pixverse_ui.ui.common import refused_html, status_html
from pixverse_ui.ui.generate import SENDING, STOPPED

#: Unicode blocks that hold emoji-only pictographs, and the emoji presentation selector.
EMOJI_BLOCKS = [(0x1F000, 0x1FAFF), (0x2300, 0x23FF)]
EMOJI_ONLY = {0x2705, 0x274C, 0x274E, 0x2753, 0x2754, 0x2755, 0x2757, 0xFE0F}


def _emoji(text: str) -> list[str]:
    return [
        f"{char} ({unicodedata.name(char, hex(ord(char)))})"
        for char in text
        if ord(char) in EMOJI_ONLY or any(lo <= ord(char) <= hi for lo, hi in EMOJI_BLOCKS)
    ]


def test_no_state_icon_needs_an_emoji_font():
    icons = "".join(label.icon for label in LABELS.values()) + TRANSIENT_ICON + STOPPED_ICON
    assert _emoji(icons) == []
    assert len(set(label.icon for label in LABELS.values())) == len(LABELS)  # told apart


def test_the_status_panel_and_its_sentences_use_no_emoji():
    from pixverse_ui import errors

    said = refused_html(errors.ValidationError("The prompt is empty."))
    assert _emoji(said + SENDING + STOPPED + status_html(None)) == []
