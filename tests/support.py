"""Helpers the app, browser and resilience tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import random
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from forkserver import Forked, ForkServer

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
#: The header an MCP agent sends its AI/ML API key in (Gradio passes it as ``x_aimlapi_key``).
KEY_HEADER = "X-AIMLAPI-Key"


def form(
    prompt: str = "a red fox",
    aspect: str = "16:9",
    resolution: str = "360p",
    duration: Any = 5,
    style: str = "none",
    key: str = "",
    visitor: str = "v1",
    *,
    negative: str = "",
    seed: Any = None,
    audio: bool = False,
    multi_clip: bool = False,
    thinking: str = "model default",
    image: Any = None,
) -> list[Any]:
    """The app's generate endpoint inputs, in order (``image``: a URL, or handle_file's)."""
    return [
        prompt,
        negative,
        aspect,
        resolution,
        duration,
        style,
        seed,
        audio,
        multi_clip,
        thinking,
        key,
        visitor,
        image,
    ]


def wait_for(predicate: Callable[[], T], timeout: float = 60.0, step: float = 0.2) -> T:
    """Bounded wait on real time (the app runs on the real clock, on a fast simulator)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting")


def advance_until(sim: Any, clock: Any, status: str, *, step: float = 0.05) -> None:
    """Move the simulator's ManualClock until each of its jobs reports ``status``: between two
    calls a job stays where it is, however slow the machine (``queued``, ``generating``, or the
    simulator's success word, ``completed``)."""
    order = ("queued", "generating", status)
    for _ in range(100_000):  # 5000 s of the simulator's time at most
        jobs = sim.stats()["jobs"]
        assert jobs, "the simulator holds no job yet"
        seen = {job["status"] for job in jobs}
        assert seen <= set(order), f"a job went elsewhere: {seen}"
        if seen == {status}:
            return
        clock.advance(step)
    raise AssertionError(f"the jobs never reached {status}")


