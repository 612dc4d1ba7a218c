"""The HTTP client: create, retrieve and download. It never loops and never waits on its own.

Retries live in the transport (urllib3's ``Retry``), for GET only: a POST may have started a paid
generation, so it is never repeated. Every create carries a fresh ``X-Client-Request-Id`` so a job
whose answer was lost can be found again in the provider's usage log.
"""

from __future__ import annotations

import contextvars
import email.utils
import errno
import ipaddress
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, NameResolutionError, NewConnectionError
from urllib3.util.retry import Retry

from . import download as downloads
from . import errors, intervals
from .clock import REAL_CLOCK, Clock
from .params import Params
from .redact import install_log_redaction, redact, register_secret, register_sent_key

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.aimlapi.com"
ENDPOINT = "/v2/video/generations"
#: Large enough for a 1080p 10 s video many times over; small enough that a runaway stream stops.
DEFAULT_MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
#: (connect, read) seconds for one HTTP exchange; the poll loop's deadline sits above these.
DEFAULT_TIMEOUT = (5.0, 30.0)
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: Sent by our simulator only: how many times faster than real time it runs jobs.
SIMULATOR_SPEED_HEADER = "x-simulator-speed"
MAX_REDIRECTS = 5
LAST_LOOK = intervals.LAST_LOOK

#: The deadline (on the client's monotonic clock) of the exchange running in this thread, which
#: the transport's retries must not outlive.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "pixverse_deadline", default=None
)


def new_client_request_id() -> str:
    """A fresh id for ``X-Client-Request-Id``: 1..128 of ``A-Za-z0-9._:-``."""
    return "pxui-" + secrets.token_urlsafe(16).replace("_", ".")


@dataclass(frozen=True)
class JobState:
    """One answer of the API about a generation."""

    id: str
    #: The provider's word for the job, as it came (stripped of spaces only; ``""`` when the
    #: answer named none): never one of ours. :attr:`kind` is the word to compare.
    status: str
    video_url: str | None = None
    credits_used: float | None = None
    usd_spent: float | None = None
    error_message: str | None = None
    #: Seconds the server asked us to wait before asking again, if it ever says.
    poll_after: float | None = None
    client_request_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def kind(self) -> str:
        """The provider's word folded to lower case, as ``params``' status sets spell it."""
        return self.status.lower()


class _Retry(Retry):
    """urllib3's Retry with the sleep injected, so tests and benchmarks never really wait, and
    bounded by the deadline of the exchange it serves: no retry starts, and no backoff or
    ``Retry-After`` wait runs, past it."""

    clock: Clock = REAL_CLOCK

    def new(self, **kw: Any) -> _Retry:
        fresh = super().new(**kw)
        fresh.clock = self.clock
        return fresh

    def _left(self) -> float | None:
        deadline = _deadline.get()
        return None if deadline is None else deadline - self.clock.monotonic()

    def is_exhausted(self) -> bool:
        left = self._left()
        return (left is not None and left <= 0) or super().is_exhausted()

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds or an HTTP date; a date is read against our clock, not the machine's."""
        value = retry_after.strip()
        if value.isdigit():
            return min(float(value), self.retry_after_max)
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            raise InvalidHeader(f"Invalid Retry-After header: {retry_after}")
        seconds = email.utils.mktime_tz(parsed) - self.clock.now()
        return min(max(seconds, 0.0), self.retry_after_max)

    def sleep(self, response: Any = None) -> None:
        wait = self.get_backoff_time()
        if self.respect_retry_after_header and response is not None:
            wait = self.get_retry_after(response) or wait
        left = self._left()
        if left is not None:
            wait = min(wait, max(0.0, left))
        if wait > 0:
            self.clock.sleep(wait)


def make_retry(*, retries: int = 3, clock: Clock = REAL_CLOCK, max_wait: float = 30.0) -> Retry:
    """GET-only retries on 429/5xx and connection errors, honouring Retry-After, jittered, capped.

    Connection errors where nothing reached the server (connect failures) are retried for any
    method: urllib3 counts those apart from read errors, which it retries for GET alone.
    """
    retry = _Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=MAX_REDIRECTS,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=0.5,
        backoff_jitter=0.5,
        backoff_max=8.0,
        retry_after_max=max_wait,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    retry.clock = clock
    return retry


