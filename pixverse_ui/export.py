"""Export one finished generation as a zip that reproduces it anywhere.

    from pixverse_ui.export import export
    path = export(ledger.get("FxkOMGP_IRjjNHfzH3LTV"), Path("exports"))  # exports/<id>.zip

The zip holds four files: the MP4 (``<generation id>.mp4``), ``request.json`` (the body that was
sent, as the ledger holds it), ``reproduce.py`` (a standalone script that needs only
``requests``: it POSTs the same body to ``$AIMLAPI_BASE_URL``, default the AI/ML API, with the key
from ``$AIMLAPI_KEY``, polls until the job ends and downloads the video) and ``reproduce.sh`` (the
same POST as a curl command). No key is ever written into it: both scripts read it from the
environment when they run. Reproducing starts a new, paid generation; without a seed in the
request the API picks one, so the new video differs.

An image-to-video job from a local image has a fifth: the image (``image.png``, ``image.jpg`` or
``image.webp``: the bytes that were sent) beside the scripts, which send it again as a data: URI
read from that file when they run; ``request.json`` holds ``data:image/png;base64,<image.png>``
in its place. An image given as a URL is in ``request.json`` as it was sent.

The generation id comes from the API, so it is treated as data: file names use
``names.safe_name(id)`` (the id itself for every real one), and the scripts hold it only as a
quoted value (``GENERATION_ID``: ``repr`` in Python, ``shlex.quote`` in sh), never in a comment or
a docstring. ``export_key`` names what an export depends on (the id and the video's version), so
a page can make one zip per version and hand it out again.

A job that has no video on disk (not done, or its file is gone) or whose request is not known here
(adopted by id) raises ``ExportError`` with a sentence, and no zip is written.
"""

from __future__ import annotations

import json
import os
import pprint
import shlex
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path

from .client import DEFAULT_BASE_URL, ENDPOINT
from .errors import ExportError, ValidationError
from .images import SUFFIXES, InputImage, recorded
from .lifecycle import Status
from .names import safe_name
from .params import FAILURE_STATUSES, SUCCESS_STATUSES
from .store import JobRecord

#: The names inside the zip, besides the video.
REQUEST_NAME = "request.json"
SCRIPT_NAME = "reproduce.py"
SHELL_NAME = "reproduce.sh"

