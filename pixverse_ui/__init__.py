"""pixverse-ui: prototype video from words or an image with PixVerse v5.5 over the AI/ML API.

    import pixverse_ui
    video = pixverse_ui.generate("a red fox in the snow", resolution="540p", duration=5)
    print(video.video_path, video.credits_used)

With no ``AIMLAPI_KEY`` it runs on a built-in simulator. Heavy modules (requests, the simulator,
gradio) load only when first used, so importing the package stays quick.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    BudgetError,
    DownloadError,
    ExportError,
    GenerationFailedError,
    GenerationTimeoutError,
    InsufficientCreditsError,
    PixVerseError,
    PosterError,
    RateLimitError,
    ServerError,
    SubmissionUnconfirmedError,
    TooManyStartsError,
    ValidationError,
    WaitTimeoutError,
)
from .params import Params, validate

__version__ = "0.1.0"

_LAZY = {
    "Client": "client",
    "JobState": "client",
    "Ledger": "store",
    "JobRecord": "store",
    "Update": "polling",
    "Estimate": "polling",
    "PollSchedule": "polling",
    "watch": "generation",
    "asubmit": "generation",
    "Generation": "outcome",
    "generate": "generation",
    "resume": "generation",
    "stream": "generation",
    "submit": "generation",
    "job": "generation",
    "Job": "jobs",
    "Jobs": "jobs",
    "Status": "lifecycle",
    "default_client": "defaults",
    "Cost": "pricing",
    "Budget": "budget",
    "HistoryItem": "history",
    "HistoryQuery": "history",
    "default_ledger": "defaults",
    "Frame": "images",
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetError",
    "DownloadError",
    "ExportError",
    "GenerationFailedError",
    "GenerationTimeoutError",
    "InsufficientCreditsError",
    "Params",
    "PixVerseError",
    "PosterError",
    "RateLimitError",
    "ServerError",
    "SubmissionUnconfirmedError",
    "TooManyStartsError",
    "ValidationError",
    "WaitTimeoutError",
    "validate",
    "Client",
    "JobState",
    "Ledger",
    "JobRecord",
    "Update",
    "Estimate",
    "PollSchedule",
    "watch",
    "Generation",
    "generate",
    "resume",
    "stream",
    "submit",
    "asubmit",
    "job",
    "Job",
    "Jobs",
    "Status",
    "default_client",
    "default_ledger",
    "Cost",
    "Budget",
    "HistoryItem",
    "HistoryQuery",
    "Frame",
]

if TYPE_CHECKING:  # pragma: no cover
    from .budget import Budget
    from .client import Client, JobState
    from .defaults import default_client, default_ledger
    from .generation import asubmit, generate, job, resume, stream, submit, watch
    from .history import HistoryItem, HistoryQuery
    from .images import Frame
    from .jobs import Job, Jobs
    from .lifecycle import Status
    from .outcome import Generation
    from .polling import Estimate, PollSchedule, Update
    from .pricing import Cost
    from .store import JobRecord, Ledger


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pixverse_ui' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
