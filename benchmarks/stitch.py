"""Stitching: three 720p 5 s takes joined by copying their packets (``stitch.stitch``, the path a
storyboard's matching takes take) against decoding and encoding them all again with PyAV
(``stitch._encode``, the path for takes that differ), in the same run, taking turns. Target:
at most 0.5x of the re-encode."""

from __future__ import annotations

import time
from pathlib import Path
from tempfile import TemporaryDirectory

from pixverse_ui.stitch import _encode, probe, stitch

from .common import Row, interleaved, median, ratio, say, seconds
from .posters import _video

NAME = "stitch"
TAKES = 3


def _timed_copy(videos: list[Path], dest: Path) -> float:
    start = time.perf_counter()
    stitch(videos, dest)
    return time.perf_counter() - start


def _timed_encode(videos: list[Path], dest: Path) -> float:
    start = time.perf_counter()
    _encode(videos, [probe(v) for v in videos], str(dest))
    return time.perf_counter() - start


def run(quick: bool = False) -> list[Row]:
    repeats = 3 if quick else 5
    with TemporaryDirectory(prefix="pxui-bench-stitch-") as tmp:
        folder = Path(tmp)
        videos = [_video(folder / f"take{i}.mp4", i) for i in range(TAKES)]
        say(f"  stitch: {TAKES} takes of 720p 24 fps 5 s, copy vs re-encode, {repeats} rounds")
        samples = interleaved(
            {
                "copy": lambda: _timed_copy(videos, folder / "copied.mp4"),
                "encode": lambda: _timed_encode(videos, folder / "encoded.mp4"),
            },
            repeats,
        )
    copied, encoded = median(samples["copy"]), median(samples["encode"])
    return [
        Row(
            NAME,
            f"stitch {TAKES} matching 720p 5 s takes vs re-encoding them (median of {repeats})",
            seconds(copied),
            seconds(encoded),
            ratio(copied, encoded),
            "<= 0.5x",
            ratio(copied, encoded) <= 0.5,
        )
    ]
