"""The client at the HTTP transport (``responses``): headers, bodies, error shapes, downloads."""

import json

import pytest
import responses

from pixverse_ui import errors, validate
from pixverse_ui.client import Client
from pixverse_ui.clock import ManualClock

BASE = "https://api.example.test"
URL = BASE + "/v2/video/generations"
KEY = "sk-live-DO-NOT-LEAK-1234567890"


@pytest.fixture
def client():
    with Client(api_key=KEY, base_url=BASE, clock=ManualClock()) as c:
        yield c


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_create_sends_bearer_request_id_and_exact_body(client, http):
    http.post(
        URL,
        json={
            "id": "FxkOMGP_IRjjNHfzH3LTV",
            "status": "queued",
            "meta": {"usage": {"credits_used": 5000000}},
        },
        headers={"x-aimlapi-usd-spent": "2.5"},
    )
    state = client.create(validate("a cheerful white raccoon", resolution="1080p"))
    sent = http.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    crid = sent.headers["X-Client-Request-Id"]
    assert 1 <= len(crid) <= 128 and all(c.isalnum() or c in "._:-" for c in crid)
    assert (
        json.loads(sent.body) == validate("a cheerful white raccoon", resolution="1080p").to_body()
    )
    assert state.id == "FxkOMGP_IRjjNHfzH3LTV" and state.status == "queued"
    assert state.credits_used == 5000000 and state.usd_spent == 2.5
    assert state.client_request_id == crid


def test_every_create_gets_a_fresh_client_request_id(client, http):
    http.post(URL, json={"id": "a", "status": "queued"})
    client.create(validate("x"))
    client.create(validate("x"))
    ids = {call.request.headers["X-Client-Request-Id"] for call in http.calls}
    assert len(ids) == 2


def test_retrieve_sends_bearer_and_reads_succeeded_with_video(client, http):
    http.get(
        URL,
        json={"id": "g", "status": "succeeded", "video": {"url": "https://cdn.example.test/v.mp4"}},
        headers={"x-aimlapi-credits-used": "1234"},
    )
    state = client.retrieve("g")
    assert http.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"
    assert "generation_id=g" in http.calls[0].request.url
    assert state.status == "succeeded" and state.video_url == "https://cdn.example.test/v.mp4"
    assert state.credits_used == 1234  # from the header when the body has none


def test_header_id_recovers_a_create_whose_body_is_broken(client, http):
    http.post(URL, body="{not json", headers={"x-inference-id": "gen-from-header"})
    assert client.create(validate("x")).id == "gen-from-header"


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (
            400,
            {"error": {"name": "BadRequestError", "message": "prompt too spicy"}},
            errors.BadRequestError,
            "BadRequestError: prompt too spicy",
        ),
        (
            400,
            {
                "error": {
                    "detail": [
                        {"loc": ["body", "duration"], "msg": "must be 5, 8 or 10", "type": "enum"}
                    ]
                }
            },
            errors.BadRequestError,
            "duration: must be 5, 8 or 10",
        ),
        (
            401,
            {
                "message": "Unauthorized",
                "path": "/v2/video/generations",
                "requestId": "r1",
                "statusCode": 401,
                "timestamp": "2026-11-25T10:00:00Z",
            },
            errors.AuthenticationError,
            "Unauthorized",
        ),
        (
            403,
            {"message": ["Insufficient credits"], "statusCode": 403},
            errors.InsufficientCreditsError,
            "Insufficient credits",
        ),
        (429, {"message": "Too many requests"}, errors.RateLimitError, "Too many requests"),
        (503, {"message": "Service unavailable"}, errors.ServerError, "Service unavailable"),
    ],
)
def test_http_errors_map_to_the_hierarchy_with_the_providers_words(
    client, http, status, body, kind, words
):
    http.post(URL, status=status, json=body, headers={"Retry-After": "7"})
    with pytest.raises(kind) as caught:
        client.create(validate("x"))
    exc = caught.value
    assert exc.provider_message == words
    assert words in exc.user_message and exc.status_code == status
    assert exc.client_request_id  # the job can be looked up by it
    if kind is errors.RateLimitError:
        assert exc.retry_after == 7