class Client:
    """Talks to the AI/ML API (or the simulator, which speaks the same)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        retries: int = 3,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        clock: Clock = REAL_CLOCK,
        label: str | None = None,
        time_scale: float = 1.0,
        request_id_factory: Callable[[], str] = new_client_request_id,
        confirms_key: bool = True,
    ) -> None:
        """``confirms_key``: whether an answer from this endpoint proves the key real, so that
        it is masked from then on whatever its shape (False for the embedded simulator, which
        accepts any key the app hands it)."""
        key = api_key if api_key is not None else os.environ.get("AIMLAPI_KEY", "")
        key = key.strip()
        if not key:
            raise errors.AuthenticationError(
                "No AI/ML API key was given.",
                hint="Set AIMLAPI_KEY, pass api_key=..., or run without a key on the simulator.",
            )
        self._key = key
        self.confirms_key = confirms_key
        register_sent_key(key, holder=self)  # masked while this client lives, if key-shaped
        install_log_redaction()
        self.base_url = base_url or os.environ.get("AIMLAPI_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = self.base_url.rstrip("/")
        #: What the ledger records as this job's endpoint (the embedded simulator names itself).
        self.label = label or self.base_url
        #: How many times faster than real time this endpoint runs jobs (the simulator's speed).
        self.time_scale = time_scale
        self.timeout = timeout
        self.max_download_bytes = max_download_bytes
        self.clock = clock
        self._new_request_id = request_id_factory
        self._api = self._session(retries, proxies=_environment_proxies(self.base_url))
        # on the session, not on each request: requests merges a request's headers into the
        # session's at every call, a quarter of a poll's CPU (only the API's session has these)
        self._api.headers.update({"Authorization": f"Bearer {key}", "Accept": "application/json"})
        # Downloads go to a CDN: a separate session that never carries the key.
        self._cdn = self._session(retries)

    def _session(self, retries: int, proxies: Mapping[str, str] | None = None) -> requests.Session:
        session = requests.Session()
        # The environment (proxies, a CA bundle) is read here, once, not by requests on every
        # request: that lookup was a third of a poll's CPU. And never ~/.netrc, whose password
        # would replace our Authorization header (and would go to the CDN).
        session.trust_env = False
        session.proxies.update(proxies or {})
        session.verify = _environment_ca_bundle() or True
        adapter = HTTPAdapter(
            max_retries=make_retry(retries=retries, clock=self.clock),
            pool_connections=4,
            pool_maxsize=64,
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = "pixverse-ui"
        return session

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, api_key='***')"

    def new_request_id(self) -> str:
        """A fresh client request id, as ``create`` would make."""
        return self._new_request_id()

    @property
    def owner_key(self) -> str:
        """The key itself, for the ledger's salted hash only. Never print it."""
        return self._key

    def close(self) -> None:
        """Close the connection pools."""
        self._api.close()
        self._cdn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the two API calls ------------------------------------------------------------------

    def create(self, params: Params, *, client_request_id: str | None = None) -> JobState:
        """POST the job. Never retried once sent: see :class:`errors.SubmissionUnconfirmedError`."""
        crid = client_request_id or self._new_request_id()
        body = params.to_body()
        log.info("create %s (client request id %s)", params.summary(), crid)
        try:
            response = self._send(
                "POST",
                json=body,
                headers={"X-Client-Request-Id": crid},
                allow_redirects=False,
            )
            payload = self._payload(response, client_request_id=crid, id_from_header=True)
        except _NotSent as exc:
            raise errors.APIConnectionError(
                f"{exc.reason}: nothing was sent.", client_request_id=crid
            ) from None
        except errors.APIConnectionError as exc:
            raise self._unconfirmed(exc, crid) from None
        except errors.ServerError as exc:
            if exc.status_code in (None, 500, 502, 504):  # it may have been created before failing
                raise self._unconfirmed(exc, crid) from None
            raise
        except errors.BadRequestError as exc:
            if _refused_data_uri(params, exc):
                exc.hint = DATA_URI_HINT
            raise
        state = _job_state(payload, response.headers, crid)
        if not state.id:
            raise self._unconfirmed(
                errors.ServerError("The API's answer to the create request held no generation id."),
                crid,
            )
        return state

    def retrieve(self, generation_id: str, *, deadline: float | None = None) -> JobState:
        """GET the job's state. Transient failures are retried by the transport, then raised.

        ``deadline`` (on ``clock.monotonic()``) bounds the exchange, its retries and their waits.
        """
        if not generation_id or not isinstance(generation_id, str):
            raise errors.ValidationError("A generation id is needed.", field="generation_id")
        try:
            try:
                with self._until(deadline):
                    response = self._send(
                        "GET",
                        query=urlencode({"generation_id": generation_id}),
                        timeout=self._timeout(deadline),
                    )
            except _NotSent as exc:
                raise errors.APIConnectionError(f"{exc.reason}.") from None
            payload = self._payload(response, generation_id=generation_id)
        except errors.PixVerseError as exc:
            exc.generation_id = exc.generation_id or generation_id
            raise
        state = _job_state(payload, response.headers, None)
        return state if state.id else _with_id(state, generation_id)

    # --- download -----------------------------------------------------------------------------

    def download(
        self, url: str, dest: str | os.PathLike[str], *, deadline: float | None = None
    ) -> Path:
        """Fetch the video at ``url`` to ``dest``, verified to be a video (see :mod:`.download`).

        Only https (or http to loopback) is fetched, also after redirects; the key is never sent;
        a file larger than ``max_download_bytes`` is refused; ``deadline`` (on
        ``clock.monotonic()``) bounds the whole transfer; a failed download leaves nothing.
        """
        with self._until(deadline):
            response = self._open_download(url, self._timeout(deadline))
            saved = downloads.save(
                response,
                Path(dest),
                max_bytes=self.max_download_bytes,
                seconds_left=lambda: self._left(deadline),
                read_timeout=self._timeout(None)[1],
            )
        return saved.path

    def _open_download(self, url: str, timeout: tuple[float, float]) -> requests.Response:
        for _ in range(MAX_REDIRECTS + 1):
            _check_download_url(url)
            try:
                response = self._cdn.get(
                    url,
                    proxies=_environment_proxies(url),  # each link's host has its own NO_PROXY
                    stream=True,
                    timeout=timeout,
                    allow_redirects=False,
                    # the length the server declares is then the length of the file itself
                    headers={"Accept-Encoding": "identity"},
                )
            except requests.RequestException as exc:
                raise errors.DownloadError(
                    f"Could not reach the video's address ({type(exc).__name__}).",
                    retryable=True,
                ) from None
            if response.is_redirect:
                url = urljoin(url, response.headers.get("Location", ""))
                response.close()
                continue
            if response.status_code in (403, 404, 410):
                words = _error_text(_json_or_none(response))
                response.close()
                raise errors.DownloadError(
                    f"The video's link answered {response.status_code}: it has expired or is gone.",
                    status_code=response.status_code,
                    provider_message=words,
                    retryable=True,
                )
            if response.status_code >= 400:
                response.close()
                raise errors.DownloadError(
                    f"The video's link answered HTTP {response.status_code}.",
                    status_code=response.status_code,
                    retryable=response.status_code >= 500,
                )
            return response
        raise errors.DownloadError("The video's link redirected too many times.")

    # --- helpers ----------------------------------------------------------------------------

    @contextmanager
    def _until(self, deadline: float | None) -> Iterator[None]:
        """Make ``deadline`` the bound of the transport's retries in this thread, for a while."""
        token = _deadline.set(deadline)
        try:
            yield
        finally:
            _deadline.reset(token)

    def _left(self, deadline: float | None) -> float | None:
        """Seconds to ``deadline`` on this client's clock (None: no deadline)."""
        return None if deadline is None else deadline - self.clock.monotonic()

    def _timeout(self, deadline: float | None) -> tuple[float, float]:
        """(connect, read) seconds for one exchange: ours, but never past the deadline (save
        for a last look of ``LAST_LOOK`` seconds)."""
        connect, read = self.timeout if isinstance(self.timeout, tuple) else (self.timeout,) * 2
        if deadline is None:
            return connect, read
        left = max(LAST_LOOK, deadline - self.clock.monotonic())
        return min(connect, left), min(read, left)

    def _send(self, method: str, *, query: str = "", **kwargs: Any) -> requests.Response:
        """One exchange with the API; failures become ``APIConnectionError`` or ``_NotSent``."""
        kwargs.setdefault("timeout", self.timeout)
        unreached = f"Could not reach the API at {self.base_url}"
        url = self.base_url + ENDPOINT + (f"?{query}" if query else "")
        try:
            return self._api.request(method, url, **kwargs)
        except requests.ConnectTimeout:
            raise _NotSent(f"{unreached} (connect timed out)") from None
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ) as exc:
            raise _NotSent(f"{unreached} ({type(exc).__name__})") from None
        except requests.ConnectionError as exc:
            why = _never_connected(exc)
            if why == _UNRESOLVED:
                host = urlsplit(self.base_url).hostname or self.base_url
                raise _NotSent(
                    f"Could not find the API's host {host} (the name did not resolve)"
                ) from None
            if why is not None:
                raise _NotSent(f"{unreached} ({why})") from None
            raise errors.APIConnectionError(
                f"The connection to the API dropped ({type(exc).__name__})"
            ) from None
        except requests.Timeout:
            raise errors.APIConnectionError("The API did not answer in time") from None
        except requests.RequestException as exc:
            raise errors.APIConnectionError(
                f"The request to the API failed ({type(exc).__name__})"
            ) from None

    def _unconfirmed(self, cause: errors.PixVerseError, crid: str) -> errors.PixVerseError:
        return errors.SubmissionUnconfirmedError(
            f"The create request was sent but its answer was lost ({cause.message.rstrip('.')})",
            client_request_id=crid,
            status_code=cause.status_code,
            provider_message=cause.provider_message,
        )

    def _payload(
        self,
        response: requests.Response,
        *,
        generation_id: str | None = None,
        client_request_id: str | None = None,
        id_from_header: bool = False,
    ) -> dict[str, Any]:
        """Read the body, mapping HTTP errors to the hierarchy with the provider's words."""
        ids = {"generation_id": generation_id, "client_request_id": client_request_id}
        try:
            text = response.text
        except requests.RequestException as exc:
            raise errors.APIConnectionError(
                f"The connection dropped while reading the API's answer ({type(exc).__name__})",
                **ids,
            ) from None
        body = _json_or_none(response, text)
        speed = _number(response.headers.get(SIMULATOR_SPEED_HEADER))
        if speed and speed > 0:  # a simulator says how fast it runs; pace polls to it
            self.time_scale = speed
        if response.status_code >= 400:
            raise _http_error(response, body, self._key, ids, self.clock)
        if self.confirms_key:
            # only a success proves the key: a gateway or a body check in front of the key's
            # may answer 4xx or 5xx to anything
            register_secret(self._key)
        if not isinstance(body, dict):
            header_id = response.headers.get("x-inference-id") if id_from_header else None
            if header_id:  # the provider names the job in a header even when the body is broken
                return {"id": header_id}  # and no status: the first poll hears its word
            raise errors.ServerError(
                "The API answered with something that is not a JSON object.",
                status_code=response.status_code,
                **ids,
            )
        return body


