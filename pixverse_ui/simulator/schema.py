"""A small validator for the OpenAPI subset the provider's specs use, and the schemas from them.

The simulator ships both models' specs as the provider wrote them: ``openapi.json``
(text-to-video, POST and GET) and ``openapi-image-to-video.json`` (its POST; the GET is shared).

Supported keywords: ``type`` (string, integer, number, boolean, object, array), ``enum``,
``required``, ``properties``, ``items``, ``minLength``, ``maxLength``, ``minimum``, ``maximum``
and OpenAPI's ``nullable``, with OpenAPI 3.0's JSON Schema (draft 4) meaning: an integer is a
number written without a fraction or exponent, so ``5.0`` and ``1e30`` are not integers. Problems
come back as a list of ``{"loc": [...], "msg": ..., "type": ...}``, the shape (and the wording) the
provider uses for validation errors.

:func:`check_request` holds a POST body to the provider's contract as docs/provider-contract.md
records it: the spec's schema, lenient where a client must be accepted (both model ids, and
``duration`` as exactly the string ``"5"``, ``"8"`` or ``"10"``), strict where the provider refuses
(prompt and negative prompt of at most 2048 characters, a prompt of at least one, a seed in
0..2147483647). A body is held to the schema of the model it names: image-to-video's when its
``model`` is an image-to-video id, where ``image_url`` must be an http(s) URL or a
``data:image/(png|jpeg|webp);base64,`` URI, else text-to-video's. Fields a schema does not name
are ignored, but for the other model's own (``params.Model.own_field``): ``aspect_ratio`` with an
image, ``image_url`` without one, which only a client mixing the two models would send.
"""

from __future__ import annotations

import binascii
import copy
import json
import re
from base64 import b64decode
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from .. import params

Problem = dict[str, Any]
PATH = "/v2/video/generations"
#: The documented form of ``X-Client-Request-Id``: 1 to 128 of ``A-Z a-z 0-9 . _ : -``.
CLIENT_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: Each model's spec, as the provider wrote it, by ``params.Model.kind``.
SPEC_FILES = {
    params.TEXT_TO_VIDEO.kind: "openapi.json",
    params.IMAGE_TO_VIDEO.kind: "openapi-image-to-video.json",
}
TEXT, IMAGE = params.TEXT_TO_VIDEO.kind, params.IMAGE_TO_VIDEO.kind
#: An image's URL: http or https, a host part, and no spaces or control characters.
HTTP_URL = re.compile(r"[hH][tT][tT][pP][sS]?://[^\x00-\x20\x7f/?#]+(?:[/?#][^\x00-\x20\x7f]*)?")
#: An image as a data: URI: a PNG, JPEG or WebP in base64 (padded, as the standard alphabet has it).
DATA_URI = re.compile(r"data:image/(png|jpeg|webp);base64,(?P<payload>[A-Za-z0-9+/]*={0,2})")

