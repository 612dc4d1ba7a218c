"""A storyboard: shots in order, made into videos and stitched into one MP4 (the library's
functions; the values are ``board.py``, the running ``storyboard_run.py``).

    from pixverse_ui import storyboard
    board = storyboard.run("film.json")          # or a dict of the same shape
    storyboard.reroll(board.id, 2)               # a new take of shot 2, and the shots chained to it
    storyboard.choose(board.id, 2, 1)            # take 1 of shot 2 back, for free
    storyboard.stitch(board.id); storyboard.export(board.id, "out")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .board import Board, Shot, Storyboard, Take, load, parse
from .storyboard_run import Outcome, Runner

__all__ = [
    "Board", "Outcome", "Shot", "Storyboard", "Take", "choose", "export", "load", "parse",
    "reroll", "resume", "run", "stitch",
]  # fmt: skip


# --- the library's functions --------------------------------------------------------------------


def run(source: Any, **service: Any) -> Outcome:
    """Run a storyboard (a file's path, JSON text or a dict): one quote and one budget check for
    every shot, then the shots, chained ones from their previous shot's last frame, then the
    stitch. Returns its :class:`storyboard_run.Outcome`. ``service``: ``client``, ``ledger``,
    ``download_dir``, ``budget``, ``on_event`` (a callable given each sentence as it comes)."""
    return Runner.local(**service).run(load(source))


def reroll(board_id: str, k: int, prompt: str | None = None, **service: Any) -> Outcome:
    """A new take of shot ``k`` (from 1) with a new seed (or ``prompt``), and new takes of the
    shots chained after it from its last frame, then a new stitch."""
    return Runner.local(**service).reroll(board_id, k, prompt=prompt)


def resume(board_id: str, **service: Any) -> Outcome:
    """Finish a storyboard a stopped process left: shots done are not sent again, a shot whose
    job runs is watched, not sent again."""
    return Runner.local(**service).finish(board_id)


def choose(board_id: str, k: int, take: int, **service: Any) -> Board:
    """Have shot ``k`` use its take ``take`` (both from 1): free, nothing is sent."""
    return Runner.local(**service).choose(board_id, k, take)


def stitch(board_id: str, **service: Any) -> Path:
    """Join the chosen takes into one MP4 (``stitch.py``); its path."""
    return Runner.local(**service).stitch(board_id)


def export(board_id: str, folder: str | os.PathLike[str], **service: Any) -> Path:
    """Write ``<id>.zip``: the stitched MP4, ``storyboard.json`` (every shot's exact request),
    every take used, and ``reproduce.py``; its path."""
    return Runner.local(**service).export(board_id, Path(folder))
