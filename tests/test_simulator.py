"""The simulator over real HTTP on loopback, with a ManualClock: nothing here waits for real."""

from __future__ import annotations

import base64
import email.utils
import io
import json
import logging
import re
import threading
import time
from pathlib import Path

import av
import jsonschema
import pytest
import requests
from support import difference, video_frames, wait_for

from pixverse_ui import params, pricing
from pixverse_ui.clock import ManualClock
from pixverse_ui.simulator import FaultPlan, FaultRule, SimConfig, Simulator, parse_plan
from pixverse_ui.simulator import schema as sim_schema
from pixverse_ui.simulator import video as sim_video
from pixverse_ui.simulator.__main__ import build_parser, config_from_args
from pixverse_ui.simulator.__main__ import main as sim_main

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
API = "/v2/video/generations"
HTTP_ERROR_KEYS = {"message", "path", "requestId", "statusCode", "timestamp"}
DROPPED = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
SMALL = {
    "model": params.MODEL_ID,
    "prompt": "A cheerful white raccoon in a sequoia forest",
    "resolution": "360p",
    "aspect_ratio": "16:9",
    "duration": 5,
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim-videos")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def start(clock: ManualClock, cache_dir: Path, **config: object) -> Simulator:
    settings: dict[str, object] = {"seed": 7, "cache_dir": cache_dir, "api_keys": frozenset({KEY})}
    settings.update(config)
    return Simulator(SimConfig(**settings), clock).start()  # type: ignore[arg-type]


@pytest.fixture
def sim(clock: ManualClock, cache_dir: Path):
    simulator = start(clock, cache_dir)
    yield simulator
    simulator.stop()


def post(sim: Simulator, body: object, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(sim.url + API, json=body, headers={**AUTH, **(headers or {})}, timeout=10)


def get(sim: Simulator, job_id: str) -> requests.Response:
    return requests.get(sim.url + API, params={"generation_id": job_id}, headers=AUTH, timeout=10)


def create(sim: Simulator, **changes: object) -> str:
    response = post(sim, {**SMALL, **changes})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def finish(sim: Simulator, clock: ManualClock, job_id: str) -> dict:
    """Advance the clock past the job's end and return the final GET body."""
    job = sim.core.jobs.get(job_id)
    clock.sleep(job.done_at - clock.now() + 0.01)
    return get(sim, job_id).json()


def job_in_stats(sim: Simulator, job_id: str) -> dict:
    return next(job for job in sim.stats()["jobs"] if job["id"] == job_id)


# --- auth and validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic " + KEY},
        {"Authorization": "Bearer "},
    ],
)
def test_401_has_the_http_error_shape(sim: Simulator, headers: dict[str, str]) -> None:
    for response in (
        requests.post(sim.url + API, json=SMALL, headers=headers, timeout=10),
        requests.get(sim.url + API, params={"generation_id": "x"}, headers=headers, timeout=10),
    ):
        assert response.status_code == 401
        body = response.json()
        assert set(body) == HTTP_ERROR_KEYS
        assert body["statusCode"] == 401 and body["path"] == API
        assert KEY not in response.text and "wrong" not in response.text
    assert sim.stats()["jobs"] == []


def test_without_a_key_list_it_makes_one_key_and_accepts_only_that(
    clock: ManualClock, cache_dir: Path
) -> None:
    with start(clock, cache_dir, api_keys=None) as keyed:
        made = keyed.api_key
        assert made and made.startswith("sim-")

        def status(key: str) -> int:
            headers = {"Authorization": f"Bearer {key}"}
            response = requests.post(keyed.url + API, json=SMALL, headers=headers, timeout=10)
            return response.status_code

        assert status("anything") == 401
        assert status(made) == 200
        keyed.allow_key("registered-later")
        assert status("registered-later") == 200
        assert status("registered-later-not") == 401
        assert len(keyed.stats()["jobs"]) == 2  # the refused requests made nothing
    assert start(clock, cache_dir).api_key is None  # keys given: none is made


def test_each_simulator_makes_its_own_key(clock: ManualClock, cache_dir: Path) -> None:
    first, second = Simulator(SimConfig()), Simulator(SimConfig())
    assert first.api_key != second.api_key
    with pytest.raises(ValueError):
        SimConfig(api_keys=frozenset({" "}))


@pytest.mark.parametrize("model", params.MODEL_IDS)
@pytest.mark.parametrize("duration", [5, "5", 10, "10"])
def test_valid_bodies_are_accepted(sim: Simulator, model: str, duration: object) -> None:
    response = post(sim, {**SMALL, "model": model, "duration": duration})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert sim_schema.check_response(body, "post") == []
    assert response.headers["x-inference-id"] == body["id"]
    assert int(response.headers["x-aimlapi-credits-used"]) == body["meta"]["usage"]["credits_used"]
    assert float(response.headers["x-aimlapi-usd-spent"]) > 0


