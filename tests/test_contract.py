"""The simulator holds the provider's contract, so that a client regression cannot hide behind it.

Two kinds of test: schemathesis runs every check over HTTP on the overlay spec (tests/contract.py),
short here and long in tests/test_contract_long.py (``make faults``); and each of the client's own
checks is switched off in turn, to see the simulator refuse what the client let through.
"""

from __future__ import annotations

import pytest
import schemathesis
from contract import (
    COMBO_BODY,
    IMAGE,
    MODELS,
    PATH,
    SETTINGS,
    SHORT_PHASES,
    TINY_PNG,
    overlay_spec,
    run,
    simulator,
)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pixverse_ui import errors, images, params
from pixverse_ui.params import Params

SHORT_EXAMPLES = 50
DOCUMENTED = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("combo_rules", SETTINGS.values(), ids=SETTINGS.keys())
def test_a_short_schemathesis_run_finds_nothing(tmp_path, capsys, combo_rules, model):
    with simulator(tmp_path, combo_rules=combo_rules) as sim:
        spec = overlay_spec(combo_rules=combo_rules, model=model)
        figures = run(spec, sim.url, sim.api_key, max_examples=SHORT_EXAMPLES)
        stats = sim.stats()
    setting = "refused" if combo_rules else "accepted"
    figures.report(capsys, f"short run, {model}, 1080p + 8 s {setting}")
    assert figures.failures == [] and figures.errors == [], "\n".join(
        figures.failures + figures.errors
    )
    assert [figures.phases[name] for name in SHORT_PHASES] == ["success"] * len(SHORT_PHASES)
    assert figures.examples >= 100 and figures.checks >= 1000  # it ran, and checked
    assert stats["jobs"], "no schema-valid body was accepted"
    if model == IMAGE:  # what it accepted were image-to-video bodies, each with an image
        assert all(job["body"]["image_url"] for job in stats["jobs"])


@pytest.mark.parametrize("combo_rules", SETTINGS.values(), ids=SETTINGS.keys())
def test_1080p_8s_gets_the_answer_its_setting_documents(tmp_path, combo_rules):
    """Schemathesis never sends a body its spec forbids, so the refusal is sent here by hand."""
    with simulator(tmp_path, combo_rules=combo_rules) as sim:
        config = schemathesis.Config.from_dict({"base-url": sim.url})
        spec = overlay_spec(combo_rules=combo_rules)
        case = schemathesis.openapi.from_dict(spec, config=config)[PATH]["POST"].Case(
            body=COMBO_BODY,
            headers={"Authorization": f"Bearer {sim.api_key}"},
            media_type="application/json",
        )
        response = case.call()
        jobs = sim.stats()["jobs"]
    assert response.status_code == (400 if combo_rules else 200)
    case.validate_response(response, checks=DOCUMENTED)  # a documented status, body and type
    if combo_rules:
        assert response.json()["error"]["message"] == (
            "The 1080p quality option does not support 8-second videos."
        )
    assert len(jobs) == (0 if combo_rules else 1)


def test_the_run_fails_a_simulator_that_refuses_what_the_spec_allows(tmp_path):
    """The overlay where the server decides, against a simulator that refuses 1080p + 8 s."""
    with simulator(tmp_path, combo_rules=True) as sim:
        spec = overlay_spec(combo_rules=False)
        figures = run(spec, sim.url, sim.api_key, max_examples=5, phases=("examples",))
    assert [f.split(" (")[0] for f in figures.failures] == ["ST202 Schema-valid request rejected"]
    assert '"resolution": "1080p", "duration": 8' in figures.failures[0]


def test_the_image_run_fails_a_simulator_that_refuses_data_uris(tmp_path):
    """The image-to-video overlay's data: URI example, against a simulator that takes URLs only."""
    with simulator(tmp_path, combo_rules=True, data_uris=False) as sim:
        spec = overlay_spec(model=IMAGE)
        figures = run(spec, sim.url, sim.api_key, max_examples=5, phases=("examples",))
    assert [f.split(" (")[0] for f in figures.failures] == ["ST202 Schema-valid request rejected"]
    assert TINY_PNG in figures.failures[0]


#: A body with the other model's own field: refused, though other unknown fields are ignored.
MIXED = {
    "aspect-ratio-with-image": (
        IMAGE,
        {
            "model": params.IMAGE_MODEL_ID,
            "prompt": "x",
            "image_url": TINY_PNG,
            "aspect_ratio": "1:1",
        },
        ["body", "aspect_ratio"],
    ),
    "image-with-text-model": (
        "text-to-video",
        {"model": params.MODEL_ID, "prompt": "x", "image_url": TINY_PNG},
        ["body", "image_url"],
    ),
}