class _NotSent(Exception):
    """The request never reached the server; ``reason`` is the sentence that says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_UNRESOLVED = "the name did not resolve"
_CONNECT_ERRNOS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ETIMEDOUT: "connect timed out",
}


def _never_connected(exc: requests.ConnectionError) -> str | None:
    """What kept a request from ever reaching the server (None: it may have reached it)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NameResolutionError):  # before its base class, NewConnectionError
        return _UNRESOLVED
    if not isinstance(reason, NewConnectionError):
        return None
    cause = reason.__cause__ or reason.__context__
    if isinstance(cause, OSError) and cause.errno in _CONNECT_ERRNOS:
        return _CONNECT_ERRNOS[cause.errno]
    if "refused" in str(reason).lower():
        return "connection refused"
    detail = cause.strerror if isinstance(cause, OSError) and cause.strerror else None
    return f"could not connect: {detail}" if detail else "could not connect"


def _environment_proxies(url: str) -> dict[str, str]:
    """The proxies the environment (``HTTPS_PROXY``, ``NO_PROXY``...) sets for ``url``."""
    return requests.utils.get_environ_proxies(url)


def _environment_ca_bundle() -> str | None:
    """The CA bundle the environment names for requests, as requests itself would read it."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def _check_download_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback(parts.hostname or ""):
        return
    shown = f"{parts.scheme}://{parts.hostname}" if parts.scheme else (url[:40] or "an empty link")
    raise errors.DownloadError(
        f"Refused to download the video from {shown}: only https links are fetched.",
        hint="This protects the download; the job is kept in the ledger.",
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _json_or_none(response: requests.Response, text: str | None = None) -> Any:
    try:
        return json.loads(text if text is not None else response.text)
    except (ValueError, requests.RequestException):
        return None


def _error_text(body: Any) -> str | None:
    """The provider's words from any of its three error shapes (docs/provider-contract.md)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str) and error.strip():
        return error.strip()
    for source in (error, body):
        if not isinstance(source, dict):
            continue
        detail = source.get("detail")
        if isinstance(detail, list) and detail:
            return "; ".join(_detail_line(item) for item in detail)
        if isinstance(detail, str) and detail.strip():
            return detail.strip()
        message = source.get("message")
        if isinstance(message, list):
            message = "; ".join(str(m) for m in message)
        if isinstance(message, str) and message.strip():
            name = source.get("name")
            return (
                f"{name}: {message.strip()}" if isinstance(name, str) and name else message.strip()
            )
    return None


