"""Who may generate, with which key: the app's rules, kept apart from gradio to test easily.

- No key on the host: simulator mode; every browser gets its own simulator identity.
- A host key, run locally: visitors may use it, or their own.
- A host key on a Hugging Face Space (``SPACE_ID``): visitors bring their own key, unless the
  host opts in (``PIXVERSE_UI_SHARE_HOST_KEY=1``) or the app is behind Gradio auth.

Who sees which history (:meth:`App.caller`): a logged-in person sees their login name's, whoever
pays; otherwise a key sees its own, and people without a key see their browser's on a public
page, the host's on a private one (the same history ``pixverse-ui list`` shows on that machine,
simulator mode included). Keys are held in memory only (in the clients), never written
anywhere.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from . import errors
from .client import Client
from .defaults import SIMULATOR_KEY, host_key, simulator_client
from .jobs import JobRunner
from .redact import register_secret, register_sent_key
from .store import JobRecord, Ledger, default_home

SHARE_HOST_KEY_ENV = "PIXVERSE_UI_SHARE_HOST_KEY"
AUTH_ENV = "PIXVERSE_UI_AUTH"
#: What a key may look like: RFC 6750's token characters, 8 to 256 of them. A key with a space or
#: a quote in it is a paste gone wrong, and refusing it keeps keys findable by redaction.
KEY_SHAPE = re.compile(r"[A-Za-z0-9._~+/=-]{8,256}\Z")
#: Visitors' clients kept at once (two connection pools each); the least recently used go first.
MAX_CLIENTS = 256


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
    """How this app was started.

    ``public``: strangers can reach the page (a Space, ``--share``, or listening beyond loopback).
    There, people who spend the host's key (or the simulator) without logging in each get their
    own history, per browser; on a private page the host is the one person using it.
    """

    host_key: str | None
    on_space: bool
    share_host_key: bool
    has_auth: bool
    public: bool = False

    @classmethod
    def from_env(cls, *, has_auth: bool = False, public: bool = False) -> Mode:
        """Read the mode from the environment (``public`` as the launch says, or on a Space)."""
        on_space = bool(os.environ.get("SPACE_ID"))
        key = host_key()
        register_secret(key, pin=True)
        return cls(
            host_key=key,
            on_space=on_space,
            share_host_key=_truthy(os.environ.get(SHARE_HOST_KEY_ENV)),
            has_auth=has_auth,
            public=public or on_space,
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
            shared = (
                " Each browser has its own history here."
                if self.public
                else " The history below is this machine's, the same as `pixverse-ui list`."
            )
            return (
                "**Simulator mode.** No `AIMLAPI_KEY` is set, so videos come from the built-in "
                "simulator: nothing is sent to PixVerse and nothing costs money. Set "
                "`AIMLAPI_KEY` on the host to make real videos." + shared
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


@dataclass(frozen=True)
class Caller:
    """Who is asking: the client that spends their key, and whose history they see."""

    client: Client
    #: The ledger's name for them: a salted hash of their key, login name or browser id.
    owner: str


def clean_key(value: object) -> str | None:
    """A key as typed or sent, checked for shape; None when empty. Never echoes the value."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.AuthenticationError(
            f"The API key must be text, not {type(value).__name__}.",
            hint="Paste your AI/ML API key into the key field, or send it in X-AIMLAPI-Key.",
        )
    key = value.strip()
    if not key:
        return None
    if not KEY_SHAPE.match(key):
        raise errors.AuthenticationError(
            "That does not look like an AI/ML API key: a key is 8 to 256 letters, digits or "
            "the signs . _ ~ + / = -, with no spaces.",
            hint="Copy the key again from your AI/ML API dashboard. Nothing was sent.",
        )
    register_sent_key(key)
    return key


def clean_name(value: object, label: str) -> str | None:
    """A visitor id or login name: text of at most 256 characters, or None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 256:
        raise errors.ValidationError(f"{label} must be text of at most 256 characters.")
    return value


class App:
    """What every visitor shares: the mode, the ledger, the background runner, their clients."""

    def __init__(
        self, mode: Mode, ledger: Ledger, download_dir: Path, *, max_clients: int = MAX_CLIENTS
    ) -> None:
        self.mode = mode
        self.ledger = ledger
        self.download_dir = download_dir
        self.runner = JobRunner(ledger, download_dir)
        self.max_clients = max_clients
        self._clients: OrderedDict[str, Client] = OrderedDict()
        self._lock = threading.Lock()

    def private_paths(self) -> list[Path]:
        """Folders that hold the ledger and other people's files: never to be served."""
        paths = {default_home(), self.ledger.path.parent, self.download_dir}
        return sorted(path.expanduser().resolve() for path in paths)

    def caller(self, key: object, visitor_id: object = None, username: object = None) -> Caller:
        """Who is asking, and with which key; a sentence (``PixVerseError``) if they may not.

        - their own key: they spend it; their history is that key's (the login name's, if any);
        - no key: the host's key (or the simulator) where allowed; their history is their login
          name's, else on a public page their browser's, else (a private page) the host's.
        """
        own = clean_key(key)
        visitor = clean_name(visitor_id, "The visitor id") or "anonymous"
        user = clean_name(username, "The login name")
        if own is not None:
            client = self._client(own, simulator=self.mode.simulator)
        elif self.mode.simulator:
            client = self._client(SIMULATOR_KEY, simulator=True)
        elif self.mode.visitors_need_own_key:
            raise errors.AuthenticationError(
                "This Space needs your own AI/ML API key",
                hint="Enter it under “Your AI/ML API key”; it is used for your requests only.",
            )
        else:
            assert self.mode.host_key is not None
            client = self._client(self.mode.host_key, simulator=False)
        if user is not None:
            identity = f"user:{user}"
        elif own is not None:
            identity = own
        elif self.mode.public:
            identity = f"visitor:{visitor}"
        else:  # a private page is one person's: the host's history, the one `pixverse-ui list`
            identity = client.owner_key  # shows (the host key's, or the simulator key's)
        return Caller(client, self.ledger.owner_of(identity))

    def _client(self, key: str, *, simulator: bool) -> Client:
        """One client per key, the least recently used dropped past ``max_clients``.

        A dropped client is not closed: a job may still be using it, and it goes with the job.
        """
        slot = ("sim:" if simulator else "live:") + self.ledger.owner_of(key)
        with self._lock:
            client = self._clients.get(slot)
            if client is None:
                client = simulator_client(key) if simulator else Client(api_key=key)
                self._clients[slot] = client
                while len(self._clients) > self.max_clients:
                    self._clients.popitem(last=False)
            self._clients.move_to_end(slot)
            return client

    def resume_for(self, caller: Caller) -> int:
        """Watch in the background whatever this caller left unfinished with their key."""
        client = caller.client
        payer = self.ledger.owner_of(client.owner_key)
        return self._resume(self.ledger.unfinished(caller.owner, client.label, payer=payer), client)

    def resume_host_jobs(self) -> int:
        """After a restart: resume what the host key (or the simulator) left unfinished."""
        key = self.mode.host_key or SIMULATOR_KEY
        client = self._client(key, simulator=self.mode.simulator)
        payer = self.ledger.owner_of(key)
        return self._resume(self.ledger.unfinished(endpoint=client.label, payer=payer), client)

    def _resume(self, records: list[JobRecord], client: Client) -> int:
        """Attach a watcher to each job; one that already has (or had) a watcher keeps it."""
        count = 0
        for record in records:
            if record.generation_id and self.runner.get(record.generation_id) is None:
                count += 1
            if record.generation_id:
                self.runner.resume(record.generation_id, client, again=False)
        return count
