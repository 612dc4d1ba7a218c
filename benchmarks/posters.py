"""Posters: what one still of a 720p video and a contact sheet of a batch cost.

A history shows a poster per video, so taking one must cost a small part of reading the video.
The video is 720p, 24 fps, 5 s, encoded by libx264 with its default keyframe spacing (denser
than the simulator's 8 fps clips, as a real video is). A poster (seek, decode up to 1 s, scale,
JPEG) is timed against decoding the whole video, in the same run, taking turns: with the first
keyframe at 0 it decodes 25 of 120 frames, so it should cost well under the whole (target 0.6x,
leaving room for opening the file and writing the JPEG). Then a contact sheet of six such videos,
with and without their posters made.
"""

from __future__ import annotations

import time
from pathlib import Path
from tempfile import TemporaryDirectory

import av
from PIL import Image, ImageDraw

from pixverse_ui.posters import contact_sheet, poster, poster_path

from .common import Row, interleaved, median, ratio, say, seconds

NAME = "posters"
SHEET_VIDEOS = 6


def _video(path: Path, seed: int) -> Path:
    """A 720p, 24 fps, 5 s H.264 MP4 with motion in every frame."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "veryfast"}
        for i in range(24 * 5):
            image = Image.new("RGB", (1280, 720), ((i * 2 + seed * 40) % 255, 80, 160))
            ImageDraw.Draw(image).ellipse((i * 8, 200, i * 8 + 200, 400), fill=(255, 255, 0))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _poster(video: Path) -> float:
    poster_path(video).unlink(missing_ok=True)
    start = time.perf_counter()
    poster(video)
    return time.perf_counter() - start


def _decode_all(video: Path) -> float:
    start = time.perf_counter()
    with av.open(str(video)) as container:
        for _ in container.decode(video=0):
            pass
    return time.perf_counter() - start


def _sheet(videos: list[Path], dest: Path, *, cold: bool) -> float:
    if cold:
        for video in videos:
            poster_path(video).unlink(missing_ok=True)
    start = time.perf_counter()
    contact_sheet([(v, f"seed {i}") for i, v in enumerate(videos)], dest)
    return time.perf_counter() - start


def run(quick: bool = False) -> list[Row]:
    repeats = 5 if quick else 11
    with TemporaryDirectory(prefix="pxui-bench-posters-") as tmp:
        folder = Path(tmp)
        videos = [_video(folder / f"v{i}.mp4", i) for i in range(SHEET_VIDEOS)]
        say(f"  posters: 720p 24 fps 5 s, poster vs whole decode, {repeats} rounds")
        samples = interleaved(
            {"poster": lambda: _poster(videos[0]), "decode": lambda: _decode_all(videos[0])},
            repeats,
        )
        one, whole = median(samples["poster"]), median(samples["decode"])
        sheets = interleaved(
            {
                "cold": lambda: _sheet(videos, folder / "sheet.png", cold=True),
                "warm": lambda: _sheet(videos, folder / "sheet.png", cold=False),
            },
            repeats,
        )
        cold, warm = median(sheets["cold"]), median(sheets["warm"])
    return [
        Row(
            NAME,
            f"one poster of a 720p 24 fps video vs decoding all of it (median of {repeats})",
            seconds(one),
            seconds(whole),
            ratio(one, whole),
            "<= 0.6x",
            ratio(one, whole) <= 0.6,
        ),
        Row(
            NAME,
            f"contact sheet of {SHEET_VIDEOS} videos: posters to make vs made (median)",
            seconds(cold),
            seconds(warm),
            ratio(cold, warm),
            "—",
            None,
        ),
    ]