_SCRIPT = '''#!/usr/bin/env python3
"""Reproduce a PixVerse generation (GENERATION_ID below): send the same request, wait, download.

    AIMLAPI_KEY=... python reproduce.py

The key is read from $AIMLAPI_KEY when this runs and is written nowhere. $AIMLAPI_BASE_URL names
the API (default {default_base}). Needs only `requests` (pip install requests).

This starts a NEW generation, which costs credits. Without a seed in the request the API picks
one, so the new video differs from the original. Made by pixverse-ui.
"""

import base64
import os
import re
import sys
import time
import uuid

import requests

#: The generation this reproduces, as the API named it.
GENERATION_ID = {gid}
#: Its exact request body (request.json holds the same).
BODY = {body}
#: The image it started from, a file beside this script, sent as a data: URI in "image_url"
#: (None: the body is sent as it is).
IMAGE_FILE = {image_file}
IMAGE_TYPE = {image_type}

POLL_SECONDS = float(os.environ.get("REPRODUCE_POLL_SECONDS", "15"))
TIMEOUT_SECONDS = float(os.environ.get("REPRODUCE_TIMEOUT_SECONDS", "1000"))
SUCCESS = {success}
FAILURE = {failure}


def video_name(generation_id: str) -> str:
    """A plain file name for a video: the API's id is data, never a path."""
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", str(generation_id))[:100].lstrip("-")
    return (stem or "video") + ".mp4"


def main() -> int:
    key = os.environ.get("AIMLAPI_KEY", "").strip()
    if not key:
        print("Set AIMLAPI_KEY to your AI/ML API key first; nothing was sent.", file=sys.stderr)
        return 2
    if IMAGE_FILE:
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, IMAGE_FILE), "rb") as image:
            encoded = base64.b64encode(image.read()).decode("ascii")
        BODY["image_url"] = "data:" + IMAGE_TYPE + ";base64," + encoded
    base = (os.environ.get("AIMLAPI_BASE_URL") or "{default_base}").rstrip("/")
    url = base + "{endpoint}"
    headers = {{"Authorization": "Bearer " + key, "Accept": "application/json"}}
    request_id = "reproduce-" + uuid.uuid4().hex
    answer = requests.post(
        url, json=BODY, headers={{**headers, "X-Client-Request-Id": request_id}}, timeout=(10, 60)
    )
    if answer.status_code >= 400:
        print(f"The API refused the request (HTTP {{answer.status_code}}): {{answer.text[:500]}}",
              file=sys.stderr)
        return 1
    generation_id = answer.json()["id"]
    print(f"Started generation {{generation_id}} (client request id {{request_id}}).", flush=True)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    last = None
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        poll = requests.get(url, params={{"generation_id": generation_id}}, headers=headers,
                            timeout=(10, 60))
        if poll.status_code == 429 or poll.status_code >= 500:
            continue  # busy: ask again at the next poll
        if poll.status_code >= 400:
            print(f"The API answered HTTP {{poll.status_code}}: {{poll.text[:500]}}",
                  file=sys.stderr)
            return 1
        job = poll.json()
        status = str(job.get("status", "")).lower()
        if status != last:
            print(status, flush=True)
            last = status
        if status in FAILURE:
            print(f"The generation failed: {{job.get('error')}}", file=sys.stderr)
            return 1
        if status in SUCCESS:
            video_url = (job.get("video") or {{}}).get("url")
            path = video_name(generation_id)
            with requests.get(video_url, stream=True, timeout=(10, 120)) as video:
                video.raise_for_status()
                with open(path, "wb") as out:
                    for chunk in video.iter_content(1 << 16):
                        out.write(chunk)
            print(f"Saved {{path}}")
            return 0
    print(f"Still not done after {{TIMEOUT_SECONDS:.0f}} s; generation id {{generation_id}}.",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
'''

_SHELL = """#!/bin/sh
# Reproduce a PixVerse generation (GENERATION_ID below): POST the same request again; it starts
# a NEW, paid generation.
# The key is read from $AIMLAPI_KEY when this runs; $AIMLAPI_BASE_URL defaults to {default_base}.
# Then poll:  curl -H "Authorization: Bearer $AIMLAPI_KEY" \\
#   "${{AIMLAPI_BASE_URL:-{default_base}}}{endpoint}?generation_id=ID"
# until "status" is "completed", and download "video.url". Made by pixverse-ui.
set -eu
# The generation this reproduces, as the API named it.
GENERATION_ID={gid}
: "${{AIMLAPI_KEY:?Set AIMLAPI_KEY to your AI/ML API key first}}"
{feed}curl -sS -X POST "${{AIMLAPI_BASE_URL:-{default_base}}}{endpoint}" \\
  -H "Authorization: Bearer $AIMLAPI_KEY" \\
  -H "Content-Type: application/json" \\
  --data-binary @-{body}
"""
#: How reproduce.sh hands curl the body: as it is...
_SHELL_BODY = """ <<'JSON'
{text}
JSON"""
#: ...or with the image beside the script put in as a data: URI (base64, no line breaks).
_SHELL_FEED = """# The image beside this script is sent in "image_url" as a data: URI.
HERE=$(dirname "$0")
{{ printf '%s' {before}
  base64 < "$HERE"/{name} | tr -d '\\n'
  printf '%s\\n' {after}
}} | """
#: The name of a local image in the zip, by its type.
IMAGE_NAMES = {mime: f"image{suffix}" for mime, suffix in SUFFIXES.items()}


