"""Who may generate, with which key: the app's rules, kept apart from gradio to test easily.

- No key on the host: simulator mode; every browser gets its own simulator identity.
- A host key, run locally: visitors may use it, or their own.
- A host key on a Hugging Face Space (``SPACE_ID``): visitors bring their own key, unless the
  host opts in (``PIXVERSE_UI_SHARE_HOST_KEY=1``) or the app is behind Gradio auth.

Keys are held in memory only (in the clients), never written anywhere.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from . import errors
from .client import Client
from .defaults import SIMULATOR_LABEL, host_key, simulator_client
from .jobs import JobRunner
from .store import Ledger

SHARE_HOST_KEY_ENV = "PIXVERSE_UI_SHARE_HOST_KEY"
AUTH_ENV = "PIXVERSE_UI_AUTH"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def auth_from_env() -> list[tuple[str, str]] | None:
    """``PIXVERSE_UI_AUTH="user:password[,user2:password2]"`` as Gradio's ``auth`` list."""
    text = os.environ.get(AUTH_ENV, "").strip()
    if not text:
        return None
    pairs = []
    for item in text.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise errors.ValidationError(
                f"{AUTH_ENV} must look like user:password[,user2:password2].", field=AUTH_ENV
            )
        pairs.append((user, password))
    return pairs


@dataclass(frozen=True)
class Mode:
    """How this app was started."""

    host_key: str | None
    on_space: bool
    share_host_key: bool
    has_auth: bool

    @classmethod
    def from_env(cls, *, has_auth: bool = False) -> Mode:
        """Read the mode from the environment."""
        return cls(
            host_key=host_key(),
            on_space=bool(os.environ.get("SPACE_ID")),
            share_host_key=_truthy(os.environ.get(SHARE_HOST_KEY_ENV)),
            has_auth=has_auth,
        )

    @property
    def simulator(self) -> bool:
        return self.host_key is None

    @property
    def visitors_need_own_key(self) -> bool:
        return (
            not self.simulator and self.on_space and not self.share_host_key and not self.has_auth
        )

    def banner(self) -> str:
        """The sentence at the top of the page."""
        if self.simulator:
            return (
                "**Simulator mode.** No `AIMLAPI_KEY` is set, so videos come from the built-in "
                "simulator: nothing is sent to PixVerse and nothing costs money. Set "
                "`AIMLAPI_KEY` on the host to make real videos."
            )
        if self.visitors_need_own_key:
            return (
                "**Bring your own key.** This Space does not share its owner's AI/ML API key: "
                "enter yours under *Your AI/ML API key*. It is used for your requests only and, if "
                "you tick *remember*, kept in this browser; never on the server."
            )
        return (
            "**Live mode.** Generations use the AI/ML API and cost credits. Enter your own key "
            "under *Your AI/ML API key*, or the host's key is used."
        )


class App:
    """What every visitor shares: the mode, the ledger and the background runner."""

    def __init__(self, mode: Mode, ledger: Ledger, download_dir: Path) -> None:
        self.mode = mode
        self.ledger = ledger
        self.runner = JobRunner(ledger, download_dir)
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def client_for(self, visitor_key: str | None, visitor_id: str | None) -> Client:
        """The client for this visitor; a sentence (``AuthenticationError``) if they may not."""
        key = (visitor_key or "").strip()
        if self.mode.simulator:
            # Every browser gets its own simulator key, so that histories stay apart.
            return self._client(key or f"sim-visitor-{visitor_id or 'anonymous'}", simulator=True)
        if key:
            return self._client(key, simulator=False)
        if self.mode.visitors_need_own_key:
            raise errors.AuthenticationError(
                "This Space needs your own AI/ML API key",
                hint="Enter it under “Your AI/ML API key”; it is used for your requests only.",
            )
        assert self.mode.host_key is not None
        return self._client(self.mode.host_key, simulator=False)

    def owner(self, client: Client) -> str:
        """The ledger's name for this client's key."""
        return self.ledger.owner_of(client.owner_key)

    def _client(self, key: str, *, simulator: bool) -> Client:
        slot = ("sim:" if simulator else "live:") + self.ledger.owner_of(key)
        with self._lock:
            client = self._clients.get(slot)
            if client is None:
                client = simulator_client(key) if simulator else Client(api_key=key)
                self._clients[slot] = client
            return client

    def resume_for(self, client: Client) -> int:
        """Watch in the background whatever this client's key left unfinished."""
        count = 0
        for job in self.ledger.unfinished(self.owner(client), client.label):
            if job.generation_id and self.runner.get(job.generation_id) is None:
                self.runner.resume(job.generation_id, client)
                count += 1
        return count

    def resume_host_jobs(self) -> int:
        """After a restart: resume what the host key (or the simulator) left unfinished."""
        if self.mode.simulator:
            count = 0
            for job in self.ledger.unfinished(endpoint=SIMULATOR_LABEL):
                if job.generation_id and self.runner.get(job.generation_id) is None:
                    self.runner.resume(job.generation_id, simulator_client())
                    count += 1
            return count
        assert self.mode.host_key is not None
        return self.resume_for(self._client(self.mode.host_key, simulator=False))
