"""Keep keys out of text: every key this process holds is masked wherever it would be shown.

Three nets, applied together by :func:`redact`:

- keys this process holds, found by looking up each key-shaped token of the text in bounded
  tables, so the cost of masking a line does not grow with the number of visitors a public app
  has seen: the host's key and keys the API accepted (:func:`register_secret`), and values
  visitors sent as keys (:func:`register_sent_key`) if they look like keys, kept apart so that
  a flood of sent values cannot push an accepted key out, and masked for as long as a client
  uses them;
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
import weakref
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

MASK = "***"
#: How many keys each table remembers besides the pinned ones (the host's); the least recently
#: used go first. A client touches its key at every answer the API accepts.
MAX_KEYS = 4096
#: The shortest string ever masked as a key; shorter ones would mask ordinary words.
MIN_KEY_LENGTH = 6
#: The shortest value a visitor sends that is masked before the API has accepted it (see
#: :func:`looks_like_key`): the shortest key a visitor may send (``access.KEY_SHAPE``).
MIN_SENT_KEY_LENGTH = 8

#: Runs of the characters keys are made of. ``+ / =`` (base64) are left out because they also
#: join words ("api_key=..."); a key holding them is looked up by its longest run of these.
_TOKEN = re.compile(r"[A-Za-z0-9._~-]+")
#: What a key sent by a visitor must look like to be masked before the API accepts it.
_KEY_LIKE = re.compile(rf"[A-Za-z0-9._~+/=-]{{{MIN_SENT_KEY_LENGTH},256}}\Z")
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")
#: A dotted name (``urllib3.exceptions.ReadTimeoutError``): code, never a key.
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+\Z")
#: A name with its version (``python3.11``, ``gradio-6.31.0``): a path or a banner, never a key.
_VERSIONED = re.compile(r"[A-Za-z][A-Za-z_-]*[0-9]*(?:\.[0-9]+)+\Z")
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
    """The keys to mask, in four places:

    - pinned, for the life of the process (the host's key);
    - confirmed: keys the API accepted, the ``capacity`` most recently used;
    - sent: values sent as keys that the API has not accepted (yet), the ``capacity`` most
      recent. A flood of them evicts only its own kind, never a confirmed key;
    - held: the keys of the clients alive now, whatever the tables, until the client is gone.

    A key is looked up by its anchor, its longest run of ``_TOKEN`` characters (most keys are
    one run, their own anchor): a line holds a key standing as a word of its own only if it holds
    the anchor as a token, so finding the keys in a line is a set intersection with the line's
    tokens, whose cost does not grow with the number of keys.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        # Reentrant: a finalizer that logs (jupyter_client's __del__ does) may run in this very
        # thread while it holds the lock, and the log's redaction asks ``among`` again. With a
        # plain lock that thread waited on itself forever, and every thread that logged after it.
        self._lock = threading.RLock()
        self._depth = 0
        self._pinned: set[str] = set()
        self._confirmed: OrderedDict[str, None] = OrderedDict()
        self._sent: OrderedDict[str, None] = OrderedDict()
        self._held: Counter[str] = Counter()
        #: Holds whose client is gone, applied under the lock later: a finalizer runs whenever
        #: the garbage collector does, possibly in this very thread while it holds the lock.
        self._released: deque[str] = deque()
        #: In how many places each key is (once per place, once per hold): 0 is not at all.
        self._places: Counter[str] = Counter()
        self._anchors: dict[str, set[str]] = {}

    def add(self, secret: str, *, pin: bool = False) -> None:
        """Pin a key, or keep it among the confirmed ones."""
        with self._locked():
            if pin:
                if secret not in self._pinned:
                    self._pinned.add(secret)
                    self._enter(secret)
            else:
                self._touch(self._confirmed, secret)

    def saw(self, secret: str) -> None:
        """Keep a value sent as a key among the sent ones."""
        with self._locked():
            self._touch(self._sent, secret)

    def hold(self, secret: str, holder: object) -> None:
        """Keep ``secret`` for as long as ``holder`` lives."""
        with self._locked():
            self._held[secret] += 1
            self._enter(secret)
        weakref.finalize(holder, self._released.append, secret)

    def among(self, tokens: set[str]) -> list[str]:
        """The keys whose anchor is among ``tokens`` (set operations in C: no loop over keys)."""
        with self._locked():
            anchors = self._anchors
            return [secret for anchor in tokens & anchors.keys() for secret in anchors[anchor]]

    def sizes(self) -> dict[str, int]:
        """How many keys each place holds (``held``: distinct keys of live clients)."""
        with self._locked():
            return {
                "pinned": len(self._pinned),
                "confirmed": len(self._confirmed),
                "sent": len(self._sent),
                "held": len(self._held),
            }

    def __contains__(self, secret: str) -> bool:
        with self._locked():
            return secret in self._places

    def __len__(self) -> int:
        with self._locked():
            return len(self._places)

    # --- under the lock ---------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The lock, with released holds applied first; a call made inside another (a finalizer
        that logs) reads the tables as they are and changes nothing the outer call is changing."""
        with self._lock:
            self._depth += 1
            try:
                if self._depth == 1:
                    self._settle()
                yield
            finally:
                self._depth -= 1

    def _touch(self, table: OrderedDict[str, None], secret: str) -> None:
        if secret in table:
            table.move_to_end(secret)
            return
        table[secret] = None
        self._enter(secret)
        while len(table) > self.capacity:
            old, _ = table.popitem(last=False)
            self._leave(old)

    def _settle(self) -> None:
        while self._released:
            secret = self._released.popleft()
            self._held[secret] -= 1
            if self._held[secret] <= 0:
                del self._held[secret]
            self._leave(secret)

    def _enter(self, secret: str) -> None:
        self._places[secret] += 1
        if self._places[secret] == 1:
            self._anchors.setdefault(_anchor(secret), set()).add(secret)

    def _leave(self, secret: str) -> None:
        self._places[secret] -= 1
        if self._places[secret] > 0:
            return
        del self._places[secret]
        anchor = _anchor(secret)
        self._anchors[anchor].discard(secret)
        if not self._anchors[anchor]:
            del self._anchors[anchor]


def _anchor(secret: str) -> str:
    """The token a line must hold for ``secret`` to be in it: its longest ``_TOKEN`` run.

    A key without any (made of ``+ / =`` alone: no real key) is its own anchor, which a line's
    tokens never hold: it is masked by its context alone.
    """
    return max(_TOKEN.findall(secret), key=len, default=secret)


_secrets = _Secrets(MAX_KEYS)
_install_lock = threading.Lock()
_logs_installed = False


def looks_like_key(value: str) -> bool:
    """Whether a value sent as a key is shaped like one, and so masked before the API accepts it.

    8 to 256 of the characters keys are made of, and the part a log line is searched by (its
    longest run without ``+ / =``, the whole value for most keys) holds letters and digits
    both, and is neither a dotted name nor a name with a version.

    What this protects: a visitor cannot make the operator's log lose its words by sending them
    as keys. Words have no digit ("Traceback", "generate", "sk-a-key-typed-in-the-wrong-field");
    code is dotted ("urllib3.exceptions.ReadTimeoutError", "h11_impl.py"); paths and banners
    name versions ("python3.11", "gradio-6.31.0"); and "HTTP/1.1" is searched by "HTTP", a word.
    None of them is masked, wherever it stands.

    What it gives up: a value of 8 or more characters mixing letters and digits is masked from
    the moment it is sent, so a visitor can hide such a token they know from the log: their own
    ids (a generation id, a session hash), a word with a number ("HTTP1234", "sha256ab"), a size
    ("1280x720"), a hex number. Telling those from keys would leave keys unmasked: one random
    12-character key in 35 is letters then digits. And a key made of letters alone, or of
    digits alone (one random 12-character key in 8 has no digit), is masked only once the API
    has accepted it.
    """
    return bool(_KEY_LIKE.match(value) and _shaped(_anchor(value)))


def _shaped(token: str) -> bool:
    return bool(
        len(token) >= MIN_SENT_KEY_LENGTH
        and _LETTER.search(token)
        and _DIGIT.search(token)
        and not _DOTTED_NAME.match(token)
        and not _VERSIONED.match(token)
    )


def register_secret(secret: str | None, *, pin: bool = False) -> None:
    """Mask a key known to be one, whatever its shape, wherever it would appear.

    ``pin`` keeps it for the life of the process (the host's key, the library user's own);
    otherwise it is a key the API accepted, remembered while among the ``MAX_KEYS`` most
    recently used such keys. Values merely sent as keys never evict it.
    """
    if secret and len(secret) >= MIN_KEY_LENGTH:
        _secrets.add(secret, pin=pin)


def register_sent_key(secret: str | None, holder: object | None = None) -> None:
    """Mask a value sent as a key that the API has not accepted yet, if it looks like a key.

    It is remembered while among the ``MAX_KEYS`` most recently sent such values, and, given a
    ``holder`` (the client using it), for as long as the holder lives, however many values are
    sent meanwhile. Values that do not look like keys (:func:`looks_like_key`) are not masked:
    a visitor could otherwise mask any word out of the operator's log.
    """
    if not secret or not looks_like_key(secret):
        return
    _secrets.saw(secret)
    if holder is not None:
        _secrets.hold(secret, holder)


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
