"""The one table of enums and rules, and validation before any request."""

import pytest

from pixverse_ui import Params, ValidationError, validate
from pixverse_ui.params import (
    ASPECT_RATIOS,
    DURATIONS,
    MODEL_ID,
    PROMPT_MAX_CHARS,
    RESOLUTIONS,
    SEED_MAX,
    frame_size,
    supported_durations,
)


def test_defaults_follow_the_spec_and_leave_unset_fields_out():
    body = validate("a red fox").to_body()
    assert body == {
        "model": MODEL_ID,
        "prompt": "a red fox",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration": 5,
    }
    # seed, style, thinking_type, negative prompt and switches are omitted unless given
    for left_out in ("seed", "style", "thinking_type", "negative_prompt", "generate_audio_switch"):
        assert left_out not in body


def test_every_field_is_sent_when_set():
    body = validate(
        "a red fox",
        aspect_ratio="9:16",
        resolution="540p",
        duration=10,
        negative_prompt="blur",
        style="anime",
        seed=0,
        generate_audio_switch=True,
        generate_multi_clip_switch=False,
        thinking_type="auto",
    ).to_body()
    assert body["seed"] == 0 and body["generate_multi_clip_switch"] is False
    assert body["style"] == "anime" and body["thinking_type"] == "auto"
    assert body["duration"] == 10 and isinstance(body["duration"], int)


@pytest.mark.parametrize("given", ["5", 5, " 5 ", "5s", 5.0])
def test_duration_five_as_string_or_int_is_sent_as_int(given):
    assert validate("x", duration=given).to_body()["duration"] == 5


@pytest.mark.parametrize("model", ["pixverse/v5-5-text-to-video", "pixverse/v5.5/text-to-video"])
def test_both_model_ids_are_accepted_and_the_choice_is_kept(model):
    assert validate("x", model=model).model == model


def test_the_default_model_is_the_id_the_working_example_uses():
    assert validate("x").model == "pixverse/v5-5-text-to-video"


def test_1080p_rejects_8_seconds_by_default_with_a_sentence():
    with pytest.raises(ValidationError) as caught:
        validate("x", resolution="1080p", duration=8)
    assert caught.value.field == "duration"
    assert "1080p does not support 8-second videos" in str(caught.value)
    assert "Nothing was sent" in caught.value.user_message


def test_letting_the_server_decide_skips_the_combination_rule(monkeypatch):
    assert validate("x", resolution="1080p", duration=8, let_server_decide=True).duration == 8
    monkeypatch.setenv("PIXVERSE_UI_LET_SERVER_DECIDE", "1")
    assert validate("x", resolution="1080p", duration=8).duration == 8


def test_supported_durations_come_from_the_table():
    assert supported_durations("1080p") == (5, 10)
    assert supported_durations("720p") == DURATIONS
    assert supported_durations("1080p", let_server_decide=True) == DURATIONS


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"prompt": ""}, "prompt", "empty"),
        ({"prompt": "   "}, "prompt", "empty"),
        ({"prompt": None}, "prompt", "empty"),
        ({"prompt": "x" * (PROMPT_MAX_CHARS + 1)}, "prompt", "limit is 2048"),
        ({"prompt": 42}, "prompt", "must be text"),
        ({"prompt": "x", "negative_prompt": "y" * 2049}, "negative_prompt", "limit is 2048"),
        ({"prompt": "x", "seed": -1}, "seed", "between 0 and 2147483647"),
        ({"prompt": "x", "seed": SEED_MAX + 1}, "seed", "between 0 and 2147483647"),
        ({"prompt": "x", "seed": True}, "seed", "whole number"),
        ({"prompt": "x", "seed": "abc"}, "seed", "whole number"),
        # typed into the page's seed box: a whole number, outside the range (not "whole number")
        ({"prompt": "x", "seed": "-1"}, "seed", "between 0 and 2147483647; got -1."),
        ({"prompt": "x", "seed": " +2147483648 "}, "seed", "between 0 and 2147483647"),
        ({"prompt": "x", "seed": "9" * 5000}, "seed", "between 0 and 2147483647"),
        ({"prompt": "x", "seed": "1.5"}, "seed", "whole number"),
        ({"prompt": "x", "seed": "²"}, "seed", "whole number"),
        ({"prompt": "x", "duration": 7}, "duration", "5, 8 or 10"),
        ({"prompt": "x", "duration": True}, "duration", "5, 8 or 10"),
        ({"prompt": "x", "aspect_ratio": "21:9"}, "aspect_ratio", "16:9, 4:3, 1:1, 3:4 or 9:16"),
        ({"prompt": "x", "resolution": "4k"}, "resolution", "360p, 540p, 720p or 1080p"),
        ({"prompt": "x", "style": "baroque"}, "style", "anime"),
        ({"prompt": "x", "thinking_type": "maybe"}, "thinking_type", "enabled, disabled or auto"),
        ({"prompt": "x", "generate_audio_switch": "loud"}, "generate_audio_switch", "on or off"),
        ({"prompt": "x", "model": "openai/sora"}, "model", "pixverse/v5-5-text-to-video"),
        ({"prompt": "x", "colour": "red"}, "colour", "Unknown option"),
    ],
)
def test_bad_input_gets_a_readable_sentence(kwargs, field, words):
    prompt = kwargs.pop("prompt")
    with pytest.raises(ValidationError) as caught:
        validate(prompt, **kwargs)
    assert caught.value.field == field
    assert words in str(caught.value)
    assert "Traceback" not in caught.value.user_message


def test_limits_are_inclusive():
    assert len(validate("x" * PROMPT_MAX_CHARS).prompt) == PROMPT_MAX_CHARS
    assert validate("x", seed=SEED_MAX).seed == SEED_MAX


def test_friendly_spellings_are_normalised():
    p = validate("x", resolution="1080P", style="3D animation", aspect_ratio=" 9:16 ")
    assert (p.resolution, p.style, p.aspect_ratio) == ("1080p", "3d_animation", "9:16")
    assert validate("x", style="none").style is None
    assert validate("x", seed="42").seed == 42


def test_params_are_frozen_and_replace_revalidates():
    p = validate("x")
    with pytest.raises(AttributeError):
        p.prompt = "y"  # type: ignore[misc]
    assert p.replace(seed=7).seed == 7
    with pytest.raises(ValidationError):
        p.replace(resolution="1080p", duration=8)
    assert Params.build("x", duration="10").duration == 10


@pytest.mark.parametrize(
    ("ratio", "resolution", "size"),
    [
        ("16:9", "1080p", (1920, 1080)),
        ("9:16", "1080p", (1080, 1920)),
        ("1:1", "720p", (720, 720)),
        ("4:3", "540p", (720, 540)),
        ("3:4", "360p", (360, 480)),
        ("16:9", "360p", (640, 360)),
    ],
)
def test_frame_size_short_side_is_the_resolution(ratio, resolution, size):
    assert frame_size(ratio, resolution) == size


def test_every_frame_size_is_even():
    for ratio in ASPECT_RATIOS:
        for resolution in RESOLUTIONS:
            w, h = frame_size(ratio, resolution)
            assert w % 2 == 0 and h % 2 == 0
