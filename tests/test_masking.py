"""Masking cannot be turned against the operator, and still never lets a key through.

A visitor decides what the app receives as a key. Words sent as keys must not be masked out of
the operator's log, a flood of values sent as keys must not push a key the API accepted out of
the masking tables, and a key-shaped value must stay masked in every line written while it is in
use. Each test drives ``access.App`` as the page's handlers do, against a simulator on loopback
standing in for the API, then writes log lines through the installed redaction.
"""

from __future__ import annotations

import gc
import logging

import pytest

from pixverse_ui import errors, validate
from pixverse_ui import redact as redaction
from pixverse_ui.access import App, Mode
from pixverse_ui.client import Client
from pixverse_ui.redact import looks_like_key
from pixverse_ui.store import Ledger

HOST = "sk-masking-HOST-00112233445566778899"
ACCEPTED = "sk-masking-ACCEPTED-a1b2c3d4e5f60718"
NEVER_ISSUED = "sk-masking-NEVER-ISSUED-9f8e7d6c5b4a"
FLOOD = 5000
#: A visitor's key of 12 characters, which the API never issued.
SHORT = "k3Y9pQ2xLm7Z"
#: Lines an operator's log holds, with the words a hostile visitor sent as keys.
LINES = (
    "Traceback (most recent call last):",
    "An event handler (generate) didn't receive enough input values (needed: 12, got: 1).",
    "Received 12 bytes from urllib3.exceptions.ReadTimeoutError",
    '  File "/usr/lib/python3.11/site-packages/uvicorn/protocols/http/h11_impl.py", line 403',
    '127.0.0.1:52614 - "POST /gradio_api/queue/join HTTP/1.1" 413',
)
WORDS = (
    "Traceback",
    "generate",
    "Received",
    "urllib3.exceptions.ReadTimeoutError",
    "h11_impl.py",
    "python3.11",
    "HTTP/1.1",
)
log = logging.getLogger("pixverse_ui.test_masking")


@pytest.fixture(autouse=True)
def fresh_table(monkeypatch):
    """Each test starts from an empty masking table (the process's is shared by every test)."""
    table = redaction._Secrets(redaction.MAX_KEYS)
    monkeypatch.setattr(redaction, "_secrets", table)
    redaction.install_log_redaction()  # as every app does at start
    return table


@pytest.fixture
def api(make_sim, monkeypatch):
    """A stand-in API that issued the host's key and ``ACCEPTED`` only; visitors' clients go
    there (``AIMLAPI_BASE_URL``)."""
    sim = make_sim(api_keys=frozenset({HOST, ACCEPTED}))
    monkeypatch.setenv("AIMLAPI_BASE_URL", sim.url)
    return sim


def shared_space(tmp_path, host_key: str | None = HOST) -> App:
    """The app as a public Space that shares its host key (or, without one, on the simulator)."""
    mode = Mode(host_key=host_key, on_space=True, share_host_key=True, has_auth=False, public=True)
    return App(mode, Ledger(tmp_path / "ledger.sqlite3"), tmp_path / "videos")


def logged(caplog, *lines: str) -> str:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for line in lines:
            log.warning(line)
    return caplog.text


def junk(count: int) -> list[str]:
    return [f"junk-{i:06d}-0123456789abcdefABCDEF" for i in range(count)]


@pytest.mark.parametrize("mode", ["live", "simulator"])
def test_words_sent_as_keys_leave_the_log_readable(mode, api, tmp_path, caplog):
    app = shared_space(tmp_path, HOST if mode == "live" else None)
    for word in WORDS:
        caller = app.caller(word, "hostile-browser")
        try:  # the API refuses them (401); the embedded simulator takes any key
            caller.client.create(validate("a fox", resolution="360p"))
        except errors.AuthenticationError:
            assert mode == "live"
    text = logged(caplog, *LINES)
    assert "***" not in text
    assert all(line in text for line in LINES)


