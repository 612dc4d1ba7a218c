"""Helpers the app, browser and resilience tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


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
