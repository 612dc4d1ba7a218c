"""Contract runs: schemathesis against the simulator over HTTP, on a test-only overlay of the spec.

The provider's spec (``pixverse_ui/simulator/openapi.json``) documents 200 answers and bare types
only, so a run on it alone cannot tell a right refusal from a wrong one. :func:`overlay_spec` adds
what docs/provider-contract.md records, written out here independently of the simulator's code
(a rule dropped from the simulator is then a failure, not a silent change of both sides):

- the request rules: both model ids, prompt of 1..2048 characters, negative prompt of at most
  2048, seed 0..2147483647, duration 5, 8 or 10 as an integer or exactly the string "5", "8" or
  "10", and (unless the server decides) no 1080p + 8 s;
- for image-to-video (its own spec, ``openapi-image-to-video.json``, with the shared GET): an
  ``image_url`` that is an http(s) URL (a host part, no spaces or control characters) or a PNG,
  JPEG or WebP as a padded base64 data: URI, and no ``aspect_ratio``; for text-to-video, no
  ``image_url``; image-to-video's spec declares no key, but the key is sent on both calls;
- request examples at those limits (and 1080p + 8 s when the server decides), which the examples
  phase sends as they are: random generation seldom lands on a limit or on that one pair;
- the statuses the real API answers, with their bodies: 400 (a validation error's
  ``error.detail`` list or a named ``error``), 401, 403, 404 (GET), 429 (maybe ``Retry-After``)
  and 5XX in the HTTP error shape.

:func:`run` drives schemathesis's engine (what ``st run`` runs: every check, every phase asked
for) and returns its figures. One check is ours: schemathesis sends bodies as ``text/plain`` and
``multipart/form-data`` but only fails a 5xx to them; :func:`json_bodies_only` fails any 2xx, since
an accepted POST is a paid job.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import schemathesis

from pixverse_ui import params
from pixverse_ui.simulator import SimConfig, Simulator

PATH = "/v2/video/generations"
#: Every run's seed: a failure is reproduced by running again.
SEED = 15
#: The phases of a short run (``make test``); the long run adds "stateful".
SHORT_PHASES = ("examples", "coverage", "fuzzing")
#: The two settings of the 1080p + 8 s rule, by test id: refused (the default), or let through.
SETTINGS = {"1080p-8s-refused": True, "server-decides": False}
#: The two models, by their specs' kind.
TEXT, IMAGE = "text-to-video", "image-to-video"
MODELS = (TEXT, IMAGE)
#: The image URLs the contract takes, as ECMA patterns: http(s), or a base64 data: URI.
IMAGE_URL_PATTERNS = (
    "^[hH][tT][tT][pP][sS]?://[^\\x00-\\x20\\x7f/?#]+([/?#][^\\x00-\\x20\\x7f]*)?$",
    "^data:image/(png|jpeg|webp);base64,([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
)
#: The smallest PNG (1x1, black), as a data: URI.
TINY_PNG = (
    "data:image/png;base64,"
    + base64.b64encode(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
            "3a7e9b550000000a49444154789c636000000002000148afa4710000000049454e44ae426082"
        )
    ).decode()
)

_HTTP_ERROR = {
    "type": "object",
    "required": ["message", "path", "requestId", "statusCode", "timestamp"],
    "properties": {
        "message": {"type": "string"},
        "path": {"type": "string"},
        "requestId": {"type": "string"},
        "statusCode": {"type": "integer"},
        "timestamp": {"type": "string"},
    },
}
_DETAIL_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["detail"],
            "properties": {
                "detail": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["loc", "msg", "type"],
                        "properties": {
                            "loc": {
                                "type": "array",
                                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                            },
                            "msg": {"type": "string"},
                            "type": {"type": "string"},
                        },
                    },
                }
            },
        }
    },
}
_NAMED_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["name", "message"],
            "properties": {"name": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def _answer(description: str, schema: dict, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def error_responses(*, not_found: bool) -> dict[str, dict]:
    """The refusals the provider documents, with the shapes its answers have."""
    answers = {
        "400": _answer(
            "invalid request: a validation error's list, or a named error",
            {"anyOf": [_DETAIL_ERROR, _NAMED_ERROR]},
        ),
        "401": _answer("missing or unknown key", _HTTP_ERROR),
        "403": _answer("out of credits, or not allowed", _HTTP_ERROR),
        "429": _answer(
            "rate or concurrency limit",
            _HTTP_ERROR,
            {"Retry-After": {"required": False, "schema": {"type": "string"}}},
        ),
        "5XX": _answer("server trouble (504: the generation timed out)", _HTTP_ERROR),
    }
    if not_found:
        answers["404"] = _answer("no generation has this id", _HTTP_ERROR)
    return answers


#: 1080p for 8 s: refused by the page's rule, accepted when the server decides.
COMBO_BODY = {"model": params.MODEL_ID, "prompt": "a fox", "resolution": "1080p", "duration": 8}


def request_examples(*, combo_rules: bool, model: str = TEXT) -> dict[str, dict]:
    """Valid bodies at the contract's edges; 1080p + 8 s only when the server decides."""
    if model == IMAGE:
        return image_request_examples(combo_rules=combo_rules)
    examples = {
        "at-the-upper-limits": {
            "model": params.MODEL_ID,
            "prompt": "x" * 2048,
            "negative_prompt": "y" * 2048,
            "seed": 2_147_483_647,
            "resolution": "1080p",
            "duration": "10",
        },
        "at-the-lower-limits": {
            "model": "pixverse/v5.5/text-to-video",
            "prompt": "a",
            "negative_prompt": "",
            "seed": 0,
            "resolution": "360p",
            "duration": 5,
        },
    }
    if not combo_rules:
        examples["1080p-for-8-s"] = COMBO_BODY
    return examples