def test_a_flood_of_values_sent_as_keys_does_not_evict_a_key_the_api_accepted(
    api, tmp_path, caplog
):
    app = shared_space(tmp_path)
    accepted = app.caller(ACCEPTED, "alice-browser")
    accepted.client.create(validate("a heron", resolution="360p"))  # answered 200: accepted
    del accepted
    app._clients.clear()  # Alice has left: no client of hers is alive
    gc.collect()
    for value in junk(FLOOD):  # each one a visitor's client, as the page's handlers make
        app.caller(value, "hostile-browser")
    text = logged(caplog, f"Alice's key is {ACCEPTED}")
    assert ACCEPTED not in text and "***" in text


def test_a_real_shaped_key_sent_once_is_masked_in_the_lines_about_its_401(api, tmp_path, caplog):
    app = shared_space(tmp_path)
    caller = app.caller(NEVER_ISSUED, "bob-browser")
    with pytest.raises(errors.AuthenticationError) as refused:
        caller.client.create(validate("an owl", resolution="360p"))
    assert refused.value.status_code == 401
    line = f"401 for key {NEVER_ISSUED}: {refused.value.user_message}"
    assert NEVER_ISSUED not in logged(caplog, line)
    for value in junk(FLOOD):  # while Bob's client is still in use, others keep coming
        app.caller(value, "hostile-browser")
    assert NEVER_ISSUED not in logged(caplog, line)


def test_a_short_key_sent_once_is_masked_in_the_lines_about_its_401(api, tmp_path, caplog):
    app = shared_space(tmp_path)
    caller = app.caller(SHORT, "carol-browser")
    with pytest.raises(errors.AuthenticationError):
        caller.client.create(validate("a wren", resolution="360p"))
    text = logged(caplog, f"401 for key {SHORT}", f"Authorization: {SHORT}", f"key={SHORT}.")
    assert SHORT not in text and text.count("***") == 3
    assert all(line in text for line in ("401 for key ***", "Authorization: ***", "key=***."))


def test_a_sent_key_is_masked_only_while_its_client_lives_once_flooded_out():
    sent = "sk-masking-SENT-0011223344556677"
    holder = Client(api_key=sent, base_url="http://127.0.0.1:9")
    for value in junk(FLOOD):
        redaction.register_sent_key(value)
    assert redaction.redact(f"key {sent}") == "key ***"
    del holder
    gc.collect()
    assert redaction.redact(f"key {sent}") == f"key {sent}"  # gone with its last user
    assert len(redaction._secrets) == redaction.MAX_KEYS  # the flood's most recent only


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("Traceback", False),
        ("generate", False),
        ("Received", False),
        ("urllib3.exceptions.ReadTimeoutError", False),  # a name in a traceback
        ("h11_impl.py", False),  # a file's name
        ("python3.11", False),  # a name with its version, as paths hold it
        ("gradio-6.31.0", False),
        ("HTTP/1.1", False),  # searched by "HTTP", a word
        ("sk-a-key-typed-in-the-wrong-field", False),  # no digit: words joined by dashes
        ("sk-abc1", False),  # 7 characters
        (SHORT, True),  # 12 characters, letters and digits
        ("abcd1234", True),  # 8
        ("HTTP1234", True),  # a word with a number: one short random key in 35 is shaped so
        ("FxkOMGP_IRjjNHfzH3LTV", True),  # a provider's generation id: a visitor may hide theirs
        ("0123456789abcdef0123456789abcdef", True),  # 32 hex characters
        ("sim-Zk3q9xYbW1Lq2mN0pR7sTuVwXyZ01234", True),  # the simulator's own
        (HOST, True),
        ("abc+def/ghi=jkl012mno345pq", True),  # base64 signs
    ],
)
def test_only_values_shaped_like_keys_are_masked_before_the_api_accepts_them(value, masked):
    assert looks_like_key(value) is masked
    redaction.register_sent_key(value)
    assert (redaction.redact(f"[{value}]") == "[***]") is masked