@pytest.mark.parametrize(
    ("change", "loc", "kind"),
    [
        ({"resolution": "4k"}, ["body", "resolution"], "enum"),
        ({"duration": True}, ["body", "duration"], "int_type"),
        ({"duration": 7}, ["body", "duration"], "enum"),
        ({"duration": "7"}, ["body", "duration"], "int_type"),
        ({"model": "pixverse/v4"}, ["body", "model"], "enum"),
        ({"generate_audio_switch": "yes"}, ["body", "generate_audio_switch"], "bool_type"),
        ({"seed": 1.5}, ["body", "seed"], "int_type"),
        ({"prompt": None}, ["body", "prompt"], "string_type"),
        # the provider's limits (docs/provider-contract.md)
        ({"prompt": "x" * 2049}, ["body", "prompt"], "string_too_long"),
        ({"negative_prompt": "x" * 2049}, ["body", "negative_prompt"], "string_too_long"),
        ({"prompt": ""}, ["body", "prompt"], "string_too_short"),
        ({"seed": -1}, ["body", "seed"], "greater_than_equal"),
        ({"seed": 2**31}, ["body", "seed"], "less_than_equal"),
        ({"seed": 1e30}, ["body", "seed"], "int_type"),
        ({"seed": 7.0}, ["body", "seed"], "int_type"),
        ({"duration": " 8"}, ["body", "duration"], "int_type"),
        ({"duration": "8 "}, ["body", "duration"], "int_type"),
        ({"duration": 5.0}, ["body", "duration"], "int_type"),
    ],
)
def test_bad_bodies_get_400_with_detail(sim: Simulator, change: dict, loc: list, kind: str) -> None:
    response = post(sim, {**SMALL, **change})
    assert response.status_code == 400
    detail = response.json()["error"]["detail"]
    assert {"loc": loc, "type": kind} == {k: detail[0][k] for k in ("loc", "type")}
    assert detail[0]["msg"]
    assert sim.stats()["jobs"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "x" * 2048, "negative_prompt": "y" * 2048},
        {"prompt": "\U0001f98a" * 2048},  # characters, not bytes
        {"seed": 0},
        {"seed": 2_147_483_647},
        {"duration": "8"},
    ],
)
def test_the_limits_themselves_are_accepted(sim: Simulator, change: dict) -> None:
    assert post(sim, {**SMALL, **change}).status_code == 200


@pytest.mark.parametrize(
    ("content_type", "send"),
    [
        ("text/plain", {"data": json.dumps(SMALL)}),
        ("application/x-www-form-urlencoded", {"data": {"prompt": "x", "model": params.MODEL_ID}}),
        ("multipart/form-data", {"files": {"prompt": (None, "x")}}),
        ("application/jsonx", {"data": json.dumps(SMALL)}),
        (None, {"data": json.dumps(SMALL)}),
    ],
)
def test_a_body_not_sent_as_json_is_refused_before_any_job(
    sim: Simulator, content_type: str | None, send: dict
) -> None:
    headers = dict(AUTH)
    if content_type in ("text/plain", "application/jsonx"):
        headers["Content-Type"] = content_type
    response = requests.post(sim.url + API, headers=headers, timeout=10, **send)
    if content_type is not None:
        assert response.request.headers["Content-Type"].startswith(content_type)
    else:
        assert "Content-Type" not in response.request.headers
    assert response.status_code == 400
    [problem] = response.json()["error"]["detail"]
    assert problem["loc"] == ["header", "content-type"] and problem["type"] == "content_type"
    assert "application/json" in problem["msg"]
    assert sim.stats()["jobs"] == []