def _detail_line(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = item.get("loc")
    where = ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
    msg = str(item.get("msg", "")).strip() or "invalid"
    return f"{where}: {msg}" if where else msg


_HTTP_ERRORS: dict[int, tuple[type[errors.APIError], str]] = {
    400: (errors.BadRequestError, "The API refused the request"),
    401: (errors.AuthenticationError, "The API did not accept the key"),
    403: (errors.InsufficientCreditsError, "The API refused: out of credits or not allowed"),
    404: (errors.BadRequestError, "The API does not know this generation"),
    422: (errors.BadRequestError, "The API refused the request"),
    429: (errors.RateLimitError, "The API is rate limiting requests"),
}


def _http_error(
    response: requests.Response, body: Any, key: str, ids: dict[str, str | None], clock: Clock
) -> errors.APIError:
    code = response.status_code
    kind, text = _HTTP_ERRORS.get(code, (errors.ServerError, f"The API failed (HTTP {code})"))
    if code >= 500:
        kind = errors.ServerError
        text = {504: "The API timed out (HTTP 504)"}.get(
            code, f"The API had a problem (HTTP {code})"
        )
    words = _error_text(body)
    provider = redact(words, key) if words else None
    kwargs: dict[str, Any] = {"status_code": code, "provider_message": provider, **ids}
    if kind is errors.RateLimitError:
        kwargs["retry_after"] = _retry_after(response.headers.get("Retry-After"), clock)
    return kind(text + ".", **kwargs)


#: What to do when the API refuses a local image sent as a data: URI.
DATA_URI_HINT = (
    "Give the image as a public https URL instead: the API did not take the local image "
    "as a data: URI."
)


def _refused_data_uri(params: Params, refusal: errors.BadRequestError) -> bool:
    """Whether the API refused a request for the data: URI of its local image."""
    sent_bytes = params.image is not None and not params.image.is_url
    return sent_bytes and "image" in (refusal.provider_message or "").lower()


def _retry_after(value: str | None, clock: Clock) -> float | None:
    if not value:
        return None
    try:
        return make_retry(clock=clock).parse_retry_after(value)
    except InvalidHeader:
        return None  # a malformed header is simply no hint


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _job_state(body: dict[str, Any], headers: Mapping[str, str], crid: str | None) -> JobState:
    video = body.get("video")
    url = video.get("url") if isinstance(video, dict) else None
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    usage = meta.get("usage") if isinstance(meta.get("usage"), dict) else {}
    credits = _number(usage.get("credits_used"))
    if credits is None:
        credits = _number(headers.get("x-aimlapi-credits-used"))
    status = body.get("status")
    status = status.strip() if isinstance(status, str) else ""
    gid = body.get("id") if isinstance(body.get("id"), str) else headers.get("x-inference-id", "")
    poll_after = _number(body.get("poll_after") or headers.get("Retry-After"))
    return JobState(
        id=gid or "",
        status=status,
        video_url=url if isinstance(url, str) and url else None,
        credits_used=credits,
        usd_spent=_number(headers.get("x-aimlapi-usd-spent")),
        error_message=_error_text(body),
        poll_after=poll_after,
        client_request_id=crid,
        raw=body,
    )


def _with_id(state: JobState, generation_id: str) -> JobState:
    return replace(state, id=generation_id)