def image_request_examples(*, combo_rules: bool) -> dict[str, dict]:
    """Image-to-video's valid bodies at the contract's edges, with an image URL and a data: URI."""
    examples = {
        "at-the-upper-limits": {
            "model": params.IMAGE_MODEL_ID,
            "prompt": "x" * 2048,
            "negative_prompt": "y" * 2048,
            "seed": 2_147_483_647,
            "resolution": "1080p",
            "duration": "10",
            "image_url": "https://example.com/" + "i" * 2000 + ".png",
        },
        "at-the-lower-limits": {
            "model": "pixverse/v5.5/image-to-video",
            "prompt": "a",
            "negative_prompt": "",
            "seed": 0,
            "resolution": "360p",
            "duration": 5,
            "image_url": TINY_PNG,
        },
    }
    if not combo_rules:
        examples["1080p-for-8-s"] = {
            **COMBO_BODY,
            "model": params.IMAGE_MODEL_ID,
            "image_url": "http://h",
        }
    return examples


def shipped_spec(model: str = TEXT) -> dict:
    """A model's spec as the package ships it."""
    name = "openapi-image-to-video.json" if model == IMAGE else "openapi.json"
    text = resources.files("pixverse_ui.simulator").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


def overlay_spec(*, combo_rules: bool = True, model: str = TEXT) -> dict:
    """A model's shipped spec with the contract's rules and statuses; ``combo_rules``: 1080p +
    8 s is refused (the default), else the server decides and accepts it. Image-to-video's spec
    has no GET: the text spec's, which both models share, is added to it."""
    spec = copy.deepcopy(shipped_spec(model))
    if model == IMAGE:  # and the key on both calls, as the examples send it and the text spec says
        spec["paths"][PATH]["get"] = shipped_spec(TEXT)["paths"][PATH]["get"]
        spec["security"] = shipped_spec(TEXT)["security"]
    post = spec["paths"][PATH]["post"]
    get = spec["paths"][PATH]["get"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    fields = body["properties"]
    fields["model"]["enum"] = list(params.IMAGE_MODEL_IDS if model == IMAGE else params.MODEL_IDS)
    fields["prompt"].update(minLength=1, maxLength=2048)
    fields["negative_prompt"].update(maxLength=2048)
    fields["seed"].update(minimum=0, maximum=2_147_483_647)
    duration = fields["duration"]
    fields["duration"] = {
        "description": duration["description"],
        "anyOf": [
            {"type": "integer", "enum": [5, 8, 10]},
            {"type": "string", "enum": ["5", "8", "10"]},
        ],
    }
    refused = []
    if combo_rules:  # the page: "The 1080p quality option does not support 8-second videos."
        refused.append(
            {
                "required": ["resolution", "duration"],
                "properties": {"resolution": {"enum": ["1080p"]}, "duration": {"enum": [8, "8"]}},
            }
        )
    if model == IMAGE:  # the image decides the shape: no aspect ratio
        fields["image_url"] = {
            "type": "string",
            "description": fields["image_url"]["description"],
            "anyOf": [{"pattern": pattern} for pattern in IMAGE_URL_PATTERNS],
        }
        refused.append({"required": ["aspect_ratio"]})
    else:  # an image is for the other model
        refused.append({"required": ["image_url"]})
    if refused:
        body["allOf"] = [{"not": rule} for rule in refused]
    examples = request_examples(combo_rules=combo_rules, model=model)
    post["requestBody"]["content"]["application/json"]["examples"] = {
        name: {"value": value} for name, value in examples.items()
    }
    post["responses"].update(error_responses(not_found=False))
    get["responses"].update(error_responses(not_found=True))
    for operation in (post, get):
        operation["responses"]["200"].setdefault("description", "the generation")
    return spec


@schemathesis.check
def json_bodies_only(ctx: object, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A POST whose body was not sent as ``application/json`` must not be accepted."""
    request = response.request
    content_type = request.headers.get("Content-Type") or ""
    media_type = content_type.partition(";")[0].strip().lower()
    if request.method == "POST" and response.status_code < 300 and media_type != "application/json":
        raise AssertionError(
            f"A POST sent as {content_type or 'no Content-Type'!r} was accepted "
            f"({response.status_code}): a job was made from a body that is not JSON"
        )


@contextmanager
def simulator(cache_dir: Path, *, combo_rules: bool, data_uris: bool = True) -> Iterator[Simulator]:
    """A simulator for a contract run, with the key it made (no video is rendered: nobody
    downloads one)."""
    config = SimConfig(
        speed=1000,
        seed=SEED,
        cache_dir=cache_dir,
        prerender=False,
        enforce_combo_rules=combo_rules,
        data_uris=data_uris,
    )
    with Simulator(config) as sim:
        yield sim


@dataclass
class Figures:
    """What a run did: cases sent, checks run, and every failure or error (as text)."""

    examples: int = 0
    checks: int = 0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    phases: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.examples} examples generated, {self.checks} checks run, "
            f"{len(self.failures)} failures, {len(self.errors)} errors in {self.seconds:.1f} s"
        )

    def report(self, capsys: object, label: str) -> None:
        """Show the figures in the test run's output, even when it captures output."""
        with capsys.disabled():  # type: ignore[attr-defined]
            print(f"\n  schemathesis, {label}: {self.line()}")


def run(
    spec: dict,
    base_url: str,
    key: str,
    *,
    max_examples: int,
    phases: tuple[str, ...] = SHORT_PHASES,
    seed: int = SEED,
) -> Figures:
    """Every schemathesis check on ``spec`` against ``base_url``, with bearer ``key``."""
    from schemathesis.engine import Status, events, from_schema

    config = schemathesis.Config.from_dict(
        {
            "seed": seed,
            "base-url": base_url,
            "workers": 1,
            "request-timeout": 10,
            "auth": {"openapi": {"access-token": {"bearer": key}}},
            "checks": {"enabled": True},
            "cache": {"enabled": False},  # no .schemathesis/ folder left in the checkout
            "generation": {"max-examples": max_examples, "database": "none"},
            "phases": {
                name: {"enabled": name in phases}
                for name in ("examples", "coverage", "fuzzing", "stateful")
            },
        }
    )
    schema = schemathesis.openapi.from_dict(spec, config=config)
    figures = Figures()
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, (events.ScenarioFinished, events.FuzzScenarioFinished)):
            recorder = event.recorder
            figures.examples += len(recorder.cases)
            for checks in recorder.checks.values():
                figures.checks += len(checks)
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        figures.failures.append(
                            f"{failure.code} {failure.title} ({failure.operation}): "
                            f"{failure.message}\n  {check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.PhaseFinished):
            figures.phases[event.phase.name.value] = event.status.value
        elif isinstance(event, events.NonFatalError):
            figures.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            figures.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            figures.failures += [f"{f.code} {f.title}: {f.message}" for f in event.failures]
    figures.seconds = time.monotonic() - started
    return figures
