"""How times and short texts read wherever they are shown: the page, the command line,
notebooks, MCP answers.

Money has its own words in ``pricing`` (:func:`pricing.format_cost`: dollars with the credits
beside them); a length of time is ``m:ss`` (``h:mm:ss`` past an hour) everywhere; a prompt shown
in a line is :func:`one_line`.
"""

from __future__ import annotations

#: What is shown where a figure is not known.
MISSING = "—"


def duration(seconds: float | None, missing: str = MISSING) -> str:
    """``0:42``, ``12:05`` or ``1:02:03``; ``missing`` for None."""
    if seconds is None:
        return missing
    whole = max(0, int(round(seconds)))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def one_line(text: str, width: int) -> str:
    """``text`` on one line (its whitespace runs made single spaces), cut with ``…`` to
    ``width`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"
