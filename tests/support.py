"""Helpers the app, browser and resilience tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

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
