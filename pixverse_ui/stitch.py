"""Join videos into one MP4, in order, with PyAV: a storyboard's chosen takes.

    from pixverse_ui.stitch import stitch
    stitch([shot1, shot2, shot3], Path("film.mp4"))

When every video matches the first (video codec and its setup, size, pixel format, frame rate,
time base; audio codec, rate and layout, or no audio in any), their packets are copied, each
video's timestamps moved on by the length of those before it: nothing is decoded or encoded.
Otherwise every video is decoded and encoded again (H.264, yuv420p) at the first's size and frame
rate, a video of another shape scaled to fit and padded with black; audio is kept (AAC) where a
video has it, and is silence where one has none. Either way the MP4 is written to a temporary
file beside ``dest`` and renamed over it (``os.replace``): a reader never sees half a video.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import PixVerseError

#: The sample rate and layout of re-encoded audio.
AUDIO_RATE, AUDIO_LAYOUT = 44100, "stereo"


@dataclass(frozen=True)
class Shape:
    """What must match for packets to be copied as they are."""

    codec: str
    extradata: bytes
    width: int
    height: int
    pix_fmt: str | None
    rate: Fraction
    time_base: Fraction
    audio: tuple[str, int, str, bytes] | None
    #: How long the video lasts, in seconds (its last frame's end).
    seconds: float


def probe(path: str | os.PathLike[str]) -> Shape:
    """The shape of ``path``'s first video stream (and first audio stream, if any)."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        ctx = video.codec_context
        audio = container.streams.audio[0] if container.streams.audio else None
        rate = Fraction(video.average_rate or video.guessed_rate or 25)
        seconds = float(video.duration * video.time_base) if video.duration else 0.0
        if not seconds and container.duration:
            seconds = container.duration / 1_000_000
        sound = None
        if audio is not None:
            a = audio.codec_context
            sound = (a.name, a.sample_rate, a.layout.name, bytes(a.extradata or b""))
        return Shape(
            ctx.name,
            bytes(ctx.extradata or b""),
            ctx.width,
            ctx.height,
            ctx.pix_fmt,
            rate,
            Fraction(video.time_base),
            sound,
            seconds,
        )


def copyable(shapes: Sequence[Shape]) -> bool:
    """Whether packets can be copied: every shape matches the first but for its length."""
    first = shapes[0]
    return all(
        (s.codec, s.extradata, s.width, s.height, s.pix_fmt, s.rate, s.time_base, s.audio)
        == (
            first.codec,
            first.extradata,
            first.width,
            first.height,
            first.pix_fmt,
            first.rate,
            first.time_base,
            first.audio,
        )
        for s in shapes
    )


