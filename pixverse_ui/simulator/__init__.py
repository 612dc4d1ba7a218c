"""A stand-in AI/ML API for PixVerse v5.5 text- and image-to-video, on loopback.

``Simulator`` serves ``POST/GET /v2/video/generations`` as the provider's page describes them,
renders real H.264 MP4s of the requested size and length, runs jobs on an injectable clock, and
injects faults on demand. ``embedded()`` is the process-wide instance the app and CLI use when no
API key is set. Nothing here imports gradio.
"""

from __future__ import annotations

from .config import SimConfig
from .faults import FaultPlan, FaultRule, parse_plan
from .server import Simulator, embedded, stop_embedded

__all__ = [
    "FaultPlan",
    "FaultRule",
    "SimConfig",
    "Simulator",
    "embedded",
    "parse_plan",
    "stop_embedded",
]