def at_once(work: Callable[[int], T], count: int, *, timeout: float = 120.0) -> list[T]:
    """Run ``work(0)`` ... ``work(count - 1)`` in as many threads, released together; their
    results in that order. A thread's exception is raised here; every wait is bounded."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    end = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.0, end - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), f"threads still busy after {timeout} s"
    if failures:
        raise failures[0]
    return results


def sim_posts() -> int:
    """How many create requests the embedded simulator has answered."""
    from pixverse_ui.simulator import embedded

    return embedded().stats()["posts"]


#: Where ``free_port`` looks: below the kernel's ephemeral range (32768 and up here), so that no
#: outgoing connection of the suite can take a port between the check and the app binding it;
#: each test process (pytest-xdist worker) has a band of its own, so two never pick one port.
PORTS_FROM, PORTS_BAND = 20000, 2000


def free_port() -> int:
    """A loopback port nobody listens on right now, that no other test process will pick."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    low = PORTS_FROM + (int(worker) if worker.isdigit() else 0) % 6 * PORTS_BAND
    for _ in range(500):
        port = random.randrange(low, low + PORTS_BAND)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken, or still closing
            return port
    raise AssertionError(f"no free port in {low}..{low + PORTS_BAND - 1}")


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a child process: no key, no settings of ours but ``home`` and ``extra``
    (so it runs on its own embedded simulator unless told otherwise), Gradio's cache in a folder
    of its own beside ``home`` (not under it: the home is never served), this checkout
    importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMLAPI_", "PIXVERSE_UI_"))}
    env.update(
        PIXVERSE_UI_HOME=str(home),
        GRADIO_TEMP_DIR=str(home.parent / f"{home.name}-gradio-cache"),
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


def gradio_caller(url: str, **kwargs: Any) -> Any:
    """A ``gradio_client.Client`` of the app at ``url`` (loopback, plain HTTP), quiet. It makes a
    new httpx connection for every request, and with ``ssl_verify`` on each built an SSL context
    (about 43 ms of CPU) that plain HTTP never uses."""
    from gradio_client import Client as GradioClient

    return GradioClient(url, verbose=False, ssl_verify=False, **kwargs)


def with_mcp(demo: Any, work: Callable[[Any], Awaitable[T]], headers: dict | None = None) -> T:
    """Run ``work(session)`` in one MCP session with the app (a demo or its URL), as an agent
    would; bounded."""
    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def session() -> T:
        base = demo if isinstance(demo, str) else demo.local_url
        url = base.rstrip("/") + "/gradio_api/mcp/"
        async with (
            # loopback over plain HTTP: no SSL context (about 43 ms of CPU each)
            httpx.AsyncClient(headers=headers or {}, timeout=60, verify=False) as http,
            streamable_http_client(url, http_client=http) as (read, write, _),
            ClientSession(read, write) as mcp,
        ):
            await mcp.initialize()
            return await work(mcp)

    return asyncio.run(asyncio.wait_for(session(), timeout=120))


@dataclass
class ServedApp:
    """``python app.py`` running on loopback: its address, and everything it has printed."""

    url: str
    log_path: Path
    pid: int

    @property
    def output(self) -> str:
        """What the app printed on stdout and stderr so far (all of it, once it has stopped)."""
        return self.log_path.read_text("utf-8", errors="replace")


def forks() -> ForkServer:
    """This process's way to the suite's fork server (``tests/forkserver.py``): the one xdist's
    controller started, or one started here on first use when the suite runs in one process."""
    global _FORKS
    if _FORKS is None:
        _FORKS = ForkServer()
    if _FORKS.address is None:
        folder = Path(tempfile.mkdtemp(prefix="pxui-forkserver-home-"))
        _FORKS.start(child_env(folder / "home"))
    return _FORKS


_FORKS: ForkServer | None = None
#: Processes ``python_process`` started fresh because the test asked for a new interpreter.
_FRESH = 0


def process_counts() -> dict[str, Any]:
    """How this process's Python processes were started: forked, fresh as asked, or fresh because
    the fork server refused (and why)."""
    served = _FORKS or ForkServer()
    return {"forked": served.forked, "fresh": _FRESH, "refused": list(served.refusals)}


def python_process(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    output: Path | str = os.devnull,
    fresh: bool = False,
) -> Forked | subprocess.Popen:
    """``argv`` (``sys.executable`` and a script, ``-m`` or ``-c``) running in a process of its
    own, its stdout and stderr written to ``output`` as it prints them: forked from the suite's
    fork server, which has Python started and Gradio imported already, or, where a fork cannot be
    what a fresh interpreter would be, or ``fresh`` asks for one, a plain new process."""
    global _FRESH
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as log:
        if not fresh:
            forked = forks().popen(argv, cwd=cwd, env=env, output=output)
            if forked is not None:
                return forked
        else:
            _FRESH += 1
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


@contextmanager
def running_app_py(home: Path, *args: str, fresh: bool = False, **env: str) -> Iterator[ServedApp]:
    """Run ``python app.py`` in a child process until its page answers 200; stop it after.

    Its output goes to a file beside ``home`` as it is printed (a pipe nobody reads would fill
    and stall the app). The process is forked from the suite's fork server unless ``fresh``
    asks for a new interpreter (see ``python_process``).
    """
    port = free_port()
    log_path = home.parent / f"app-{port}.log"
    proc = python_process(
        [sys.executable, "app.py", "--port", str(port), *args],
        cwd=ROOT,
        env=child_env(home, **env),
        output=log_path,
        fresh=fresh,
    )
    app = ServedApp(f"http://127.0.0.1:{port}", log_path, proc.pid)
    try:

        def answers() -> bool:
            assert proc.poll() is None, f"app.py exited: {app.output}"
            try:
                # "/", not "/config": behind a login only the login page answers 200
                return requests.get(app.url + "/", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(answers, timeout=90, step=0.3)
        yield app
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass
class RawCall:
    """One event called through ``/gradio_api/queue/join`` as a hand-written client would."""

    join_status: int
    join_body: str
    messages: list[dict[str, Any]]
    #: Every byte the server sent back for this call (the join answer and the event stream).
    raw: bytes

    @property
    def final(self) -> dict[str, Any] | None:
        """The ``process_completed`` message, if the call got that far."""
        done = [m for m in self.messages if m.get("msg") == "process_completed"]
        return done[-1] if done else None


def queue_call(
    base: str,
    fn_index: int,
    data: list[Any],
    *,
    session: requests.Session | None = None,
    event_data: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    session_hash: str | None = None,
) -> RawCall:
    """Join the queue for event ``fn_index`` with ``data`` and read its stream to the end
    (``session_hash``: Gradio's session to call it in; a fresh one unless given)."""
    import json
    import uuid

    http = session or requests.Session()
    session_hash = session_hash or uuid.uuid4().hex[:11]
    body = {
        "data": data,
        "fn_index": fn_index,
        "session_hash": session_hash,
        "event_data": event_data,
        "trigger_id": None,
    }
    joined = http.post(
        f"{base}/gradio_api/queue/join", json=body, headers=headers or {}, timeout=timeout
    )
    raw = joined.content
    messages: list[dict[str, Any]] = []
    if joined.status_code == 200:
        with http.get(
            f"{base}/gradio_api/queue/data",
            params={"session_hash": session_hash},
            headers=headers or {},
            stream=True,
            timeout=timeout,
        ) as stream:
            end = time.monotonic() + timeout
            for line in stream.iter_lines():
                raw += line + b"\n"
                if line.startswith(b"data:"):
                    message = json.loads(line[5:])
                    messages.append(message)
                    if message.get("msg") in ("process_completed", "close_stream"):
                        break
                if time.monotonic() > end:
                    raise AssertionError(f"event {fn_index} did not finish in {timeout} s")
    return RawCall(joined.status_code, joined.text, messages, raw)


def resident_bytes(pid: int) -> int:
    """A process's resident memory (``VmRSS``, Linux ``/proc``), as ``ps`` and a Space's meter
    show it."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


@dataclass(frozen=True)
class Answer:
    """What a server answered a request: its status and text, and how many bytes of the body
    the client had sent by then."""

    status: int
    text: str
    sent: int


def post_body(base: str, path: str, size: int, *, chunked: bool, timeout: float = 60.0) -> Answer:
    """POST ``size`` bytes of JSON-ish body to ``path`` over a raw socket, its length declared
    or sent chunked (with no length), as a careless or hostile client would: it sends until
    the server answers or stops reading, then reads the answer. Nothing of the body is held in
    memory but one 64 kB block."""
    where = urlsplit(base)
    block = b"x" * 65536
    head = [f"POST {path} HTTP/1.1", f"Host: {where.netloc}", "Content-Type: application/json"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    end = time.monotonic() + timeout
    with socket.create_connection((where.hostname, where.port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        try:
            while sent < size and not select.select([sock], [], [], 0)[0]:
                assert time.monotonic() < end, f"still sending after {timeout} s"
                piece = block[: size - sent]
                sock.sendall(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            if chunked and sent == size:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed while the body was on its way: read below
        reply = b""
        while time.monotonic() < end:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            reply += data
            head_end = reply.find(b"\r\n\r\n")
            if head_end >= 0 and _complete(reply, head_end):
                break
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), f"no answer to the request: {reply[:200]!r}"
    body = rest.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in rest else b""
    return Answer(int(status_line.split()[1]), body.decode("utf-8", "replace"), sent)


def _complete(reply: bytes, head_end: int) -> bool:
    """Whether ``reply`` holds the whole answer its ``Content-Length`` announces."""
    for line in reply[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(reply) - head_end - 4 >= int(value)
    return False


def visitor_token(
    base: str, held: str = "", *, headers: dict[str, str] | None = None, timeout: float = 30.0
) -> str:
    """A visitor token from the app's ``visitor_token`` endpoint, as an API caller gets one:
    ``held`` back if the app signed it, else a fresh one."""
    answer = requests.post(
        f"{base}/gradio_api/run/visitor_token",
        json={"data": [held]},
        headers=headers or {},
        timeout=timeout,
    )
    assert answer.status_code == 200, answer.text
    [token] = answer.json()["data"]
    return token


def video_frames(path: Path, count: int | None = None) -> list[Any]:
    """The first ``count`` frames of a video (every one with None), as PIL images."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_image())
            if len(frames) == count:
                break
    return frames


def difference(a: Any, b: Any) -> float:
    """How far apart two pictures look: the mean absolute difference per channel (0 to 255)
    with both at 64×64, so that H.264's small losses and a resize count for little."""
    from PIL import ImageChops, ImageStat

    a, b = (x.convert("RGB").resize((64, 64)) for x in (a, b))
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def picture(width: int = 64, height: int = 36, *, seed: int = 0) -> Any:
    """A PIL picture to start a video from: a gradient and a yellow disc, its green by ``seed``
    (so that two seeds look apart, and a frame can be told from the picture it came from)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for x in range(width):
        shade = x * 255 // max(1, width - 1)
        draw.line((x, 0, x, height), fill=(shade, (40 + seed * 90) % 256, 255 - shade))
    draw.ellipse((width // 3, height // 4, 2 * width // 3, 3 * height // 4), fill=(250, 240, 20))
    return image


def png_bytes(width: int = 64, height: int = 36, *, seed: int = 0) -> bytes:
    """A real PNG of :func:`picture`."""
    import io

    out = io.BytesIO()
    picture(width, height, seed=seed).save(out, format="PNG")
    return out.getvalue()


def bomb_png(side: int = 20_000) -> bytes:
    """A black PNG of ``side`` × ``side`` pixels (one bit each), a few kilobytes on disk: a
    decompression bomb for anything that decodes it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
