"""Keys are masked in text and in every log record, and ordinary text is left alone."""

import logging

import pytest
import responses

from pixverse_ui import errors, validate
from pixverse_ui.client import Client
from pixverse_ui.clock import ManualClock
from pixverse_ui.generation import resume, submit
from pixverse_ui.redact import redact, register_secret
from pixverse_ui.store import UNCONFIRMED, Ledger

KEY = "sk-redact-test-KEY-5f3a9c0e1b2d"


def test_registered_keys_and_bearer_tokens_are_masked():
    register_secret(KEY)
    assert KEY not in redact(f"sending {KEY} now")
    assert redact("Authorization: Bearer abcdefgh12345678") == "Authorization: Bearer ***"
    assert redact('{"api_key": "0123456789abcdef0123"}') == '{"api_key": "***"}'


@pytest.mark.parametrize(
    "text",
    [
        "No AIMLAPI_KEY: running on the built-in simulator (no cost).",
        "Set AIMLAPI_KEY to make real videos.",
        "the bearer of good news",
    ],
)
def test_ordinary_sentences_are_left_alone(text):
    assert redact(text) == text


def test_every_logger_masks_a_known_key(caplog):
    Client(api_key=KEY, base_url="https://api.example.test")  # registers the key
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library.deep.down").info("request with key %s", KEY)
    assert KEY not in caplog.text and "***" in caplog.text


def test_an_interrupted_create_is_marked_unconfirmed_not_left_submitting(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite3", clock=ManualClock())
    client = Client(api_key=KEY, base_url="https://api.example.test", clock=ManualClock())

    def interrupt(request):
        raise KeyboardInterrupt

    with responses.RequestsMock() as http:
        http.add_callback("POST", "https://api.example.test/v2/video/generations", interrupt)
        with pytest.raises(KeyboardInterrupt):
            submit(validate("x"), client=client, ledger=ledger)
    [row] = ledger.history()
    assert row.state == UNCONFIRMED and row.client_request_id
    with pytest.raises(errors.SubmissionUnconfirmedError) as caught:
        resume(row.client_request_id, client=client, ledger=ledger)
    assert "never got a generation id" in caught.value.user_message
    assert row.client_request_id in caught.value.user_message