def test_json_with_a_charset_is_json(sim: Simulator) -> None:
    headers = {**AUTH, "Content-Type": "Application/JSON; charset=utf-8"}
    response = requests.post(sim.url + API, data=json.dumps(SMALL), headers=headers, timeout=10)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_refused(sim: Simulator, text: str) -> None:
    body = json.dumps({**SMALL, "prompt": "x"})[:-1] + f', "seed": {text}}}'
    headers = {**AUTH, "Content-Type": "application/json"}
    response = requests.post(sim.url + API, data=body, headers=headers, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["detail"][0]["type"] == "json_invalid"
    assert sim.stats()["jobs"] == []


@pytest.mark.parametrize("crid", ["has space", "x" * 129, "", "ünïcode", "a/b"])
def test_a_malformed_client_request_id_is_refused(sim: Simulator, crid: str) -> None:
    response = post(sim, SMALL, {"X-Client-Request-Id": crid})
    assert response.status_code == 400
    [problem] = response.json()["error"]["detail"]
    assert problem["loc"] == ["header", "x-client-request-id"]
    assert sim.stats()["jobs"] == []
    assert post(sim, SMALL, {"X-Client-Request-Id": "Az09._:-" * 16}).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"])
def test_other_methods_get_405_allowing_get_and_post(sim: Simulator, method: str) -> None:
    response = requests.request(method, sim.url + API, headers=AUTH, timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    if method != "HEAD":
        body = response.json()
        assert set(body) == HTTP_ERROR_KEYS and body["statusCode"] == 405


def test_an_unknown_path_is_a_404_in_the_providers_shape(sim: Simulator) -> None:
    response = requests.get(sim.url + "/v2/video/nothing", headers=AUTH, timeout=10)
    assert response.status_code == 404 and set(response.json()) == HTTP_ERROR_KEYS


def test_missing_prompt_and_bad_json(sim: Simulator) -> None:
    body = {k: v for k, v in SMALL.items() if k != "prompt"}
    detail = post(sim, body).json()["error"]["detail"]
    assert detail == [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]
    headers = {**AUTH, "Content-Type": "application/json"}
    response = requests.post(sim.url + API, data=b"{nope", headers=headers, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["detail"][0]["loc"] == ["body"]


def test_1080p_8s_is_refused_with_the_pages_sentence(sim: Simulator) -> None:
    response = post(sim, {**SMALL, "resolution": "1080p", "duration": 8})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "name": "BadRequestError",
            "message": "The 1080p quality option does not support 8-second videos.",
        }
    }


def test_combo_rules_can_be_switched_off(clock: ManualClock, cache_dir: Path) -> None:
    with start(clock, cache_dir, enforce_combo_rules=False) as lenient:
        assert post(lenient, {**SMALL, "resolution": "1080p", "duration": "8"}).status_code == 200


def test_get_unknown_or_missing_id(sim: Simulator) -> None:
    for unknown in ("no-such-id", "", " "):  # any string is an id the schema allows
        response = get(sim, unknown)
        assert response.status_code == 404 and set(response.json()) == HTTP_ERROR_KEYS
    response = requests.get(sim.url + API, headers=AUTH, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["detail"][0]["loc"] == ["query", "generation_id"]


# --- job life ------------------------------------------------------------------------------------


def walk(sim: Simulator, clock: ManualClock, job_id: str, step: float = 0.25) -> list[dict]:
    """Every distinct answer while the clock moves in small steps, until a terminal status."""
    seen: list[dict] = []
    for _ in range(2000):
        body = get(sim, job_id).json()
        if not seen or seen[-1]["status"] != body["status"]:
            seen.append(body)
        if body["status"] in params.TERMINAL_STATUSES:
            return seen
        clock.sleep(step)
    raise AssertionError(f"job never finished: {seen}")


def test_job_goes_queued_generating_completed(sim: Simulator, clock: ManualClock) -> None:
    started = clock.now()
    created = post(sim, SMALL, {"X-Client-Request-Id": "req-1"}).json()
    credits = created["meta"]["usage"]["credits_used"]
    seen = walk(sim, clock, created["id"])
    assert [b["status"] for b in seen] == ["queued", "generating", "completed"]
    for body in seen:
        assert sim_schema.check_response(body) == []
    done = seen[-1]
    assert done["meta"]["usage"]["credits_used"] == credits
    assert done["video"]["url"].startswith(sim.url + "/_sim/files/")
    elapsed = clock.now() - started
    expected = params.expected_seconds("360p", 5) / sim.config.speed
    assert 0.5 * expected < elapsed < 2 * expected
    assert job_in_stats(sim, created["id"])["client_request_id"] == "req-1"


def test_succeeded_when_configured(clock: ManualClock, cache_dir: Path) -> None:
    with start(clock, cache_dir, success_status="succeeded") as alt:
        seen = walk(alt, clock, create(alt), step=1.0)
        assert seen[-1]["status"] == "succeeded" and "url" in seen[-1]["video"]


def test_credits_scale_with_pixels_and_duration(sim: Simulator) -> None:
    def credits(**changes: object) -> int:
        return post(sim, {**SMALL, **changes}).json()["meta"]["usage"]["credits_used"]

    assert credits(resolution="1080p", aspect_ratio="16:9", duration=5) == 5_000_000
    assert credits(resolution="1080p", duration=10) == 10_000_000
    assert credits(resolution="360p") < credits(resolution="720p")


def test_job_times_are_seeded_and_scaled_by_speed(clock: ManualClock, cache_dir: Path) -> None:
    spans = []
    for speed in (10.0, 10.0, 20.0):
        with start(clock, cache_dir, speed=speed) as each:
            job = each.core.jobs.get(create(each))
            spans.append(job.done_at - job.created_at)
    assert spans[0] == spans[1]
    assert spans[2] == pytest.approx(spans[0] / 2)


@pytest.mark.parametrize(
    ("aspect", "resolution", "duration", "audio"),
    [
        ("16:9", "360p", 5, False),
        ("9:16", "360p", 8, True),
        ("1:1", "360p", 5, False),
        ("16:9", "1080p", 5, False),
    ],
)
def test_downloaded_mp4_has_the_requested_size_and_length(
    sim: Simulator,
    clock: ManualClock,
    tmp_path: Path,
    aspect: str,
    resolution: str,
    duration: int,
    audio: bool,
) -> None:
    job_id = create(
        sim,
        aspect_ratio=aspect,
        resolution=resolution,
        duration=str(duration),
        generate_audio_switch=audio,
    )
    url = finish(sim, clock, job_id)["video"]["url"]
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(response.content)
    path = tmp_path / "video.mp4"
    path.write_bytes(response.content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == params.frame_size(aspect, resolution)
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert container.duration / 1e6 == pytest.approx(duration, abs=0.2)
        assert len(container.streams.audio) == (1 if audio else 0)


def test_each_get_issues_a_fresh_url_and_old_ones_expire(
    clock: ManualClock,
    cache_dir: Path,
) -> None:
    with start(clock, cache_dir, url_ttl=60) as short:
        job_id = create(short)
        first = finish(short, clock, job_id)["video"]["url"]
        clock.sleep(1)
        second = get(short, job_id).json()["video"]["url"]
        assert first != second
        assert requests.get(first, timeout=10).status_code == 200
        clock.sleep(61)
        gone = requests.get(second, timeout=10)
        assert gone.status_code == 410 and set(gone.json()) == HTTP_ERROR_KEYS
        forged = requests.get(second.replace("sig=", "sig=0"), timeout=10)
        assert forged.status_code == 403


# --- faults --------------------------------------------------------------------------------------


def test_drop_on_get_cuts_the_body(sim: Simulator) -> None:
    job_id = create(sim)
    sim.faults.add("drop", target="get", times=1)
    with pytest.raises(DROPPED):
        get(sim, job_id)
    assert get(sim, job_id).status_code == 200
    assert sim.stats()["faults"] == {"drop": 1}


@pytest.mark.parametrize("spec", ["drop@post", "lost-post"])
def test_dropped_post_still_creates_the_job(sim: Simulator, spec: str) -> None:
    sim.faults.extend(spec + "*1")
    with pytest.raises(DROPPED):
        post(sim, SMALL, {"X-Client-Request-Id": "lost-1"})
    [job] = sim.stats()["jobs"]
    assert job["client_request_id"] == "lost-1" and job["status"] == "queued"
    assert get(sim, job["id"]).status_code == 200


def test_malformed_post_creates_the_job_and_names_it_in_a_header(sim: Simulator) -> None:
    sim.faults.add("malformed", target="post", times=1)
    response = post(sim, SMALL, {"X-Client-Request-Id": "bad-json"})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    job = job_in_stats(sim, response.headers["x-inference-id"])
    assert job["client_request_id"] == "bad-json"


def test_empty_answer(sim: Simulator) -> None:
    job_id = create(sim)
    sim.faults.add("empty", target="get", times=1)
    response = get(sim, job_id)
    assert response.status_code == 200 and response.content == b""


@pytest.mark.parametrize("status", ["500", "502", "503", "504"])
def test_server_errors_have_the_http_error_shape(sim: Simulator, status: str) -> None:
    sim.faults.add(status, target="post", times=1)
    response = post(sim, SMALL)
    assert response.status_code == int(status)
    assert set(response.json()) == HTTP_ERROR_KEYS
    assert response.json()["statusCode"] == int(status)
    assert sim.stats()["jobs"] == []  # refused before any job was made


def test_a_scripted_burst_answers_the_next_gets(sim: Simulator) -> None:
    job_id = create(sim)
    sim.faults.add("503", target="get", times=3)
    assert [get(sim, job_id).status_code for _ in range(4)] == [503, 503, 503, 200]
    assert post(sim, SMALL).status_code == 200  # a GET rule leaves POST alone
    stats = requests.get(sim.url + "/_sim/stats", timeout=10).json()
    assert stats["faults"] == {"503": 3} and stats["gets"] == 4 and stats["posts"] == 2


def test_rate_limits_carry_or_omit_retry_after(sim: Simulator, clock: ManualClock) -> None:
    job_id = create(sim)
    for kind in ("429", "429-date", "429-bare"):
        sim.faults.add(kind, target="get", times=1)
    answers = [get(sim, job_id) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 429]
    assert answers[0].headers["Retry-After"] == "1"
    when = email.utils.parsedate_to_datetime(answers[1].headers["Retry-After"]).timestamp()
    assert 1 <= when - clock.now() <= 2
    assert "Retry-After" not in answers[2].headers
    assert all(set(a.json()) == HTTP_ERROR_KEYS for a in answers)


def test_unknown_status_leaves_the_job_alone(sim: Simulator, clock: ManualClock) -> None:
    job_id = create(sim)
    sim.faults.add("unknown-status", times=1)
    assert get(sim, job_id).json() == {"id": job_id, "status": "pondering"}
    assert finish(sim, clock, job_id)["status"] == "completed"


@pytest.mark.parametrize("shape", ["name", "detail", "http"])
@pytest.mark.parametrize("failure_status", ["error", "failed"])
def test_fail_ends_the_job_in_failure(
    clock: ManualClock,
    cache_dir: Path,
    shape: str,
    failure_status: str,
) -> None:
    with start(
        clock, cache_dir, fail_shape=shape, failure_status=failure_status, faults="fail@post*1"
    ) as failing:
        job_id = create(failing)
        body = finish(failing, clock, job_id)
        assert body["status"] == failure_status and "video" not in body
        if shape == "name":
            assert set(body["error"]) == {"name", "message"}
        elif shape == "detail":
            assert set(body["error"]["detail"][0]) == {"loc", "msg", "type"}
        else:
            assert set(body) >= HTTP_ERROR_KEYS and body["id"] == job_id
        if failure_status == "error" and shape == "name":
            assert sim_schema.check_response(body) == []
        assert create(failing) and failing.stats()["faults"] == {"fail": 1}


def test_fail_on_get_dooms_a_running_job(sim: Simulator, clock: ManualClock) -> None:
    job_id = create(sim)
    sim.faults.add("fail", target="get", shape="detail")
    assert get(sim, job_id).json()["status"] == "queued"
    body = finish(sim, clock, job_id)
    assert body["status"] == "error" and "detail" in body["error"]
    assert sim.stats()["faults"] == {"fail": 1}  # no longer fires on the finished job


def test_expire_hands_out_a_dead_url(sim: Simulator, clock: ManualClock) -> None:
    job_id = create(sim)
    sim.faults.add("expire", times=1)
    assert get(sim, job_id).json()["status"] == "queued"  # no URL yet: the rule waits
    url = finish(sim, clock, job_id)["video"]["url"]
    gone = requests.get(url, timeout=10)
    assert gone.status_code == 410 and gone.json()["statusCode"] == 410
    fresh = get(sim, job_id).json()["video"]["url"]
    assert requests.get(fresh, timeout=10).status_code == 200
    assert sim.stats()["faults"] == {"expire": 1}


def test_file_faults(sim: Simulator, clock: ManualClock) -> None:
    url = finish(sim, clock, create(sim))["video"]["url"]
    sim.faults.extend("503@file*1,drop@file*1")
    assert requests.get(url, timeout=10).status_code == 503
    with pytest.raises(DROPPED):
        requests.get(url, timeout=10).content  # noqa: B018
    assert requests.get(url, timeout=10).status_code == 200


def test_slow_answers_late_but_right(sim: Simulator) -> None:
    sim.faults.add("slow", target="post", times=1, seconds=0.2)
    started = time.monotonic()
    response = post(sim, SMALL)
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 200 and response.json()["status"] == "queued"


def test_slow_uses_slow_seconds_from_config(clock: ManualClock, cache_dir: Path) -> None:
    with start(clock, cache_dir, slow_seconds=0.15, faults="slow@get*1") as slow:
        job_id = create(slow)
        started = time.monotonic()
        assert get(slow, job_id).status_code == 200
        assert time.monotonic() - started >= 0.15


# --- fault plans ---------------------------------------------------------------------------------


def test_plan_strings_parse() -> None:
    assert parse_plan("503:0.1,429:0.05,drop:0.02") == [
        FaultRule("503", 0.1),
        FaultRule("429", 0.05),
        FaultRule("drop", 0.02),
    ]
    assert parse_plan(" fail@post:0.5 , 503@get*3, expire@file ") == [
        FaultRule("fail", 0.5, "post"),
        FaultRule("503", 1.0, "get", 3),
        FaultRule("expire", 1.0, "file"),
    ]
    assert parse_plan("") == [] and parse_plan(None) == []
    assert str(FaultRule("503", 0.5, "get", 2)) == "503@get:0.5*2"


@pytest.mark.parametrize(
    "bad",
    ["teapot", "503@moon", "503:2", "503:x", "unknown-status@post", "lost-post@get", "503*-1"],
)
def test_bad_plan_strings_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_plan(bad)
    with pytest.raises(ValueError):
        SimConfig(faults=bad)


def test_plans_are_seeded_and_respect_probability() -> None:
    def fired(seed: int) -> list[bool]:
        plan = FaultPlan.from_string("503:0.3", seed=seed)
        return [plan.draw("get") is not None for _ in range(2000)]

    assert fired(1) == fired(1) != fired(2)
    assert 0.25 < sum(fired(1)) / 2000 < 0.35
    plan = FaultPlan.from_string("503:0.3", seed=1)
    assert all(plan.draw("file") is None for _ in range(50))  # "api" is POST and GET only


def test_bursts_go_before_background_rates() -> None:
    plan = FaultPlan.from_string("429:0.99", seed=3)
    plan.add("503", target="get", times=2)
    assert [r.kind if r else None for r in (plan.draw("get") for _ in range(3))][:2] == [
        "503",
        "503",
    ]
    assert plan.counts()["503"] == 2


def test_config_from_env() -> None:
    config = SimConfig.from_env(
        {"PIXVERSE_UI_SIM_SPEED": "50", "PIXVERSE_UI_SIM_FAULTS": "503:0.1"}
    )
    assert config.speed == 50 and config.faults == "503:0.1"
    assert SimConfig.from_env({}).speed == 10
    with pytest.raises(ValueError):
        SimConfig.from_env({"PIXVERSE_UI_SIM_SPEED": "fast"})


# --- the schema validator ------------------------------------------------------------------------

REQUEST_CASES = [
    {"model": "pixverse/v5.5/text-to-video", "prompt": "x"},
    {
        "model": "pixverse/v5.5/text-to-video",
        "prompt": "x",
        "duration": 8,
        "seed": 3,
        "generate_audio_switch": True,
        "style": "clay",
        "thinking_type": "auto",
    },
    {"model": "pixverse/v5.5/text-to-video", "prompt": "x", "duration": 5.0},
    {"model": "pixverse/v5.5/text-to-video"},
    {"model": "pixverse/v5-5-text-to-video", "prompt": "x"},
    {"model": "pixverse/v5.5/text-to-video", "prompt": "x", "duration": "5"},
    {"model": "pixverse/v5.5/text-to-video", "prompt": "x", "duration": True},
    {"model": "pixverse/v5.5/text-to-video", "prompt": "x", "seed": False},
    {"model": "pixverse/v5.5/text-to-video", "prompt": 3},
    {"model": "pixverse/v5.5/text-to-video", "prompt": "x", "style": None},
    {"model": "pixverse/v5.5/text-to-video", "prompt": "x", "aspect_ratio": "2:1"},
    {"model": "pixverse/v5.5/text-to-video", "prompt": "x", "generate_audio_switch": 1},
    {"model": "pixverse/v5.5/text-to-video", "prompt": "x", "extra": [1, 2]},
    [],
    "prompt",
]
RESPONSE_CASES = [
    {"id": "a", "status": "queued"},
    {
        "id": "a",
        "status": "completed",
        "video": {"url": "https://x/y.mp4"},
        "meta": {"usage": {"credits_used": 5}},
    },
    {"id": "a", "status": "error", "error": {"name": "E", "message": "m"}},
    {"id": "a", "status": "generating", "video": None, "error": None, "meta": None},
    {"id": "a", "status": "completed", "meta": {"usage": None}},
    {"id": "a", "status": "succeeded"},
    {"id": "a"},
    {"id": 1, "status": "queued"},
    {"id": "a", "status": "completed", "video": {}},
    {"id": "a", "status": "completed", "meta": {"usage": {"credits_used": "5"}}},
    {"id": "a", "status": "completed", "meta": {"usage": {"credits_used": True}}},
    {"id": "a", "status": "error", "error": {"detail": []}},
]


CONTRACT_CASES = [
    {"model": params.MODEL_ID, "prompt": "x" * 2048, "negative_prompt": "y" * 2048},
    {"model": params.MODEL_ID, "prompt": "x" * 2049},
    {"model": params.MODEL_ID, "prompt": "x", "negative_prompt": "y" * 2049},
    {"model": params.MODEL_ID, "prompt": ""},
    {"model": params.MODEL_ID, "prompt": "x", "negative_prompt": ""},
    {"model": params.MODEL_ID, "prompt": "x", "seed": 0},
    {"model": params.MODEL_ID, "prompt": "x", "seed": 2_147_483_647},
    {"model": params.MODEL_ID, "prompt": "x", "seed": -1},
    {"model": params.MODEL_ID, "prompt": "x", "seed": 2**31},
    {"model": params.MODEL_ID, "prompt": "x", "seed": 1e30},
    {"model": params.MODEL_ID, "prompt": "x", "seed": 3.0},
]


# OpenAPI 3.0's schemas are JSON Schema draft 4 (an integer is written without a fraction).
@pytest.mark.parametrize("body", REQUEST_CASES)
def test_validator_agrees_with_jsonschema_on_requests(body: object) -> None:
    schema = sim_schema.request_schema()
    reference = jsonschema.Draft4Validator(sim_schema.to_json_schema(schema))
    assert (sim_schema.validate(body, schema) == []) == reference.is_valid(body)


@pytest.mark.parametrize("body", REQUEST_CASES + CONTRACT_CASES)
def test_validator_agrees_with_jsonschema_on_the_contract(body: object) -> None:
    schema = sim_schema.contract_request_schema()
    reference = jsonschema.Draft4Validator(sim_schema.to_json_schema(schema))
    assert (sim_schema.validate(body, schema) == []) == reference.is_valid(body)


@pytest.mark.parametrize("body", RESPONSE_CASES)
def test_validator_agrees_with_jsonschema_on_responses(body: object) -> None:
    schema = sim_schema.response_schema()
    reference = jsonschema.Draft4Validator(sim_schema.to_json_schema(schema))
    assert (sim_schema.check_response(body) == []) == reference.is_valid(body)


def test_request_check_is_lenient_where_the_contract_says() -> None:
    for model in params.MODEL_IDS:
        for duration in ("5", "8", "10"):
            body = {"model": model, "prompt": "x", "duration": duration}
            assert sim_schema.check_request(body) == []
    for duration in ("7", " 8", "08", "5.0", "5s"):
        body = {"model": params.MODEL_ID, "prompt": "x", "duration": duration}
        assert sim_schema.check_request(body)


# --- persistence, rendering, logging, entry points -----------------------------------------------


def test_jobs_and_urls_survive_a_restart(
    clock: ManualClock, cache_dir: Path, tmp_path: Path
) -> None:
    state = tmp_path / "sim.sqlite3"
    with start(clock, cache_dir, state_path=state) as first:
        job_id = create(first, prompt="persist me")
        post(first, SMALL, {"X-Client-Request-Id": "second"})
        url = finish(first, clock, job_id)["video"]["url"]
        port = first.port
    with start(clock, cache_dir, state_path=state) as second:
        body = get(second, job_id).json()
        assert body["status"] == "completed"
        old_url = url.replace(f":{port}/", f":{second.port}/")
        assert requests.get(old_url, timeout=10).status_code == 200
        jobs = second.stats()["jobs"]
        assert [j["id"] for j in jobs][0] == job_id
        assert jobs[1]["client_request_id"] == "second"


def test_the_render_cache_renders_once(tmp_path: Path) -> None:
    body = {**SMALL, "prompt": "cache me", "duration": "5"}
    results: list[tuple[Path, bool]] = []
    threads = [
        threading.Thread(target=lambda: results.append(sim_video.ensure_mp4(body, tmp_path)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(fresh for _, fresh in results) == 1
    assert len({path for path, _ in results}) == 1
    assert [p.name for p in tmp_path.iterdir()] == [results[0][0].name]  # no temp files left
    assert sim_video.render_mp4({**body, "duration": 5}, tmp_path) == results[0][0]


def test_simulators_that_share_a_videos_folder_draw_a_body_once(
    clock: ManualClock, tmp_path: Path
) -> None:
    """``PIXVERSE_UI_SIM_VIDEOS`` names the folder (``--cache-dir`` wins over it): a second
    simulator serves the first one's video for the same request without drawing it again."""
    from pixverse_ui.simulator.config import VIDEOS_ENV

    env = {VIDEOS_ENV: str(tmp_path / "shared")}
    assert SimConfig.from_env(env).cache_dir == tmp_path / "shared"
    assert SimConfig.from_env({}).cache_dir is None
    args = build_parser().parse_args(["--cache-dir", str(tmp_path / "own")])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(VIDEOS_ENV, str(tmp_path / "shared"))
        assert config_from_args(args).cache_dir == tmp_path / "own"
        assert config_from_args(build_parser().parse_args([])).cache_dir == tmp_path / "shared"
    drawn = []
    for _ in range(2):
        config = SimConfig.from_env(env, api_keys=frozenset({KEY}), speed=1.0, seed=1)
        with Simulator(config, clock=clock).start() as one:
            job_id = create(one, prompt="drawn once between two")
            url = finish(one, clock, job_id)["video"]["url"]
            assert requests.get(url, timeout=30).status_code == 200
            drawn.append(one.stats()["renders"])
    assert drawn == [1, 0]


def test_same_body_renders_once_through_the_api(clock: ManualClock, tmp_path: Path) -> None:
    with start(clock, tmp_path) as fresh:
        ids = [create(fresh, prompt="twice") for _ in range(2)]
        urls = [finish(fresh, clock, job_id)["video"]["url"] for job_id in ids]
        assert all(requests.get(u, timeout=30).status_code == 200 for u in urls)
        assert fresh.stats()["renders"] == 1 and fresh.stats()["downloads"] == 2


def test_request_log_never_shows_the_key(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pixverse_ui.simulator")
    job_id = create(sim)
    get(sim, job_id)
    wait_for(lambda: len(caplog.records) >= 2, timeout=30, step=0.01)  # logged after answering
    lines = [r.getMessage() for r in caplog.records if r.name == "pixverse_ui.simulator"]
    assert f"POST {API} 200" in lines and f"GET {API} 200" in lines
    assert not any(KEY in line or "Bearer" in line for line in lines)


def test_main_runs_until_stopped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    assert (
        sim_main(
            [
                "--speed",
                "100",
                "--faults",
                "503:0.1",
                "--success-status",
                "succeeded",
                "--seed",
                "1",
                "--cache-dir",
                str(tmp_path),
            ],
            stop=stop,
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "http://127.0.0.1:" in out
    assert re.search(r"API key: sim-[A-Za-z0-9_-]{20,} ", out), out  # made and shown: no other way
    with pytest.raises(SystemExit):
        sim_main(["--faults", "teapot"])


def test_main_with_keys_accepts_those_and_prints_none(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = build_parser().parse_args(["--api-key", "mine-1", "--api-key", "mine-2"])
    assert config_from_args(args).api_keys == {"mine-1", "mine-2"}
    stop = threading.Event()
    stop.set()
    assert sim_main(["--api-key", "mine-1", "--cache-dir", str(tmp_path)], stop=stop) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:" in out and "API key" not in out and "mine-1" not in out


def test_embedded_is_one_lazy_singleton(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pixverse_ui.defaults import simulator_client
    from pixverse_ui.simulator import embedded, stop_embedded

    stop_embedded()  # another test may have started it with its own settings
    monkeypatch.setenv("PIXVERSE_UI_HOME", str(tmp_path))
    monkeypatch.setenv("PIXVERSE_UI_SIM_SPEED", "1000")
    found: list[Simulator] = []
    threads = [threading.Thread(target=lambda: found.append(embedded())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    try:
        assert len(found) == 3 and len({id(s) for s in found}) == 1
        only = found[0]
        assert only.config.speed == 1000
        assert only.config.state_path == tmp_path / "simulator" / "jobs.sqlite3"
        # only the keys the library registered with it: none yet, then the client's
        refused = requests.post(only.url + API, json=SMALL, headers=AUTH, timeout=10)
        assert refused.status_code == 401
        with simulator_client(KEY) as client:
            assert client.base_url == only.url
        assert requests.post(only.url + API, json=SMALL, headers=AUTH, timeout=10).ok
    finally:
        stop_embedded()
    assert not found[0].running


# --- image-to-video -------------------------------------------------------------------------------


def _png(size: tuple[int, int], colour: tuple[int, int, int]) -> str:
    """A data: URI of a PNG of one colour with a white square in its top left quarter."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 4, size[1] // 4), fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


IMAGE_BODY = {
    "model": params.IMAGE_MODEL_ID,
    "prompt": "The raccoon climbs",
    "resolution": "360p",
    "duration": 5,
}


def _download(sim: Simulator, clock: ManualClock, job_id: str, dest: Path) -> Path:
    url = finish(sim, clock, job_id)["video"]["url"]
    dest.write_bytes(requests.get(url, timeout=60).content)
    return dest


def test_an_image_is_the_first_frame_and_decides_the_shape_and_the_price(
    sim: Simulator, clock: ManualClock, tmp_path: Path
) -> None:
    from PIL import Image

    square = _png((300, 300), (200, 30, 30))
    created = post(sim, {**IMAGE_BODY, "image_url": square}).json()
    job_id, credits = created["id"], created["meta"]["usage"]["credits_used"]
    card = pricing.credits_for({"resolution": "360p", "duration": 5, "aspect_ratio": "1:1"})
    assert credits == card  # charged at its shape, 1:1, as the library quotes it
    path = _download(sim, clock, job_id, tmp_path / "square.mp4")
    first, second = video_frames(path, 2)
    assert first.size == (360, 360)
    sent = Image.open(io.BytesIO(base64.b64decode(square.split(",", 1)[1])))
    assert difference(first, sent) < 6  # the image, through H.264
    assert difference(second, sent) > 20  # the other frames are drawn over it, darkened
    assert difference(first, Image.new("RGB", (9, 9), (30, 200, 30))) > 60


def test_an_image_url_is_not_fetched_and_the_video_says_so(
    sim: Simulator, clock: ManualClock, tmp_path: Path
) -> None:
    body = {**IMAGE_BODY, "image_url": "http://127.0.0.1:9/never-fetched.png"}
    job_id = post(sim, body).json()["id"]
    path = _download(sim, clock, job_id, tmp_path / "url.mp4")
    assert video_frames(path, 1)[0].size == (640, 360)  # its size is unknown: 16:9
    details = " ".join(sim_video.VideoSpec.from_body(body).details)
    assert "http://127.0.0.1:9/never-fetched.png (not fetched by the simulator)" in details


def test_an_image_that_is_not_one_fails_its_job_with_a_sentence(
    sim: Simulator, clock: ManualClock
) -> None:
    job_id = post(sim, {**IMAGE_BODY, "image_url": "data:image/png;base64,aGk="}).json()["id"]
    body = finish(sim, clock, job_id)
    assert body["status"] == "error"
    assert body["error"]["message"] == "The image in image_url could not be read as an image."
    assert sim.stats()["renders"] == 0


def test_a_simulator_that_takes_urls_only_refuses_a_data_uri(
    clock: ManualClock, cache_dir: Path
) -> None:
    with start(clock, cache_dir, data_uris=False) as urls_only:
        refused = post(urls_only, {**IMAGE_BODY, "image_url": _png((8, 8), (0, 0, 0))})
        taken = post(urls_only, {**IMAGE_BODY, "image_url": "https://example.com/a.png"})
        assert refused.status_code == 400 and taken.status_code == 200
        [problem] = refused.json()["error"]["detail"]
        assert problem["msg"] == "URL scheme should be 'http' or 'https'"
        assert len(urls_only.stats()["jobs"]) == 1


def test_image_to_video_refuses_the_other_models_field_and_urls_it_would_fetch(
    sim: Simulator,
) -> None:
    square = _png((32, 32), (0, 0, 200))
    cases = [
        (
            {**IMAGE_BODY, "image_url": square, "aspect_ratio": "1:1"},
            "aspect_ratio",
            "extra_forbidden",
        ),
        ({**SMALL, "image_url": square}, "image_url", "extra_forbidden"),
        ({**IMAGE_BODY}, "image_url", "missing"),
        ({**IMAGE_BODY, "image_url": "file:///etc/passwd"}, "image_url", "url_scheme"),
        ({**IMAGE_BODY, "image_url": "ftp://example.com/a.png"}, "image_url", "url_scheme"),
        ({**IMAGE_BODY, "image_url": "https://"}, "image_url", "url_parsing"),
        ({**IMAGE_BODY, "image_url": "https://a b/c.png"}, "image_url", "url_parsing"),
        ({**IMAGE_BODY, "image_url": "data:image/gif;base64,R0lG"}, "image_url", "url_parsing"),
        ({**IMAGE_BODY, "image_url": "data:image/png;base64,abc"}, "image_url", "url_parsing"),
        ({**IMAGE_BODY, "image_url": 7}, "image_url", "string_type"),
    ]
    for body, field, kind in cases:
        response = post(sim, body)
        assert response.status_code == 400, (body, response.text)
        problems = response.json()["error"]["detail"]
        assert [(p["loc"], p["type"]) for p in problems] == [(["body", field], kind)], problems
    assert sim.stats()["jobs"] == []
