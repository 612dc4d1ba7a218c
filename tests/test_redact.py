"""Keys are masked in text and in every log record, and ordinary text is left alone."""

import gc
import io
import logging
import threading

import pytest
import responses

from pixverse_ui import errors, validate
from pixverse_ui.client import Client
from pixverse_ui.clock import ManualClock
from pixverse_ui.generation import create_job, resume
from pixverse_ui.lifecycle import Status
from pixverse_ui.redact import (
    RedactingStream,
    _Secrets,
    install_log_redaction,
    redact,
    register_secret,
)
from pixverse_ui.store import Ledger

KEY = "sk-redact-test-KEY-5f3a9c0e1b2d"


def test_registered_keys_and_bearer_tokens_are_masked():
    register_secret(KEY)
    assert KEY not in redact(f"sending {KEY} now")
    assert redact("Authorization: Bearer abcdefgh12345678") == "Authorization: Bearer ***"
    assert redact('{"api_key": "0123456789abcdef0123"}') == '{"api_key": "***"}'


@pytest.mark.parametrize(
    "text",
    [
        "No AIMLAPI_KEY: running on the built-in simulator; its prices are simulated and nothing "
        "is charged.",
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
            create_job(validate("x"), client=client, ledger=ledger)
    [row] = ledger.history()
    assert row.state == Status.UNCONFIRMED and row.client_request_id
    with pytest.raises(errors.SubmissionUnconfirmedError) as caught:
        resume(row.client_request_id, client=client, ledger=ledger)
    assert "never got a generation id" in caught.value.user_message
    assert row.client_request_id in caught.value.user_message


def test_gradios_dumps_of_raw_inputs_are_masked_whole_even_for_keys_never_seen():
    stranger = "sk-never-registered-0123456789"
    dump = (
        "ValueError: An event handler (generate) didn't receive enough input values.\n"
        f'Wanted inputs:\n    [<Textbox>]\nReceived inputs:\n    ["a fox", "{stranger}"]'
    )
    assert stranger not in redact(dump) and "Received inputs:\n    [***]" in redact(dump)
    refused = f"Error: Value: {{'k': '{stranger}'}} is not in the list of choices: ['16:9']"
    assert stranger not in redact(refused) and "is not in the list of choices" in redact(refused)
    processing = (
        f"the value passed to the event handler was: '{stranger}' (of type `str`).\n\n"
        f"Original error: TypeError: bad value {stranger}"
    )
    assert stranger not in redact(processing)


@pytest.mark.parametrize(
    "text",
    [
        "the key {key}.",
        "({key})",
        '{{"headers": {{"X-AIMLAPI-Key": "{key}"}}}}',
        "key={key}&x=1",
        "'{key}', 'next'",
    ],
)
def test_a_registered_key_is_masked_wherever_it_stands(text):
    key = "sk-anywhere-KEY-7e6d5c4b3a29"
    register_secret(key)
    assert key not in redact(text.format(key=key))


def test_keys_with_base64_signs_are_masked_too():
    key = "abc+def/ghi=jkl012"
    register_secret(key)
    assert redact(f"x {key} y") == "x *** y"


def test_a_logged_exception_is_masked_in_its_traceback(caplog):
    key = "sk-traceback-KEY-0a1b2c3d4e5f"
    register_secret(key)
    install_log_redaction()  # as making any Client does
    with caplog.at_level(logging.ERROR):
        try:
            raise ValueError(f"bad input {key}")
        except ValueError:
            logging.getLogger("gradio.queueing").exception("event failed")
    assert "event failed" in caplog.text and "ValueError" in caplog.text
    assert key not in caplog.text


def test_what_the_process_prints_is_masked():
    key = "sk-printed-KEY-99aa88bb77cc"
    register_secret(key)
    sink = io.StringIO()
    stream = RedactingStream(sink)
    assert stream.write(f"Traceback: {key}\n") == len(f"Traceback: {key}\n")
    stream.writelines([f"again {key}\n"])
    assert key not in sink.getvalue() and sink.getvalue().count("***") == 2
    assert stream.getvalue() == sink.getvalue()  # the rest of the stream is the stream's


def test_the_key_table_is_bounded_and_keeps_the_host_key():
    table = _Secrets(capacity=3)
    table.add("sk-host-pinned-000000", pin=True)
    for i in range(5):
        table.add(f"sk-visitor-{i:012d}")
    assert "sk-host-pinned-000000" in table
    assert [f"sk-visitor-{i:012d}" in table for i in range(5)] == [False, False, True, True, True]
    table.add("sk-visitor-000000000002")  # touched again: now the most recent
    table.add("sk-visitor-new-00000000")
    assert "sk-visitor-000000000002" in table and "sk-visitor-000000000003" not in table
    assert len(table) == 4


def test_a_finalizer_that_logs_while_the_key_table_is_busy_does_not_wait_on_itself():
    """The garbage collector may run a finalizer that logs (jupyter_client's ``__del__`` does)
    in a thread that is inside the key table; the log's masking asks the table again, in that
    same thread. It must answer, not wait for itself (the suite once hung there for minutes)."""
    from pixverse_ui.redact import _Secrets

    key = "sk-finalizer-0123456789abcdefXYZ"
    table = _Secrets(8)
    table.add(key)
    found: list[list[str]] = []

    class LogsWhenGone:
        def __del__(self) -> None:  # what a finalizer that logs does: the masking looks up keys
            found.append(table.among({key, "gone"}))
            logging.getLogger("pixverse-ui-test").debug("gone")

    def busy() -> None:
        with table._locked():  # the table is being used in this thread...
            cycle = LogsWhenGone()
            cycle.me = cycle  # type: ignore[attr-defined]
            del cycle
            gc.collect()  # ...when the collector runs the finalizer here

    worker = threading.Thread(target=busy, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the table waited on itself"
    assert found and found[0] == [key]