def stitch(videos: Sequence[str | os.PathLike[str]], dest: str | os.PathLike[str]) -> Path:
    """Write ``videos`` joined in order to ``dest`` (see the module's text); its path.

    A video PyAV cannot read is a ``PixVerseError`` naming it, and ``dest`` is left as it was."""
    import av

    if not videos:
        raise PixVerseError("There is nothing to stitch: no video was given.")
    dest = Path(dest)
    shapes = []
    for video in videos:
        try:
            shapes.append(probe(video))
        except (av.FFmpegError, IndexError, OSError):
            raise PixVerseError(f"{video} is not a video PyAV can read.") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=".mp4.part")
    os.close(fd)
    try:
        if copyable(shapes):
            _copy(videos, shapes, tmp)
        else:
            _encode(videos, shapes, tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _copy(videos: Sequence[Any], shapes: Sequence[Shape], tmp: str) -> None:
    """Copy every packet, each video's timestamps moved on by the length of those before."""
    import av

    start = 0.0  # where the current video starts, in seconds
    with av.open(tmp, "w", format="mp4", options={"movflags": "+faststart"}) as out:
        outs: list[Any] = []
        for path, shape in zip(videos, shapes, strict=True):
            with av.open(str(path)) as src:
                streams = [src.streams.video[0], *src.streams.audio[:1]]
                if not outs:
                    outs = [out.add_stream_from_template(s) for s in streams]
                ends = [0] * len(streams)
                for packet in src.demux(streams):
                    if packet.dts is None:  # the demuxer's flush packet
                        continue
                    index = streams.index(packet.stream)
                    tb = packet.time_base
                    shift = round(start / tb)
                    ends[index] = max(ends[index], packet.pts + (packet.duration or 0))
                    packet.pts += shift
                    packet.dts += shift
                    packet.stream = outs[index]
                    out.mux(packet)
                video_end = float(ends[0] * streams[0].time_base)
            start += max(video_end, shape.seconds)


def _encode(videos: Sequence[Any], shapes: Sequence[Shape], tmp: str) -> None:
    """Decode every video and encode it again at the first's size and frame rate."""
    import av

    first = shapes[0]
    width, height, rate = first.width, first.height, first.rate
    audio_wanted = any(s.audio is not None for s in shapes)
    with av.open(tmp, "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "20"}
        audio = (
            out.add_stream("aac", rate=AUDIO_RATE, layout=AUDIO_LAYOUT) if audio_wanted else None
        )
        frames, samples = 0, 0
        for path, shape in zip(videos, shapes, strict=True):
            with av.open(str(path)) as src:
                count = _encode_video(src, out, video, frames, shape)
            frames += count
            length = count / rate  # the video's length as encoded
            if audio is not None:
                with av.open(str(path)) as src:
                    samples += _encode_audio(src, out, audio, samples, float(length))
        out.mux(video.encode(None))
        if audio is not None:
            out.mux(audio.encode(None))


def _encode_video(src: Any, out: Any, stream: Any, pts: int, shape: Shape) -> int:
    """Encode ``src``'s frames at ``stream``'s size and rate from ``pts`` on (a frame repeated
    or dropped where its rate differs); how many frames were written."""
    import av

    size, rate = (stream.width, stream.height), Fraction(stream.average_rate or stream.rate)
    wanted = max(1, round(shape.seconds * rate)) if shape.seconds else None
    written, last = 0, None
    for frame in src.decode(video=0):
        when = float(frame.time) if frame.time is not None else written / float(rate)
        last = _fitted(frame, size)
        while written <= when * rate + 1e-6 and (wanted is None or written < wanted):
            written = _put(out, stream, av.VideoFrame.from_image(last), pts, written)
    while last is not None and wanted is not None and written < wanted:
        written = _put(out, stream, av.VideoFrame.from_image(last), pts, written)
    return written


def _put(out: Any, stream: Any, frame: Any, pts: int, written: int) -> int:
    frame.pts = pts + written
    out.mux(stream.encode(frame))
    return written + 1


def _fitted(frame: Any, size: tuple[int, int]) -> Any:
    """The frame as a picture of ``size``: scaled to fit, padded with black."""
    picture = frame.to_image()
    if picture.size == size:
        return picture
    from PIL import Image

    scale = min(size[0] / picture.width, size[1] / picture.height)
    fit = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    canvas = Image.new("RGB", size)
    canvas.paste(picture.resize(fit), ((size[0] - fit[0]) // 2, (size[1] - fit[1]) // 2))
    return canvas


def _encode_audio(src: Any, out: Any, stream: Any, pts: int, seconds: float) -> int:
    """Encode ``seconds`` of ``src``'s audio from ``pts`` on (silence where it has none or
    ends early); how many samples were written."""
    import av

    wanted = round(seconds * AUDIO_RATE)
    written = 0
    if src.streams.audio:
        resampler = av.AudioResampler(format="fltp", layout=AUDIO_LAYOUT, rate=AUDIO_RATE)
        decoded = [f for frame in src.decode(audio=0) for f in resampler.resample(frame)]
        decoded += resampler.resample(None)
        for frame in decoded:
            if written >= wanted:
                break
            frame.pts = pts + written
            written += frame.samples
            out.mux(stream.encode(frame))
    while written < wanted:
        count = min(1024, wanted - written)
        silence = av.AudioFrame(format="fltp", layout=AUDIO_LAYOUT, samples=count)
        for plane in silence.planes:
            plane.update(bytes(plane.buffer_size))
        silence.sample_rate = AUDIO_RATE
        silence.pts = pts + written
        out.mux(stream.encode(silence))
        written += count
    return written