def export(record: JobRecord, dest_dir: Path) -> Path:
    """Write ``<generation id>.zip`` into ``dest_dir`` (see the module docstring); its path."""
    video = _exportable(record)
    gid = record.generation_id
    assert gid is not None
    stem = safe_name(gid)
    body = record.request
    image = _local_image(record)
    if image is not None:
        body["image_url"] = image_stand_in(image)
    request_text = json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{stem}.zip"
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{stem}.", suffix=".part")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.write(video, f"{stem}.mp4", compress_type=zipfile.ZIP_STORED)
            archive.writestr(REQUEST_NAME, request_text)
            archive.writestr(_executable(SCRIPT_NAME), reproduce_script(gid, body, image))
            archive.writestr(_executable(SHELL_NAME), reproduce_shell(gid, request_text, image))
            if image is not None:
                archive.writestr(IMAGE_NAMES[image.mime or ""], image.content())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def export_key(record: JobRecord) -> tuple[str, ...]:
    """What an export of ``record`` depends on: its generation id and its video's version (path,
    size, change time), so an unchanged generation is exported once. ``ExportError`` when there
    is nothing to export, as :func:`export` would say."""
    video = _exportable(record)
    stat = video.stat()
    return (
        "export",
        str(record.generation_id),
        str(video.resolve()),
        str(stat.st_size),
        str(stat.st_mtime_ns),
    )


def reproduce_script(generation_id: str, body: dict, image: InputImage | None = None) -> str:
    """The Python script that POSTs ``body`` again, polls and downloads (no key in it); with a
    local ``image``, it sends the file beside it as the data: URI."""
    return _SCRIPT.format(
        gid=repr(str(generation_id)),
        body=pprint.pformat(body, width=88, sort_dicts=True),
        image_file=repr(IMAGE_NAMES[image.mime or ""]) if image is not None else None,
        image_type=repr(image.mime) if image is not None else None,
        default_base=DEFAULT_BASE_URL,
        endpoint=ENDPOINT,
        success=repr(sorted(SUCCESS_STATUSES)).replace("[", "{").replace("]", "}"),
        failure=repr(sorted(FAILURE_STATUSES)).replace("[", "{").replace("]", "}"),
    )


def reproduce_shell(generation_id: str, request_text: str, image: InputImage | None = None) -> str:
    """The curl command that POSTs the request again (no key in it); with a local ``image``,
    the file beside it goes into ``request_text``'s stand-in for it as a data: URI."""
    feed, body = "", _SHELL_BODY.format(text=request_text.rstrip("\n"))
    if image is not None:
        stand_in = json.dumps({"image_url": image_stand_in(image)}, ensure_ascii=False)[1:-1]
        before, found, after = request_text.rstrip("\n").partition(stand_in)
        assert found, "the request names its image by its stand-in"
        data_uri = f'"image_url": "data:{image.mime};base64,'
        feed = _SHELL_FEED.format(
            before=shlex.quote(before + data_uri),
            name=shlex.quote(IMAGE_NAMES[image.mime or ""]),
            after=shlex.quote('"' + after),
        )
        body = ""
    return _SHELL.format(
        gid=shlex.quote(str(generation_id)),
        feed=feed,
        body=body,
        default_base=DEFAULT_BASE_URL,
        endpoint=ENDPOINT,
    )


def image_stand_in(image: InputImage) -> str:
    """What ``request.json`` holds for a local image: ``data:image/png;base64,<image.png>``."""
    return f"data:{image.mime};base64,<{IMAGE_NAMES[image.mime or '']}>"


def _local_image(record: JobRecord) -> InputImage | None:
    """The local image a job started from, checked to be the one sent (None: none, or a URL);
    ``ExportError`` when its copy is gone."""
    image = recorded(record)
    if image is None or image.is_url:
        return None
    try:
        return replace(image, data=image.content())
    except ValidationError as exc:
        raise ExportError(exc.message) from None


def _exportable(record: JobRecord) -> Path:
    """The video to export, or ``ExportError`` saying why there is none."""
    ident = record.generation_id or record.client_request_id
    if record.adopted:
        raise ExportError(
            f"Generation {ident} was started elsewhere: its request is not known here, so "
            "there is nothing to reproduce it from"
        )
    if record.state != Status.DONE or not record.video_path or not record.generation_id:
        raise ExportError(
            f"Generation {ident} has no video yet (it is {record.state}): only a finished "
            "generation can be exported"
        )
    video = Path(record.video_path)
    if not video.is_file():
        raise ExportError(f"The video of generation {ident} is no longer at {video}")
    return video


def _executable(name: str) -> zipfile.ZipInfo:
    """A zip entry that unzips as an executable file (rwxr-xr-x)."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.external_attr = 0o100755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info
