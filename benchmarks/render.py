"""Render: what the simulator's MP4 costs at each resolution, so tests know what they pay.

``simulator.video.render_mp4`` draws a 16:9, 5 s, 8 fps video with Pillow and encodes it with
libx264 (ultrafast), into a fresh directory each time so its cache never answers. Resolutions take
turns, after an untimed round; each is given as a ratio to 360p. A 720p/10 s video shows how the
time grows with the frame count (duration x fps) as well as with the pixels.
"""

from __future__ import annotations

import tempfile

from pixverse_ui import params
from pixverse_ui.simulator.video import render_mp4

from .common import Row, interleaved, median, ratio, say, seconds, timed

NAME = "render"
Shape = tuple[str, int]
BASELINE: Shape = ("360p", 5)
SHAPES: list[Shape] = [*((r, 5) for r in params.RESOLUTIONS), ("720p", 10)]


def render_once(resolution: str, duration: int) -> float:
    """Seconds to render one 16:9 video of this shape with nothing cached."""
    body = {
        "prompt": "A lighthouse keeper climbing the stairs at dusk",
        "aspect_ratio": "16:9",
        "resolution": resolution,
        "duration": duration,
    }
    with tempfile.TemporaryDirectory(prefix="pxui-bench-render-") as tmp:
        return timed(lambda: render_mp4(body, tmp))


def run(quick: bool = False) -> list[Row]:
    repeats = 3 if quick else 9
    names = {f"{r} {d} s": (r, d) for r, d in SHAPES}
    say(f"  render: {', '.join(names)} at 16:9, {repeats} rounds")
    samples = interleaved({k: lambda s=s: render_once(*s) for k, s in names.items()}, repeats)
    base_name = f"{BASELINE[0]} {BASELINE[1]} s"
    base = median(samples[base_name])
    rows = []
    for name, (resolution, _duration) in names.items():
        took = median(samples[name])
        width, height = params.frame_size("16:9", resolution)
        rows.append(
            Row(
                NAME,
                f"{name} ({width}x{height}) vs {base_name} (median of {repeats})",
                seconds(took),
                seconds(base),
                ratio(took, base),
                "(cost for tests)",
                None,
            )
        )
    return rows
