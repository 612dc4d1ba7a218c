"""Storyboards the tests make, written one way: as the JSON a file, the API and MCP take
(``board``), and as the Storyboard tab's fields (``slot_rows``)."""

from __future__ import annotations

from typing import Any


def board(
    *shots: tuple[str, int, bool],
    title: str = "The fox",
    resolution: str = "360p",
    aspect_ratio: str = "16:9",
) -> dict[str, Any]:
    """A storyboard's JSON object; each shot is (prompt, duration, whether it starts from the
    last frame of the shot before)."""
    return {
        "title": title,
        "resolution": resolution,
        "aspect_ratio": aspect_ratio,
        "shots": [
            {"prompt": prompt, "duration": duration, "from_previous": chained}
            for prompt, duration, chained in shots
        ],
    }


#: Two shots, the second starting from the first's last frame.
TWO_SHOTS = board(
    ("a fox wakes in the snow", 5, False),
    ("the fox runs to the river", 8, True),
    title="A fox at dawn",
)


def slot_rows(data: dict[str, Any]) -> list[Any]:
    """The tab's slot fields for ``data``'s shots: every prompt, then every duration, then every
    chain switch, the slots past its shots blank."""
    from pixverse_ui.ui.storyboard import SLOTS

    shots = data["shots"]
    blank = SLOTS - len(shots)
    return [
        *[s["prompt"] for s in shots], *[""] * blank,
        *[s["duration"] for s in shots], *[5] * blank,
        *[s["from_previous"] for s in shots], *[False] * blank,
    ]  # fmt: skip