_TYPE_NAMES = {
    "string": ("string_type", "Input should be a valid string"),
    "integer": ("int_type", "Input should be a valid integer"),
    "number": ("float_type", "Input should be a valid number"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "object": ("dict_type", "Input should be a valid dictionary or object"),
    "array": ("list_type", "Input should be a valid list"),
}


@lru_cache(maxsize=2)
def spec(kind: str = TEXT) -> dict[str, Any]:
    """The OpenAPI document of one model (``text-to-video`` or ``image-to-video``), as shipped."""
    name = SPEC_FILES[kind]
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def request_schema(kind: str = TEXT) -> dict[str, Any]:
    """The schema of one model's POST body, exactly as its spec has it (a copy)."""
    operation = spec(kind)["paths"][PATH]["post"]
    return copy.deepcopy(operation["requestBody"]["content"]["application/json"]["schema"])


def response_schema(method: str = "get") -> dict[str, Any]:
    """The schema of a 200 answer to ``method`` (``get`` or ``post``; the spec gives both)."""
    operation = spec()["paths"][PATH][method.lower()]
    return copy.deepcopy(operation["responses"]["200"]["content"]["application/json"]["schema"])


@lru_cache(maxsize=2)
def _contract_request_schema(kind: str) -> dict[str, Any]:
    schema = request_schema(kind)
    fields = schema["properties"]
    # text-to-video's is the schema a body naming neither model is held to: name every id
    ids = params.IMAGE_MODEL_IDS if kind == IMAGE else params.MODEL_IDS + params.IMAGE_MODEL_IDS
    fields["model"]["enum"] = list(ids)
    fields["prompt"].update(minLength=1, maxLength=params.PROMPT_MAX_CHARS)
    fields["negative_prompt"].update(maxLength=params.PROMPT_MAX_CHARS)
    fields["seed"].update(minimum=params.SEED_MIN, maximum=params.SEED_MAX)
    return schema


def contract_request_schema(kind: str = TEXT) -> dict[str, Any]:
    """One model's POST body schema as the simulator enforces it (a copy; see
    :func:`check_request`, which adds the rules a schema cannot say)."""
    return copy.deepcopy(_contract_request_schema(kind))


def kind_of(body: Any) -> str:
    """The model a body is for: image-to-video when it names one of its ids."""
    named = body.get("model") if isinstance(body, dict) else None
    return IMAGE if params.model_named(named) is params.IMAGE_TO_VIDEO else TEXT


#: The duration strings accepted, exactly as the page's Python example sends ``"5"``.
_DURATION_TEXTS = {str(d): d for d in params.DURATIONS}


def normalise_request(body: Any) -> Any:
    """``body`` with ``duration`` ``"5"``/``"8"``/``"10"`` (exactly) turned into an integer."""
    if isinstance(body, dict) and isinstance(body.get("duration"), str):
        number = _DURATION_TEXTS.get(body["duration"])
        if number is not None:
            return {**body, "duration": number}
    return body


def check_request(body: Any, *, data_uris: bool = True) -> list[Problem]:
    """Problems with a POST body under the provider's contract (docs/provider-contract.md).

    ``data_uris``: an image may come as a data: URI (False: as an http(s) URL only, as a
    provider that fetches images by URL would have it)."""
    kind = kind_of(body)
    body = normalise_request(body)
    problems = validate(body, _contract_request_schema(kind), ("body",))
    if not isinstance(body, dict):
        return problems
    other = next(m for m in params.MODELS if m.kind != kind)
    if other.own_field in body:
        msg = "Extra inputs are not permitted"
        problems.append(_problem(["body", other.own_field], msg, "extra_forbidden"))
    if kind == IMAGE and isinstance(body.get("image_url"), str):
        problems.extend(_image_url_problems(body["image_url"], data_uris=data_uris))
    return problems


def _image_url_problems(url: str, *, data_uris: bool) -> list[Problem]:
    """An ``image_url`` is an http(s) URL with a host and no spaces, or (``data_uris``) a PNG,
    JPEG or WebP as a base64 data: URI."""
    loc = ["body", "image_url"]
    if url.startswith("data:") and data_uris:
        found = DATA_URI.fullmatch(url)
        if found is None:
            msg = "A data URI should read data:image/(png|jpeg|webp);base64,<data>"
            return [_problem(loc, msg, "url_parsing")]
        try:
            b64decode(found.group("payload"), validate=True)
        except (binascii.Error, ValueError):
            return [_problem(loc, "The data URI's base64 is not valid", "url_parsing")]
        return []
    if not url.lower().startswith(("http://", "https://")):
        schemes = "'http', 'https' or 'data'" if data_uris else "'http' or 'https'"
        return [_problem(loc, f"URL scheme should be {schemes}", "url_scheme")]
    if HTTP_URL.fullmatch(url) is None:
        return [_problem(loc, "Input should be a valid URL", "url_parsing")]
    return []


def check_client_request_id(value: str | None) -> list[Problem]:
    """Problems with an ``X-Client-Request-Id`` header (None: not sent, which is fine)."""
    if value is None or CLIENT_REQUEST_ID_PATTERN.fullmatch(value):
        return []
    msg = f"String should match pattern '{CLIENT_REQUEST_ID_PATTERN.pattern}'"
    return [_problem(["header", "x-client-request-id"], msg, "string_pattern_mismatch")]


def check_response(body: Any, method: str = "get") -> list[Problem]:
    """Problems with a 200 answer against the spec's response schema (strict: its status enum)."""
    return validate(body, response_schema(method), ())


def validate(value: Any, schema: Mapping[str, Any], loc: Sequence[str | int] = ()) -> list[Problem]:
    """Every problem with ``value`` under ``schema`` (an OpenAPI 3.0 schema object)."""
    loc = list(loc)
    if value is None:
        if schema.get("nullable"):
            return []
        if "type" in schema:
            kind, msg = _TYPE_NAMES[schema["type"]]
            return [_problem(loc, msg, kind)]
    expected = schema.get("type")
    if expected is not None and not _is_type(value, expected):
        kind, msg = _TYPE_NAMES[expected]
        return [_problem(loc, msg, kind)]
    problems: list[Problem] = []
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        shown = ", ".join(repr(o) if isinstance(o, str) else str(o) for o in schema["enum"])
        problems.append(_problem(loc, f"Input should be one of: {shown}", "enum"))
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                problems.append(_problem([*loc, name], "Field required", "missing"))
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                problems.extend(validate(value[name], sub, [*loc, name]))
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems.extend(validate(item, schema["items"], [*loc, index]))
    if isinstance(value, str):
        problems.extend(_length_problems(value, schema, loc))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        problems.extend(_range_problems(value, schema, loc))
    return problems


def _length_problems(value: str, schema: Mapping[str, Any], loc: list[Any]) -> list[Problem]:
    least, most = schema.get("minLength"), schema.get("maxLength")
    if least is not None and len(value) < least:
        unit = "character" if least == 1 else "characters"
        return [_problem(loc, f"String should have at least {least} {unit}", "string_too_short")]
    if most is not None and len(value) > most:
        unit = "character" if most == 1 else "characters"
        return [_problem(loc, f"String should have at most {most} {unit}", "string_too_long")]
    return []


def _range_problems(value: float, schema: Mapping[str, Any], loc: list[Any]) -> list[Problem]:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and value < low:
        msg = f"Input should be greater than or equal to {low}"
        return [_problem(loc, msg, "greater_than_equal")]
    if high is not None and value > high:
        return [_problem(loc, f"Input should be less than or equal to {high}", "less_than_equal")]
    return []


def _is_type(value: Any, expected: str) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False  # a bool is not a number here, as in JSON
    if expected == "integer":
        return isinstance(value, int)  # draft 4: 5.0 and 1e30 are numbers, not integers
    if expected == "number":
        return isinstance(value, (int, float))
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    raise ValueError(f"unsupported schema type {expected!r}")


def _same(value: Any, option: Any) -> bool:
    """JSON equality: ``True`` is not ``1``; ``5.0`` is ``5``."""
    if isinstance(value, bool) or isinstance(option, bool):
        return isinstance(value, bool) and isinstance(option, bool) and value is option
    if isinstance(value, (int, float)) and isinstance(option, (int, float)):
        return value == option
    return type(value) is type(option) and value == option


def _problem(loc: list[Any], msg: str, kind: str) -> Problem:
    return {"loc": list(loc), "msg": msg, "type": kind}


def to_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAPI schema turned into plain JSON Schema (``nullable`` -> a ``null`` type)."""
    out = {k: v for k, v in schema.items() if k != "nullable"}
    if "properties" in out:
        out["properties"] = {k: to_json_schema(v) for k, v in out["properties"].items()}
    if "items" in out:
        out["items"] = to_json_schema(out["items"])
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out
