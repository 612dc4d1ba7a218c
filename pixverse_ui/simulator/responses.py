"""The shapes the simulator answers with: the provider's bodies, signed URLs and broken answers."""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import gzip
import hashlib
import hmac
import json
import logging
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from .state import Job

#: Set while a response is being dropped on purpose, so uvicorn's complaint about the unfinished
#: response is not logged as an error (see :class:`QuietDropFilter`).
DROPPING: contextvars.ContextVar[bool] = contextvars.ContextVar("sim_dropping", default=False)

MALFORMED_BODY = (
    b"<html><head><title>502</title></head><body>upstream answered "
    b"something unreadable</body></html>"
)


def timestamp(now: float) -> str:
    """ISO 8601 in UTC with milliseconds, as the provider writes it."""
    moment = datetime.fromtimestamp(now, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def http_error_body(status: int, message: str, path: str, now: float) -> dict[str, Any]:
    """The provider's HTTP error shape."""
    return {
        "message": message,
        "path": path,
        "requestId": str(uuid.uuid4()),
        "statusCode": status,
        "timestamp": timestamp(now),
    }


def http_error(
    status: int, message: str, path: str, now: float, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(http_error_body(status, message, path, now), status, dict(headers or {}))


def detail_error(problems: list[dict[str, Any]], status: int = 400) -> JSONResponse:
    """A validation error: ``{"error": {"detail": [{loc, msg, type}, ...]}}``."""
    return JSONResponse({"error": {"detail": problems}}, status)


def named_error(name: str, message: str, status: int = 400) -> JSONResponse:
    """``{"error": {"name": ..., "message": ...}}``, the shape the spec declares."""
    return JSONResponse({"error": {"name": name, "message": message}}, status)


STATUS_MESSAGES = {
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable",
    504: "Gateway timeout: the generation took too long",
    429: "Too many requests: rate or concurrency limit reached",
}


def status_fault(kind: str, path: str, now: float) -> Response:
    """The answer for a status-code fault kind: ``500``..``504``, ``429``, ``429-date``,
    ``429-bare``."""
    status = int(kind[:3])
    headers: dict[str, str] = {}
    if kind == "429":
        headers["Retry-After"] = "1"
    elif kind == "429-date":
        headers["Retry-After"] = email.utils.formatdate(math.floor(now) + 2, usegmt=True)
    return http_error(status, STATUS_MESSAGES[status], path, now, headers)


def job_body(
    job: Job,
    status: str,
    *,
    url: str | None = None,
    failed: bool = False,
    path: str = "",
    now: float = 0.0,
) -> dict[str, Any]:
    """A job as the API shows it, with the status word ``status``.

    With ``url`` it shows the video and the credits; ``failed`` adds the error in the job's shape.
    """
    if failed:
        body: dict[str, Any] = {"id": job.id, "status": status}
        message = job.error_message or "The generation failed: the simulator was told to fail it."
        if job.fail_shape == "detail":
            body["error"] = {
                "detail": [{"loc": ["body", "prompt"], "msg": message, "type": "value_error"}]
            }
        elif job.fail_shape == "http":
            body.update(http_error_body(500, message, path, now))
        else:
            body["error"] = {"name": "GenerationError", "message": message}
        return body
    body = {"id": job.id, "status": status}
    if url is not None:
        body["video"] = {"url": url}
        body["meta"] = {"usage": {"credits_used": job.credits}}
    return body


class DropResponse(Response):
    """Headers with the full Content-Length, part of the body, then the connection is closed.

    The ASGI app returns without finishing the body; uvicorn then closes the connection, so the
    client sees a response cut short (requests raises ChunkedEncodingError / ConnectionError).
    """

    def __init__(
        self,
        content: bytes,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str = "application/json",
    ) -> None:
        super().__init__(content, status_code, dict(headers or {}), media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        DROPPING.set(True)
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        part = self.body[: max(1, min(len(self.body) // 2, 64 * 1024))]
        await send({"type": "http.response.body", "body": part, "more_body": True})


class DripResponse(Response):
    """The whole Content-Length declared, then one byte every ``every`` seconds: a stalled CDN."""

    def __init__(self, content: bytes, every: float, media_type: str = "video/mp4") -> None:
        super().__init__(content, 200, None, media_type)
        self.every = every

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()

        async def listen() -> None:  # the client hanging up ends the drip
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        listener = asyncio.create_task(listen())
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code,
                 "headers": self.raw_headers}
            )  # fmt: skip
            for i in range(len(self.body)):
                try:
                    await asyncio.wait_for(gone.wait(), self.every)
                    return
                except TimeoutError:
                    pass
                more = i + 1 < len(self.body)
                await send(
                    {"type": "http.response.body", "body": self.body[i : i + 1], "more_body": more}
                )
        finally:
            listener.cancel()


def gzipped(content: bytes, media_type: str = "video/mp4") -> Response:
    """200 with the body gzip-encoded whatever the client asked, the compressed length declared."""
    packed = gzip.compress(content, mtime=0)
    return Response(packed, 200, {"Content-Encoding": "gzip"}, media_type)


def malformed(headers: Mapping[str, str] | None = None) -> Response:
    """200 with a body that is not JSON."""
    return Response(MALFORMED_BODY, 200, dict(headers or {}), "text/html")


def empty(headers: Mapping[str, str] | None = None) -> Response:
    """200 with an empty body."""
    return Response(b"", 200, dict(headers or {}), "application/json")


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class UrlSigner:
    """Signs ``/_sim/files/ID_seedN.mp4`` URLs with an expiry (HMAC-SHA256), and checks them."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def signature(self, job_id: str, expires: int) -> str:
        message = f"{job_id}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:40]

    def url(self, base: str, job_id: str, expires: int, seed: int | None = None) -> str:
        """Absolute URL under ``base`` (``http://127.0.0.1:PORT``), naming ``seed`` as the
        provider's links do (``..._seed1231972948.mp4``)."""
        sig = self.signature(job_id, expires)
        name = job_id if seed is None else f"{job_id}_seed{seed}"
        return f"{base.rstrip('/')}/_sim/files/{name}.mp4?expires={expires}&sig={sig}"

    def verify(self, job_id: str, expires: str | None, sig: str | None) -> int | None:
        """The expiry time if the signature is right, else None."""
        if not expires or not sig or not expires.isdigit():
            return None
        if not hmac.compare_digest(self.signature(job_id, int(expires)), sig):
            return None
        return int(expires)


class QuietDropFilter(logging.Filter):
    """Hides uvicorn's error line for a response the simulator dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not DROPPING.get()


def install_quiet_drop_filter() -> None:
    """Attach :class:`QuietDropFilter` to uvicorn's error logger, once."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, QuietDropFilter) for f in logger.filters):
        logger.addFilter(QuietDropFilter())
