"""Helpers the app, browser and resilience tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests

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
) -> list[Any]:
    """The app's generate endpoint inputs, in order."""
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


def sim_posts() -> int:
    """How many create requests the embedded simulator has answered."""
    from pixverse_ui.simulator import embedded

    return embedded().stats()["posts"]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a child process: no key, no settings of ours but ``home`` and ``extra``
    (so it runs on its own embedded simulator unless told otherwise), this checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMLAPI_", "PIXVERSE_UI_"))}
    env.update(
        PIXVERSE_UI_HOME=str(home),
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


def with_mcp(demo: Any, work: Callable[[Any], Awaitable[T]], headers: dict | None = None) -> T:
    """Run ``work(session)`` in one MCP session with the app, as an agent would; bounded."""
    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def session() -> T:
        url = demo.local_url.rstrip("/") + "/gradio_api/mcp/"
        async with (
            httpx.AsyncClient(headers=headers or {}, timeout=60) as http,
            streamable_http_client(url, http_client=http) as (read, write, _),
            ClientSession(read, write) as mcp,
        ):
            await mcp.initialize()
            return await work(mcp)

    return asyncio.run(asyncio.wait_for(session(), timeout=120))


@dataclass
class ServedApp:
    """``python app.py`` running on loopback: its address, and what it printed once stopped."""

    url: str
    output: str = ""


@contextmanager
def running_app_py(home: Path, *args: str, **env: str) -> Iterator[ServedApp]:
    """Run ``python app.py`` in a child process until ``/config`` answers 200; stop it after."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), *args],
        cwd=ROOT,
        env=child_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    app = ServedApp(f"http://127.0.0.1:{port}")
    try:

        def answers() -> bool:
            assert proc.poll() is None, f"app.py exited: {proc.stdout and proc.stdout.read()}"
            try:
                return requests.get(app.url + "/config", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(answers, timeout=90, step=0.3)
        yield app
    finally:
        proc.terminate()
        try:
            app.output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            app.output, _ = proc.communicate(timeout=5)
