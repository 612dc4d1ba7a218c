"""The stand-in AI/ML API as a FastAPI app: create, retrieve, download, stats.

``SimCore`` holds the state the routes share (config, clock, keys, faults, jobs, renders,
counters) and answers ``stats()``; ``create_app(core)`` wires the HTTP routes to it.

Every refusal is the provider's, in the provider's shape (docs/provider-contract.md): a missing or
unknown key is 401, a body that is not ``application/json`` or breaks the contract is 400 before
any job exists, and a method other than GET and POST is 405 with ``Allow: GET, POST``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import re
import threading
from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import params
from ..clock import REAL_CLOCK, Clock
from ..pricing import CREDITS_PER_USD, credits_for, usd_for
from . import responses as R
from . import schema
from .config import SimConfig
from .faults import HTTP_STATUS_KINDS, RATE_LIMIT_KINDS, FaultPlan, FaultRule
from .keys import KeyRing
from .state import Job, JobStore, draw_timing, new_id
from .video import RenderPool, shape_of, start_image

log = logging.getLogger("pixverse_ui.simulator")

API_PATH = schema.PATH
FILES_PREFIX = "/_sim/files/"
_NAMED_SEED = re.compile(r"_seed\d+$")
JSON_MEDIA_TYPE = "application/json"
_STATUS_FAULTS = frozenset(HTTP_STATUS_KINDS + RATE_LIMIT_KINDS)


class SimCore:
    """Everything the routes share; safe to use from the test's thread too.

    ``keys``: the keys accepted (default: ``config.api_keys``, none if that is None).
    """

    def __init__(
        self, config: SimConfig, clock: Clock = REAL_CLOCK, keys: KeyRing | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.keys = keys if keys is not None else KeyRing(config.api_keys or ())
        self.faults = FaultPlan.from_string(config.faults, seed=config.seed)
        seed = None if config.seed is None else f"timing-{config.seed}"
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self.jobs = JobStore(config.state_path)
        self.signer = R.UrlSigner(self.jobs.secret())
        self.renders = RenderPool(
            config.resolved_cache_dir(), fps=config.fps, workers=config.render_workers
        )

    def count(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1

    def create_job(
        self,
        body: dict[str, Any],
        client_request_id: str | None,
        fail_shape: str | None = None,
        *,
        shape: str | None = None,
        error_message: str | None = None,
    ) -> Job:
        """Record a new job, timed from the clock, and start rendering its video.

        ``shape``: the aspect ratio it is charged at when the body names none (image-to-video:
        its image's nearest); ``error_message``: the job fails, saying so."""
        now = self.clock.now()
        with self._lock:
            queued, generating = draw_timing(
                self._rng, body, sigma=self.config.sigma, speed=self.config.speed
            )
        job = Job(
            id=new_id(),
            body=body,
            client_request_id=client_request_id,
            created_at=now,
            queued_until=now + queued,
            done_at=now + queued + generating,
            credits=self.price({**body, "aspect_ratio": shape} if shape else body),
            fail_shape="name" if error_message else fail_shape,
            error_message=error_message,
        )
        self.jobs.put(job)
        if not job.fail_shape and self.config.prerender:
            self.renders.submit(body)
        return job

    def price(self, body: dict[str, Any]) -> int:
        """What a job of this request costs, in credits."""
        if self.config.flat_usd is not None:
            return round(self.config.flat_usd * CREDITS_PER_USD)
        return round(credits_for(body) * self.config.price_multiple)

    def post_delay(self) -> float:
        """Seconds the next create takes to answer (``SimConfig.post_delay``)."""
        low, high = self.config.post_delay
        with self._lock:
            return self._rng.uniform(low, high) if high > 0 else 0.0

    def seed_of(self, job: Job) -> int:
        """The seed the video link names: the one sent, else (or with ``keep_seed`` off) one
        of the provider's own, fixed by the job's id."""
        own = int(hashlib.sha256(job.id.encode()).hexdigest(), 16) % (params.SEED_MAX + 1)
        sent = job.body.get("seed")
        if isinstance(sent, int) and not isinstance(sent, bool):
            if self.config.keep_seed:
                return sent
            return own if own != sent else (own + 1) % (params.SEED_MAX + 1)
        return own

    def status(self, job: Job, now: float) -> str:
        """The status word the API shows for ``job`` at ``now``."""
        phase = job.phase(now)
        if phase == "succeeded":
            return self.config.success_status
        if phase == "failed":
            return self.config.failure_status
        return phase  # queued or generating

    def stats(self) -> dict[str, Any]:
        """Counters (posts, gets, downloads, renders, faults by kind) and every job."""
        now = self.clock.now()
        with self._lock:
            counters = dict(self._counters)
        return {
            "posts": counters.get("posts", 0),
            "gets": counters.get("gets", 0),
            "downloads": counters.get("downloads", 0),
            "downloads_by_job": {
                name.split(":", 1)[1]: count
                for name, count in counters.items()
                if name.startswith("downloads:")
            },
            "renders": self.renders.renders,
            "faults": self.faults.counts(),
            "jobs": [
                {
                    "id": job.id,
                    "client_request_id": job.client_request_id,
                    "status": self.status(job, now),
                    "body": job.body,
                    "created_at": job.created_at,
                }
                for job in self.jobs.all()
            ],
        }

    def close(self) -> None:
        self.renders.shutdown()
        self.jobs.close()


def create_app(core: SimCore) -> ASGIApp:
    """The ASGI app: FastAPI routes inside a request-log middleware."""
    api = FastAPI(title="PixVerse v5.5 simulator", docs_url=None, redoc_url=None, openapi_url=None)
    config, clock = core.config, core.clock

    def unauthorized(request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            message = "Unauthorized: send the header 'Authorization: Bearer <YOUR_AIMLAPI_KEY>'"
        elif not core.keys.accepts(token):
            message = "Unauthorized: the API key is not valid"
        else:
            return None
        return R.http_error(401, message, request.url.path, clock.now())

    def bad_headers(request: Request, *, body: bool) -> Response | None:
        """400 for a body not sent as JSON, or a malformed ``X-Client-Request-Id``."""
        problems = schema.check_client_request_id(request.headers.get("x-client-request-id"))
        content_type = request.headers.get("content-type")
        media_type = (content_type or "").partition(";")[0].strip().lower()
        if body and media_type != JSON_MEDIA_TYPE:
            sent = f"got {content_type!r}" if content_type else "none was sent"
            problems.insert(
                0,
                {
                    "loc": ["header", "content-type"],
                    "msg": f"Content-Type should be {JSON_MEDIA_TYPE}; {sent}",
                    "type": "content_type",
                },
            )
        return R.detail_error(problems) if problems else None

    async def slow_down(rule: FaultRule | None) -> FaultRule | None:
        if rule is not None and rule.kind == "slow":
            seconds = config.slow_seconds if rule.seconds is None else rule.seconds
            await asyncio.sleep(seconds)
            return None
        return rule

    @api.post(API_PATH)
    async def create(request: Request) -> Response:
        core.count("posts")
        if (refused := unauthorized(request) or bad_headers(request, body=True)) is not None:
            return refused
        try:
            body = json.loads(await request.body(), parse_constant=_not_json)
        except ValueError:
            return R.detail_error(
                [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]
            )
        problems = schema.check_request(body, data_uris=config.data_uris)
        if problems:
            return R.detail_error(problems)
        body = schema.normalise_request(body)
        shape, unreadable = await _image_shape(body)
        resolution = body.get("resolution") or params.DEFAULT_RESOLUTION
        duration = body.get("duration") or params.DEFAULT_DURATION
        if config.enforce_combo_rules and duration in params.UNSUPPORTED_DURATIONS.get(
            resolution, ()
        ):
            return R.named_error(
                "BadRequestError",
                f"The {resolution} quality option does not support {duration}-second videos.",
            )
        if (delay := core.post_delay()) > 0:
            await asyncio.sleep(delay)
        rule = await slow_down(core.faults.draw("post"))
        if rule is not None and rule.kind in _STATUS_FAULTS:
            return R.status_fault(rule.kind, request.url.path, clock.now())
        fail = None
        if rule is not None and rule.kind == "fail":
            fail = rule.shape or config.fail_shape
        job = core.create_job(
            body,
            request.headers.get("x-client-request-id"),
            shape=shape,
            fail_shape=fail,
            error_message=unreadable,
        )
        payload = {
            "id": job.id,
            "status": "queued",
            "meta": {"usage": {"credits_used": job.credits}},
        }
        headers = {
            "x-inference-id": job.id,
            "x-aimlapi-credits-used": str(job.credits),
            "x-aimlapi-usd-spent": f"{usd_for(job.credits):g}",
        }
        return _shape(rule, payload, headers)

    @api.get(API_PATH)
    async def retrieve(request: Request) -> Response:
        core.count("gets")
        if (refused := unauthorized(request) or bad_headers(request, body=False)) is not None:
            return refused
        job_id = request.query_params.get("generation_id")
        if job_id is None:  # sent but unknown (even empty) is a 404 below, as for any other id
            return R.detail_error(
                [{"loc": ["query", "generation_id"], "msg": "Field required", "type": "missing"}]
            )
        job = core.jobs.get(job_id)
        if job is None:
            return R.http_error(
                404, f"Generation {job_id} not found", request.url.path, clock.now()
            )
        phase = job.phase(clock.now())
        exclude = set()
        if phase in ("succeeded", "failed"):
            exclude.add("fail")
        if phase != "succeeded":
            exclude.add("expire")
        rule = await slow_down(core.faults.draw("get", exclude=exclude))
        now = clock.now()
        if rule is not None and rule.kind in _STATUS_FAULTS:
            return R.status_fault(rule.kind, request.url.path, now)
        if rule is not None and rule.kind == "unknown-status":
            return JSONResponse({"id": job.id, "status": "pondering"})
        if rule is not None and rule.kind == "fail" and not job.fail_shape:
            job = core.jobs.put(job.failing(rule.shape or config.fail_shape))
        phase = job.phase(now)
        url = None
        if phase == "succeeded":
            expires = (
                math.floor(now) - 1
                if rule is not None and rule.kind == "expire"
                else (math.ceil(now + config.url_ttl))
            )
            url = core.signer.url(str(request.base_url), job.id, expires, core.seed_of(job))
        payload = R.job_body(
            job,
            core.status(job, now),
            url=url,
            failed=phase == "failed",
            path=request.url.path,
            now=now,
        )
        return _shape(rule, payload, {"x-inference-id": job.id})

    @api.get(FILES_PREFIX + "{job_id}.mp4")
    async def download(job_id: str, request: Request) -> Response:
        job_id = _NAMED_SEED.sub("", job_id)  # the link names the seed as the provider's does
        core.count("downloads")
        core.count(f"downloads:{job_id}")
        path, now = request.url.path, clock.now()
        expires = core.signer.verify(
            job_id, request.query_params.get("expires"), request.query_params.get("sig")
        )
        if expires is None:
            return R.http_error(403, "Forbidden: the URL signature is not valid", path, now)
        job = core.jobs.get(job_id)
        if job is None or job.phase(now) != "succeeded":
            return R.http_error(404, "Not found", path, now)
        if expires < now:
            return R.http_error(410, "Gone: this download URL has expired", path, now)
        rule = await slow_down(core.faults.draw("file"))
        if rule is not None and rule.kind in _STATUS_FAULTS:
            return R.status_fault(rule.kind, path, clock.now())
        if rule is not None and rule.kind == "expire":
            return R.http_error(410, "Gone: this download URL has expired", path, clock.now())
        video = await asyncio.wrap_future(core.renders.submit(job.body))
        if rule is not None and rule.kind == "drop":
            return R.DropResponse(video.read_bytes(), media_type="video/mp4")
        if rule is not None and rule.kind == "malformed":
            return R.malformed()
        if rule is not None and rule.kind == "empty":
            return R.empty()
        if rule is not None and rule.kind == "gzip":
            return R.gzipped(video.read_bytes(), media_type="video/mp4")
        if rule is not None and rule.kind == "drip":
            every = config.slow_seconds if rule.seconds is None else rule.seconds
            return R.DripResponse(video.read_bytes(), every, media_type="video/mp4")
        return FileResponse(video, media_type="video/mp4", filename=f"{job_id}.mp4")

    @api.get("/_sim/stats")
    async def stats() -> dict[str, Any]:
        return core.stats()

    allowed: dict[str, set[str]] = {}
    for route in api.routes:
        if isinstance(route, APIRoute):
            allowed.setdefault(route.path, set()).update(route.methods)

    @api.exception_handler(HTTPException)
    async def http_exception(request: Request, exc: HTTPException) -> Response:
        """Routing's refusals (404, 405) in the provider's HTTP error shape."""
        path, headers = request.url.path, dict(exc.headers or {})
        if exc.status_code == 405:
            served = ", ".join(sorted(allowed.get(path, ())))
            headers["Allow"] = served or headers.get("Allow", "")
            message = f"Method Not Allowed: {request.method} {path} (allowed: {headers['Allow']})"
        else:
            message = f"Cannot {request.method} {path}"
        return R.http_error(exc.status_code, message, path, clock.now(), headers)

    return RequestLog(api, speed=core.config.speed)


async def _image_shape(body: dict[str, Any]) -> tuple[str, str | None]:
    """The aspect ratio a body's job is charged and drawn at, and, when the image it sent as a
    data: URI cannot be read, the sentence its job fails with (the provider takes the request
    and fails the generation, as it does with a picture it cannot use)."""
    try:
        picture = await asyncio.to_thread(start_image, body)
    except ValueError:
        return shape_of(body, None), "The image in image_url could not be read as an image."
    return shape_of(body, picture), None


def _not_json(constant: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON: refuse them as the provider's parser would."""
    raise ValueError(f"{constant} is not valid JSON")


def _shape(rule: FaultRule | None, payload: dict[str, Any], headers: dict[str, str]) -> Response:
    """The normal JSON answer, or the broken one ``rule`` asks for."""
    kind = rule.kind if rule is not None else None
    if kind in ("drop", "lost-post"):
        return R.DropResponse(R.json_bytes(payload), headers=headers)
    if kind == "malformed":
        return R.malformed(headers)
    if kind == "empty":
        return R.empty(headers)
    return JSONResponse(payload, headers=headers)


#: Names the simulator's speed on every answer.
SPEED_HEADER = "x-simulator-speed"


class RequestLog:
    """Pure ASGI middleware: one log line per request (method, path, status); never headers.

    It also names the simulator's speed in ``x-simulator-speed`` on every answer, so a client
    pointed here by ``AIMLAPI_BASE_URL`` paces its polls to it (the real API never sends it).
    """

    def __init__(self, app: ASGIApp, *, speed: float = 1.0) -> None:
        self.app = app
        self.speed_header = (SPEED_HEADER.encode(), f"{speed:g}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = {"status": 0, "done": False}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), self.speed_header]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                seen["done"] = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if seen["status"] and not seen["done"]:
                R.DROPPING.set(True)
            outcome = "dropped" if R.DROPPING.get() else seen["status"]
            log.info("%s %s %s", scope["method"], scope["path"], outcome)
