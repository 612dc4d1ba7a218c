"""Keep keys out of text: one function for strings, one logging filter for every log record."""

from __future__ import annotations

import logging
import re

#: Bearer tokens and key-shaped assignments, whatever the key.
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s'\",]+"),
    re.compile(r"(?i)((?:api[_-]?key|aimlapi_key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s'\",]+"),
)
MASK = "***"


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every given secret, and anything that looks like a bearer key, masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks bearer keys in every record that passes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
