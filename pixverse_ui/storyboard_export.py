"""A storyboard's zip: the stitched MP4, ``storyboard.json`` (every shot's exact request), every
take used (``shot-K.mp4``, and a shot's own local image), and ``reproduce.py``, which makes the
same storyboard again with the key from ``$AIMLAPI_KEY`` (needs ``requests`` and ``av``: a chained
shot is sent the last frame of the video it has just made). No key is written into it."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from .board import Board
from .client import DEFAULT_BASE_URL, ENDPOINT
from .export import IMAGE_NAMES, _executable, _exportable, _local_image
from .names import safe_name
from .store import JobRecord

STORYBOARD_NAME = "storyboard.json"
SCRIPT_NAME = "reproduce.py"

_SCRIPT = '''#!/usr/bin/env python3
"""Make this storyboard again: each shot's request sent in order, a chained shot from the last
frame of the shot before it, then the shots joined into storyboard.mp4.

    AIMLAPI_KEY=... python reproduce.py

Needs `requests` and `av` (PyAV). This starts NEW generations, which cost credits. The key is read
from $AIMLAPI_KEY and written nowhere; $AIMLAPI_BASE_URL names the API (default {base}).
Made by pixverse-ui.
"""

import base64
import io
import json
import os
import sys
import time
import uuid

import av
import requests

HERE = os.path.dirname(os.path.abspath(__file__))


def last_frame_uri(path):
    with av.open(path) as container:
        last = None
        for frame in container.decode(video=0):
            last = frame
    out = io.BytesIO()
    last.to_image().save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def file_uri(name, mime):
    with open(os.path.join(HERE, name), "rb") as image:
        return "data:" + mime + ";base64," + base64.b64encode(image.read()).decode("ascii")


def make(body, key, base, dest):
    headers = {{"Authorization": "Bearer " + key, "X-Client-Request-Id": uuid.uuid4().hex}}
    answer = requests.post(base + "{endpoint}", json=body, headers=headers, timeout=(10, 60))
    answer.raise_for_status()
    gid = answer.json()["id"]
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline:
        time.sleep(float(os.environ.get("REPRODUCE_POLL_SECONDS", "15")))
        state = requests.get(base + "{endpoint}", params={{"generation_id": gid}},
                             headers={{"Authorization": "Bearer " + key}}, timeout=(10, 60)).json()
        if state.get("status") in ("completed", "succeeded"):
            url = (state.get("video") or {{}}).get("url")
            with requests.get(url, stream=True, timeout=(10, 120)) as video:
                with open(dest, "wb") as out:
                    for chunk in video.iter_content(1 << 16):
                        out.write(chunk)
            return dest
        if state.get("status") in ("error", "failed"):
            raise SystemExit("Generation " + gid + " failed: " + json.dumps(state)[:300])
    raise SystemExit("Generation " + gid + " took too long; it goes on at the provider.")


def main():
    key = os.environ.get("AIMLAPI_KEY", "").strip()
    if not key:
        print("Set AIMLAPI_KEY to your AI/ML API key first; nothing was sent.", file=sys.stderr)
        return 2
    base = (os.environ.get("AIMLAPI_BASE_URL") or "{base}").rstrip("/")
    with open(os.path.join(HERE, "storyboard.json"), encoding="utf-8") as f:
        board = json.load(f)
    made = []
    for k, shot in enumerate(board["shots"], 1):
        body = dict(shot["request"])
        if shot.get("from_previous"):
            body["image_url"] = last_frame_uri(made[-1])
        elif shot.get("image_file"):
            body["image_url"] = file_uri(shot["image_file"], shot["image_type"])
        made.append(make(body, key, base, os.path.join(HERE, "new-shot-%d.mp4" % k)))
        print("shot", k, "->", made[-1], flush=True)
    with av.open(os.path.join(HERE, "new-storyboard.mp4"), "w") as out:
        first = av.open(made[0])
        src = first.streams.video[0]
        stream = out.add_stream("libx264", rate=src.average_rate)
        stream.width, stream.height, stream.pix_fmt = src.width, src.height, "yuv420p"
        first.close()
        index = 0
        for path in made:
            with av.open(path) as container:
                for frame in container.decode(video=0):
                    picture = frame.to_image().resize((stream.width, stream.height))
                    new = av.VideoFrame.from_image(picture)
                    new.pts = index
                    index += 1
                    out.mux(stream.encode(new))
        out.mux(stream.encode(None))
    print("stitched -> new-storyboard.mp4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def export_board(board: Board, records: list[JobRecord], folder: Path) -> Path:
    """Write ``<id>.zip`` into ``folder`` (see the module's text); its path. ``records``: each
    shot's chosen take's ledger row, in order (each must have its video: ``ExportError``)."""
    videos = [_exportable(record) for record in records]
    shots: list[dict[str, Any]] = []
    images: list[tuple[str, bytes]] = []
    for k, (shot, record) in enumerate(zip(board.storyboard.shots, records, strict=True), 1):
        body = record.request
        entry: dict[str, Any] = {
            "prompt": shot.prompt,
            "from_previous": shot.from_previous,
            "video": f"shot-{k}.mp4",
            "generation_id": record.generation_id,
        }
        image = None if shot.from_previous else _local_image(record)
        if image is not None:
            name = f"shot-{k}-{IMAGE_NAMES[image.mime or '']}"
            entry.update(image_file=name, image_type=image.mime)
            images.append((name, image.content()))
        body.pop("image_url", None) if shot.from_previous or image is not None else None
        entry["request"] = body
        shots.append(entry)
    meta = {**board.storyboard.to_json(), "id": board.id, "shots": shots}
    folder.mkdir(parents=True, exist_ok=True)
    stem = safe_name(board.id)
    target = folder / f"{stem}.zip"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=".part")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            assert board.stitched_path is not None
            archive.write(board.stitched_path, f"{stem}.mp4", compress_type=zipfile.ZIP_STORED)
            archive.writestr(STORYBOARD_NAME, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
            for k, video in enumerate(videos, 1):
                archive.write(video, f"shot-{k}.mp4", compress_type=zipfile.ZIP_STORED)
            for name, data in images:
                archive.writestr(name, data)
            script = _SCRIPT.format(base=DEFAULT_BASE_URL, endpoint=ENDPOINT)
            archive.writestr(_executable(SCRIPT_NAME), script)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
