"""Keep keys out of text: every key this process holds is masked wherever it would be shown.

Three nets, applied together by :func:`redact`:

- keys this process was given (:func:`register_secret`), found by looking up each key-shaped token
  of the text in a bounded table, so the cost of masking a line does not grow with the number of
  visitors a public app has seen;
- anything that looks like a credential by its context: a bearer token, ``api_key=...``, an
  ``X-AIMLAPI-Key`` header;
- Gradio's own dumps of an event's raw inputs (a malformed call makes it print "Received inputs:
  [...]" with every value, a visitor's key among them, before any of our code runs). Those values
  are masked whole, since nothing says which of them is a key.

:func:`install_log_redaction` applies it to every log record of every logger, tracebacks
included, at the moment the record is made; :func:`install_output_redaction` to what the process
prints on stdout and stderr (Gradio prints tracebacks with ``traceback.print_exc``).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import OrderedDict
from typing import Any, TextIO

MASK = "***"
#: How many keys are remembered besides the pinned ones (the host's); the least recently used
#: go first. A client touches its key at every request, so a key in use is never forgotten.
MAX_KEYS = 4096
#: The shortest string treated as a key; shorter ones would mask ordinary words.
MIN_KEY_LENGTH = 6

#: Runs of the characters keys are made of. ``+ / =`` (base64) are left out because they also
#: join words ("api_key=..."); a key holding them is matched by substring instead (rare).
_TOKEN = re.compile(r"[A-Za-z0-9._~-]+")
_TOKEN_ONLY = re.compile(r"[A-Za-z0-9._~-]+\Z")
#: Credentials recognised by what stands before them.
_CONTEXT_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|aimlapi_key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(x-aimlapi-key[\"']?\s*[:=,]\s*[\"']?)[^\s\"',}]+"),
)
#: Gradio's messages that quote an event's inputs verbatim (gradio/blocks.py), each with a
#: literal that must be in the text for the pattern to matter (a cheap test first).
_INPUT_DUMPS = (
    (
        "Received inputs:",
        re.compile(r"(Received inputs:\s*)[\s\S]*?(\n?)\Z"),
        r"\g<1>[" + MASK + r"]\g<2>",
    ),
    (
        "the event handler was: ",
        re.compile(r"(the event handler was: )[\s\S]*?( \(of type `)"),
        r"\g<1>" + MASK + r"\g<2>",
    ),
    (
        "Original error: ",
        re.compile(r"(Original error: \w+: )[\s\S]*?(\n?)\Z"),
        r"\g<1>" + MASK + r"\g<2>",
    ),
    (
        " is not in the list of choices",
        re.compile(r"(Value: )[\s\S]*?( is not in the list of choices)"),
        r"\g<1>" + MASK + r"\g<2>",
    ),
)
#: Lower-case words one of which must be in the text for a ``_CONTEXT_PATTERNS`` to match.
_CONTEXT_WORDS = ("bearer", "key")


class _Secrets:
    """The keys to mask: pinned ones, and a bounded least-recently-used table of the others."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._pinned: set[str] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()
        #: Keys with characters outside ``_TOKEN`` (matched by substring; kept small).
        self._odd: OrderedDict[str, None] = OrderedDict()

    def add(self, secret: str, *, pin: bool = False) -> None:
        with self._lock:
            if pin:
                self._pinned.add(secret)
                return
            table = self._recent if _TOKEN_ONLY.match(secret) else self._odd
            table[secret] = None
            table.move_to_end(secret)
            while len(table) > self.capacity:
                table.popitem(last=False)

    def __contains__(self, token: str) -> bool:
        return token in self._pinned or token in self._recent  # dict reads are atomic

    def among(self, tokens: set[str]) -> list[str]:
        """The keys that are among ``tokens`` (set operations in C: no loop over the keys)."""
        with self._lock:
            return [*(tokens & self._pinned), *(self._recent.keys() & tokens)]

    def odd(self) -> list[str]:
        with self._lock:
            return [*self._odd, *(s for s in self._pinned if not _TOKEN_ONLY.match(s))]

    def __len__(self) -> int:
        return len(self._pinned) + len(self._recent) + len(self._odd)


_secrets = _Secrets(MAX_KEYS)
_install_lock = threading.Lock()
_logs_installed = False


def register_secret(secret: str | None, *, pin: bool = False) -> None:
    """Remember a key so that it is masked wherever it would appear.

    ``pin`` keeps it for the life of the process (the host's key); other keys are remembered
    while they are among the ``MAX_KEYS`` most recently registered.
    """
    if secret and len(secret) >= MIN_KEY_LENGTH:
        _secrets.add(secret, pin=pin)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every registered or given secret, and credential-looking values, masked."""
    for literal, pattern, replacement in _INPUT_DUMPS:
        if literal in text:
            text = pattern.sub(replacement, text)
    folded = text.lower()
    if any(word in folded for word in _CONTEXT_WORDS):
        for pattern in _CONTEXT_PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
    tokens = set(_TOKEN.findall(text))
    # a key at the end of a sentence or between dots: "key sk-abc." / "...sk-abc..."
    tokens |= {token.strip("._~-") for token in tokens}
    found = _secrets.among(tokens)
    found += [s for s in secrets if s and len(s) >= 4]
    found += _secrets.odd()
    for secret in sorted(found, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def install_log_redaction() -> None:
    """Mask keys in every log record from now on, its traceback included (idempotent).

    A record's exception is formatted here, masked and folded into its message, so no handler
    can render the raw exception (whose text may quote a key) later.
    """
    global _logs_installed
    with _install_lock:
        if _logs_installed:
            return
        _logs_installed = True
    make_record = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's own business
            return record
        cleaned = redact(message)
        if record.exc_info and record.exc_info[0] is not None:
            cleaned += "\n" + redact(formatter.formatException(record.exc_info))
            record.exc_info, record.exc_text = None, None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)


class RedactingStream:
    """A text stream that masks keys in everything written to it, and is otherwise ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if isinstance(text, str):
            self._stream.write(redact(text))
            return len(text)
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def install_output_redaction() -> None:
    """Mask keys in what this process prints on stdout and stderr from now on (idempotent)."""
    install_log_redaction()
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, RedactingStream):
                setattr(sys, name, RedactingStream(stream))