def test_post_is_never_repeated_on_5xx_or_429(client, http):
    http.post(URL, status=503, json={"message": "busy"})
    with pytest.raises(errors.ServerError):
        client.create(validate("x"))
    http.post(URL, status=429, json={"message": "slow down"})
    with pytest.raises(errors.RateLimitError):
        client.create(validate("x"))
    assert len(http.calls) == 2  # one POST each, no retries


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_post_that_may_have_created_a_job_is_reported_unconfirmed(client, http, status):
    http.post(URL, status=status, json={"message": "oops"})
    with pytest.raises(errors.SubmissionUnconfirmedError) as caught:
        client.create(validate("x"))
    assert caught.value.client_request_id
    assert "not sent again" in caught.value.user_message
    assert len(http.calls) == 1


def test_the_key_is_in_no_repr_or_error_text(client, http):
    http.post(URL, status=401, json={"message": f"bad key {KEY}"})
    with pytest.raises(errors.AuthenticationError) as caught:
        client.create(validate("x"))
    texts = [repr(client), str(caught.value), caught.value.user_message, repr(caught.value)]
    assert all(KEY not in t for t in texts)
    assert "***" in caught.value.user_message


def test_no_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("AIMLAPI_KEY", raising=False)
    with pytest.raises(errors.AuthenticationError) as caught:
        Client(api_key="")
    assert "AIMLAPI_KEY" in caught.value.user_message


# --- downloads -----------------------------------------------------------------------------


#: The start of an MP4 file (an ``ftyp`` box), padded to 5000 bytes.
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 4976


def test_download_streams_to_the_destination_without_the_key(client, http, tmp_path):
    http.get("https://cdn.example.test/v.mp4", body=MP4, headers={"Content-Length": "5000"})
    path = client.download("https://cdn.example.test/v.mp4", tmp_path / "v.mp4")
    assert path.read_bytes() == MP4
    assert "Authorization" not in http.calls[0].request.headers
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    "url", ["http://cdn.example.test/v.mp4", "ftp://cdn.example.test/v.mp4", "file:///etc/passwd"]
)
def test_download_refuses_non_https_links(client, tmp_path, url):
    with pytest.raises(errors.DownloadError) as caught:
        client.download(url, tmp_path / "v.mp4")
    assert "only https" in caught.value.message and not caught.value.retryable
    assert list(tmp_path.iterdir()) == []


def test_download_allows_http_on_loopback_only(client, http, tmp_path):
    http.get("http://127.0.0.1:9/v.mp4", body=MP4)
    assert client.download("http://127.0.0.1:9/v.mp4", tmp_path / "v.mp4").read_bytes() == MP4


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"<!doctype html><title>Sign in</title>", "text/html; charset=utf-8", "a web page"),
        (b"", "video/mp4", "an empty answer"),
        (b"\x00" * 64, "application/octet-stream", "something that is not a video"),
    ],
    ids=["html", "empty", "bytes"],
)
def test_a_download_that_is_not_a_video_is_refused(
    client, http, tmp_path, body, content_type, words
):
    http.get("https://cdn.example.test/v.mp4", body=body, content_type=content_type)
    with pytest.raises(errors.DownloadError) as caught:
        client.download("https://cdn.example.test/v.mp4", tmp_path / "v.mp4")
    assert words in caught.value.message and caught.value.retryable
    assert list(tmp_path.iterdir()) == []


def test_a_video_content_type_is_enough_without_an_mp4_signature(client, http, tmp_path):
    webm = b"\x1a\x45\xdf\xa3" + b"\x00" * 100  # a WebM file: no ftyp box
    http.get("https://cdn.example.test/v.webm", body=webm, content_type="video/webm")
    assert client.download("https://cdn.example.test/v.webm", tmp_path / "v.webm").exists()


def test_downloads_ask_for_the_file_as_it_is(client, http, tmp_path):
    http.get("https://cdn.example.test/v.mp4", body=MP4)
    client.download("https://cdn.example.test/v.mp4", tmp_path / "v.mp4")
    assert http.calls[0].request.headers["Accept-Encoding"] == "identity"


def test_stale_part_files_of_a_killed_process_are_swept(client, http, tmp_path):
    import os

    stale, fresh = tmp_path / ".part-old.mp4", tmp_path / ".part-new.mp4"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (1, 1))  # from long ago: its process is gone
    http.get("https://cdn.example.test/v.mp4", body=MP4)
    client.download("https://cdn.example.test/v.mp4", tmp_path / "v.mp4")
    assert not stale.exists() and fresh.exists()  # a recent one may be another download's


