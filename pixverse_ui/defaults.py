"""Where things are when nobody says: the key, the endpoint, the ledger, the videos folder.

No ``AIMLAPI_KEY`` means simulator mode: a stand-in API is started on loopback, so everything
runs offline and costs nothing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .client import Client
from .pricing import SIMULATOR_ENDPOINT
from .redact import register_secret
from .store import Ledger, default_home

KEY_ENV = "AIMLAPI_KEY"
BASE_URL_ENV = "AIMLAPI_BASE_URL"
#: The key the library uses against its own simulator (which accepts only the keys registered).
SIMULATOR_KEY = "simulator-local-key"
SIMULATOR_LABEL = SIMULATOR_ENDPOINT

_lock = threading.Lock()
_ledgers: dict[Path, Ledger] = {}


def host_key() -> str | None:
    """The key set on this machine, if any."""
    key = os.environ.get(KEY_ENV, "").strip()
    return key or None


def machine_key(host: str | None) -> str:
    """The key whose history is this machine's person's: ``host`` (the host's key), else the
    simulator's. ``pixverse-ui list``, a notebook and the page on a private address (``make
    run``) all show that one history."""
    return host or SIMULATOR_KEY


def machine_owner(ledger: Ledger, api_key: str | None = None) -> str:
    """The ledger's name for whose history a command or a notebook shows: ``api_key``'s when
    given, else this machine's (:func:`machine_key`). Learnt without starting the simulator."""
    return ledger.owner_of(api_key or machine_key(host_key()))


def simulator_mode() -> bool:
    """True when there is no key: the embedded simulator stands in for the API."""
    return host_key() is None


def simulator_client(api_key: str = SIMULATOR_KEY) -> Client:
    """A client on the embedded simulator (started on first use)."""
    from .simulator import embedded

    sim = embedded()
    sim.allow_key(api_key)
    return Client(
        api_key=api_key,
        base_url=sim.url,
        label=SIMULATOR_LABEL,
        time_scale=sim.config.speed,
        confirms_key=False,
    )


def default_client(api_key: str | None = None) -> Client:
    """A client for ``api_key``, else the host key, else the embedded simulator."""
    key = api_key or host_key()
    if key is None:
        return simulator_client()
    register_secret(key, pin=True)  # the user's own key, whatever its shape
    return Client(api_key=key, base_url=os.environ.get(BASE_URL_ENV) or None)


def default_ledger(path: str | os.PathLike[str] | None = None) -> Ledger:
    """One ledger object per file in this process."""
    target = Path(path) if path is not None else default_home() / "ledger.sqlite3"
    with _lock:
        if target not in _ledgers:
            _ledgers[target] = Ledger(target)
        return _ledgers[target]


def videos_dir() -> Path:
    """Where finished videos are kept."""
    folder = default_home() / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
