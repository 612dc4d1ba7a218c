"""Visitor tokens: the identity the app hands a caller who has no key, no login and no sign-in.

A name the caller picks is no identity: two agents that both say ``visitor="claude"`` would share
one history. So the server issues the names. A token is ``v1.<id>.<signature>``: ``id`` is 128
random bits, and ``signature`` the first 128 bits of HMAC-SHA256 over it with a secret only the
app knows. A caller cannot make one up or change one; a token the app did not sign is no visitor
at all (``App.caller`` treats the call as anonymous). The page asks for its token when it loads
and keeps it in the browser's storage; an API or MCP caller asks the ``visitor_token`` endpoint
(tool) once and sends it back as ``visitor``. Tokens do not expire: a history is for keeping.

The secret is ``visitor-secret`` beside the ledger (the app's home, ``PIXVERSE_UI_HOME``): 32
random bytes, written with 0600 permissions the first time a token is issued or checked. It lives
and dies with the histories its tokens name: a restart with the same home keeps every token
valid, a new home (where those histories are not) makes them all strangers. The Space's OAuth
secret would have been the other choice, and is not used: a Space without ``hf_oauth`` (or the
app on a machine) has none, Hugging Face may change it, and a token would then outlive, or die
before, the ledger it names.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import threading
from pathlib import Path

#: The file beside the ledger that holds the secret.
SECRET_NAME = "visitor-secret"
_VERSION = "v1"
_SHAPE = re.compile(r"v1\.([0-9a-f]{32})\.([0-9a-f]{32})\Z")
_SECRET_BYTES = 32


class VisitorTokens:
    """Issue and check visitor tokens signed with the secret in ``folder`` (made on first use)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / SECRET_NAME
        self._secret: bytes | None = None
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A fresh token: a new visitor."""
        ident = secrets.token_hex(16)
        return f"{_VERSION}.{ident}.{self._sign(ident)}"

    def visitor_of(self, token: object) -> str | None:
        """The visitor a token this app signed stands for (its id); None for anything else."""
        if not isinstance(token, str):
            return None
        match = _SHAPE.match(token)
        if match is None:
            return None
        ident, signature = match.groups()
        return ident if hmac.compare_digest(signature, self._sign(ident)) else None

    def _sign(self, ident: str) -> str:
        mac = hmac.new(self._key(), f"pixverse-ui visitor {_VERSION}:{ident}".encode(), "sha256")
        return mac.hexdigest()[:32]

    def _key(self) -> bytes:
        if self._secret is None:
            with self._lock:
                if self._secret is None:
                    self._secret = _read_or_make(self.path)
        return self._secret


def _read_or_make(path: Path) -> bytes:
    """The secret in ``path``, made there first if it is missing (or not one).

    Two processes on one home may start at once: each writes a secret of its own to a private
    file and links it into place, which fails if the other got there first; both then read the
    one that is there, whole (a link appears with its content written)."""
    for _ in range(3):
        try:
            secret = bytes.fromhex(path.read_text("ascii").strip())
        except FileNotFoundError:
            secret = None
        except (ValueError, UnicodeDecodeError):
            secret = b""
        if secret is not None and len(secret) >= _SECRET_BYTES:
            return secret
        if secret is not None:  # damaged (a link appears whole): a new secret, new visitors
            path.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_hex(_SECRET_BYTES) + "\n")
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(draft, path)
            except FileExistsError:
                pass  # another process made it first: read theirs
        finally:
            draft.unlink(missing_ok=True)
    raise OSError(f"Could not make the visitor secret in {path.parent}.")