def test_download_refuses_a_redirect_to_another_scheme(client, http, tmp_path):
    http.get(
        "https://cdn.example.test/v.mp4",
        status=302,
        headers={"Location": "http://evil.example.test/v.mp4"},
    )
    with pytest.raises(errors.DownloadError) as caught:
        client.download("https://cdn.example.test/v.mp4", tmp_path / "v.mp4")
    assert "only https" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_download_stops_at_the_size_cap_and_leaves_no_half_file(http, tmp_path):
    small = Client(api_key=KEY, base_url=BASE, max_download_bytes=1000, clock=ManualClock())
    http.get("https://cdn.example.test/big.mp4", body=b"\x01" * 5000)
    with pytest.raises(errors.DownloadError) as caught:
        small.download("https://cdn.example.test/big.mp4", tmp_path / "big.mp4")
    assert "limit" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_an_expired_link_is_a_retryable_download_error(client, http, tmp_path):
    http.get("https://cdn.example.test/v.mp4", status=410, json={"message": "link expired"})
    with pytest.raises(errors.DownloadError) as caught:
        client.download("https://cdn.example.test/v.mp4", tmp_path / "v.mp4")
    assert caught.value.retryable and caught.value.provider_message == "link expired"


# --- what kept a request from the server: a name, a refusal, a timeout ----------------------------


def _unsent(reason: Exception) -> Exception:
    """What requests raises when urllib3 never connected, with ``reason`` as urllib3's cause."""
    import requests
    from urllib3.exceptions import MaxRetryError

    return requests.ConnectionError(MaxRetryError(None, URL, reason=reason))


def _dns_failure() -> Exception:
    import socket

    from urllib3.exceptions import NameResolutionError

    return _unsent(
        NameResolutionError("api.example.test", None, socket.gaierror(-2, "Name unknown"))
    )


def _refused() -> Exception:
    from urllib3.exceptions import NewConnectionError

    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")
    reason.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return _unsent(reason)


def _connect_timeout() -> Exception:
    import requests

    return requests.ConnectTimeout("timed out")


@pytest.mark.parametrize(
    ("failure", "sentence"),
    [
        (
            _dns_failure,
            "Could not find the API's host api.example.test (the name did not resolve): "
            "nothing was sent.",
        ),
        (_refused, f"Could not reach the API at {BASE} (connection refused): nothing was sent."),
        (
            _connect_timeout,
            f"Could not reach the API at {BASE} (connect timed out): nothing was sent.",
        ),
    ],
    ids=["dns", "refused", "connect-timeout"],
)
def test_a_create_that_never_left_says_what_failed(client, http, failure, sentence):
    http.post(URL, body=failure())
    with pytest.raises(errors.APIConnectionError) as failed:
        client.create(validate("a red fox"))
    assert failed.value.message == sentence
    assert not isinstance(failed.value, errors.SubmissionUnconfirmedError)  # nothing can exist
    assert failed.value.client_request_id  # still named, for the ledger


def test_a_poll_whose_host_does_not_resolve_says_so(client, http):
    http.get(URL, body=_dns_failure())
    with pytest.raises(errors.APIConnectionError) as failed:
        client.retrieve("gen-1")
    assert failed.value.message == (
        "Could not find the API's host api.example.test (the name did not resolve)."
    )
    assert failed.value.generation_id == "gen-1"


def test_a_connection_dropped_after_it_was_made_may_have_created_a_job(client, http):
    import requests

    http.post(URL, body=requests.ConnectionError("Connection aborted."))
    with pytest.raises(errors.SubmissionUnconfirmedError):
        client.create(validate("a red fox"))


def test_a_real_refusal_on_loopback_is_called_a_refusal():
    from support import free_port

    base = f"http://127.0.0.1:{free_port()}"
    with (
        Client(api_key=KEY, base_url=base, clock=ManualClock()) as closed,
        pytest.raises(errors.APIConnectionError) as failed,
    ):
        closed.create(validate("a red fox"))
    assert failed.value.message == (
        f"Could not reach the API at {base} (connection refused): nothing was sent."
    )