@pytest.mark.parametrize(("model", "body", "loc"), MIXED.values(), ids=MIXED.keys())
def test_the_other_models_field_gets_a_documented_refusal(tmp_path, model, body, loc):
    """Schemathesis never sends a body its spec forbids, so these are sent here by hand."""
    with simulator(tmp_path, combo_rules=True) as sim:
        config = schemathesis.Config.from_dict({"base-url": sim.url})
        spec = overlay_spec(model=model)
        case = schemathesis.openapi.from_dict(spec, config=config)[PATH]["POST"].Case(
            body={**body, "color": "ignored"},
            headers={"Authorization": f"Bearer {sim.api_key}"},
            media_type="application/json",
        )
        response = case.call()
        jobs = sim.stats()["jobs"]
    assert response.status_code == 400 and jobs == []
    case.validate_response(response, checks=DOCUMENTED)
    assert response.json()["error"]["detail"] == [
        {"loc": loc, "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]


# --- the client's checks, one at a time, left to the simulator ----------------------------------

#: Bodies the client's ``params.validate`` refuses, built directly so that they are sent.
BYPASSED = {
    "prompt-2049": ({"prompt": "x" * 2049}, "prompt: String should have at most 2048 characters"),
    "empty-prompt": ({"prompt": ""}, "prompt: String should have at least 1 character"),
    "negative-2049": (
        {"prompt": "x", "negative_prompt": "y" * 2049},
        "negative_prompt: String should have at most 2048 characters",
    ),
    "seed-minus-1": ({"prompt": "x", "seed": -1}, "seed: Input should be greater than or equal"),
    "seed-2**31": ({"prompt": "x", "seed": 2**31}, "seed: Input should be less than or equal"),
    "seed-float": ({"prompt": "x", "seed": 1e30}, "seed: Input should be a valid integer"),
    "duration-7": ({"prompt": "x", "duration": 7}, "duration: Input should be one of"),
    "aspect-2:1": ({"prompt": "x", "aspect_ratio": "2:1"}, "aspect_ratio: Input should be one of"),
    "1080p-8s": (
        {"prompt": "x", "resolution": "1080p", "duration": 8},
        "The 1080p quality option does not support 8-second videos.",
    ),
}


#: Image-to-video bodies the client refuses, built directly so that they are sent.
BYPASSED_IMAGE = {
    "aspect-with-image": (
        {"prompt": "x", "aspect_ratio": "1:1", "image": "https://example.com/a.png"},
        "aspect_ratio: Extra inputs are not permitted",
    ),
    "file-url": (
        {"prompt": "x", "aspect_ratio": None, "image": "file:///etc/passwd"},
        "image_url: URL scheme should be 'http', 'https' or 'data'",
    ),
    "ftp-url": (
        {"prompt": "x", "aspect_ratio": None, "image": "ftp://example.com/a.png"},
        "image_url: URL scheme should be 'http', 'https' or 'data'",
    ),
    "data-uri-not-an-image-type": (
        {"prompt": "x", "aspect_ratio": None, "image": "data:text/plain;base64,aGk="},
        "image_url: A data URI should read data:image/(png|jpeg|webp);base64,<data>",
    ),
    "no-image": (
        {"prompt": "x", "aspect_ratio": None, "model": params.IMAGE_MODEL_ID},
        "image_url: Field required",
    ),
    "text-model-with-image": (
        {"prompt": "x", "model": params.MODEL_ID, "image": TINY_PNG},
        "image_url: Extra inputs are not permitted",
    ),
}


def _unchecked(fields: dict) -> Params:
    """``Params`` built without the client's checks, as a regression would send them; an image
    given as text is sent as given, with image-to-video's model unless the fields name one."""
    image = fields.get("image")
    if isinstance(image, str):
        url = images.InputImage(images.URL, url=image)
        fields = {"model": params.IMAGE_MODEL_ID, **fields, "image": url}
    return Params(**fields)


@pytest.mark.parametrize(
    ("fields", "words"),
    [*BYPASSED.values(), *BYPASSED_IMAGE.values()],
    ids=[*BYPASSED.keys(), *BYPASSED_IMAGE.keys()],
)
def test_what_a_client_check_lets_through_the_simulator_refuses(sim, client, fields, words):
    with pytest.raises(errors.ValidationError):  # the client's own check
        params.validate(**{k: v for k, v in fields.items() if v is not None})
    request = _unchecked(fields)  # no client check: what a regression would send
    with pytest.raises(errors.BadRequestError) as refused:
        client.create(request)
    assert refused.value.status_code == 400
    assert words in (refused.value.provider_message or ""), refused.value.provider_message
    stats = sim.stats()
    assert stats["posts"] == 1 and stats["jobs"] == []  # sent, and no paid job made
