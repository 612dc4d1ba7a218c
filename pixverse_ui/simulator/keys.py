"""The bearer keys a simulator accepts: the ones it was given or made, and those added later.

The real API accepts only keys it issued; so does the simulator. A standalone simulator accepts
the keys named with ``--api-key``, else one it makes at start and prints. The embedded one accepts
exactly the keys the library registered with it (``Simulator.allow_key``). Keys are kept as
SHA-256 digests, so the ring never holds a key in the clear and a lookup leaks nothing useful.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterable

#: Made keys start with this, so a person can tell one from a provider's key at a glance.
MADE_KEY_PREFIX = "sim-"


def new_key() -> str:
    """A fresh random key for a simulator that was given none."""
    return MADE_KEY_PREFIX + secrets.token_urlsafe(24)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


class KeyRing:
    """A thread-safe set of accepted keys, compared as sent (stripped, as HTTP strips headers).

    A blank key is never accepted, and adding one changes nothing.
    """

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._digests: set[bytes] = set()
        for key in keys:
            self.allow(key)

    def allow(self, key: str) -> None:
        """Accept ``key`` from now on."""
        key = key.strip()
        if key:
            with self._lock:
                self._digests.add(_digest(key))

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is one of the accepted keys."""
        token = token.strip()
        if not token:
            return False
        digest = _digest(token)
        with self._lock:
            return digest in self._digests

    def __len__(self) -> int:
        with self._lock:
            return len(self._digests)
