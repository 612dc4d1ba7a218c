"""File names made from what the API sends: an id is data, never a path or a line of script.

``safe_name(ident)`` is the one rule for turning a generation id (or any outside text) into a file
name's stem: only ``[A-Za-z0-9_-]``, at most ``MAX_NAME`` characters, never empty, never starting
with ``-`` (an option to many commands), so never ``.``, ``..`` or a path. An id that is already
such a name (every real one is) is kept as it is; any other gets the characters it had replaced
with ``_`` and a short digest of the whole id, so two different ids never share a file.
"""

from __future__ import annotations

import hashlib
import re

#: The longest stem made; file systems allow 255 bytes, and a suffix is added.
MAX_NAME = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_DIGEST = 12


def safe_name(ident: object) -> str:
    """``ident`` as a plain file name stem (see the module docstring)."""
    text = str(ident)
    if text and len(text) <= MAX_NAME and not _UNSAFE.search(text) and text[0] != "-":
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST]
    kept = _UNSAFE.sub("_", text)[: MAX_NAME - _DIGEST - 1].lstrip("-")
    return f"{kept}-{digest}" if kept else digest
