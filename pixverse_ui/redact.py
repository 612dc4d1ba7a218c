"""Keep keys out of text: every key this process holds is masked wherever it would be shown.

Clients register their key here when made; :func:`redact` masks registered keys and anything that
looks like a bearer token, and :func:`install_log_redaction` applies it to every log record of
every logger, at the moment the record is made.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
#: A bearer token, or a long key-shaped value after a key-ish name ("api_key=...").
_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|aimlapi_key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._-]{16,}"),
)
_known: set[str] = set()
_lock = threading.Lock()
_installed = False


def register_secret(secret: str) -> None:
    """Remember a key so that it is masked wherever it would appear."""
    if secret and len(secret) >= 6:
        with _lock:
            _known.add(secret)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every registered or given secret, and bearer-looking tokens, masked."""
    with _lock:
        known = sorted(_known | {s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def install_log_redaction() -> None:
    """Mask keys in every log record from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    make_record = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's own business
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)
