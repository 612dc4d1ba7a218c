"""Fuzzing the three front doors (library, CLI, app API) with Hypothesis.

Every input either validates into a body the provider's spec accepts, or is refused with a
sentence before anything is recorded or sent; never a traceback, never a request.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import form, free_port

from pixverse_ui import cli, errors, params
from pixverse_ui.generation import generate
from pixverse_ui.simulator.schema import check_request

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FIXTURES_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def spelled(options) -> st.SearchStrategy:
    """An option as people type it: exact, upper case, padded."""
    return st.sampled_from([str(o) for o in options]).flatmap(
        lambda o: st.sampled_from([o, o.upper(), f" {o} ", o.title()])
    )


def mostly(valid: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """Valid four times in five, so that examples with every field valid are common too."""
    return st.integers(min_value=0, max_value=4).flatmap(lambda pick: bad if pick == 0 else valid)


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=2),
)
#: Lengths around the 2048-character limit, in several alphabets.
long_text = st.tuples(
    st.integers(min_value=2040, max_value=2056), st.sampled_from(["x", "é", "狐", "🦊", " a"])
).map(lambda pair: (pair[1] * pair[0])[: pair[0]])
texts = st.one_of(st.text(max_size=80), long_text, st.just(""), st.just("   "))
seeds = st.one_of(
    st.sampled_from([params.SEED_MIN, params.SEED_MAX, params.SEED_MIN - 1, params.SEED_MAX + 1]),
    st.integers(min_value=-5, max_value=2**33),
    st.integers().map(str),
)
FIELDS = {
    "aspect_ratio": mostly(spelled(params.ASPECT_RATIOS), junk),
    "resolution": mostly(spelled(params.RESOLUTIONS), junk),
    "duration": mostly(
        st.sampled_from([*params.DURATIONS, *map(str, params.DURATIONS), "5s", 5.0]),
        st.one_of(st.sampled_from([6, 0, -5, "6"]), junk),
    ),
    "style": mostly(spelled((*params.STYLES, "none")), junk),
    "negative_prompt": mostly(texts, junk),
    "seed": mostly(seeds, junk),
    "generate_audio_switch": mostly(st.booleans(), st.one_of(st.sampled_from(["on", 2]), junk)),
    "generate_multi_clip_switch": mostly(st.booleans(), junk),
    "thinking_type": mostly(spelled(params.THINKING_TYPES), junk),
    "model": mostly(st.sampled_from(params.MODEL_IDS), st.one_of(st.just("v5"), junk)),
}
prompts = mostly(st.text(min_size=1, max_size=80), st.one_of(texts, junk))


def assert_sentence(text: str) -> None:
    assert text and text.strip(), "an empty message"
    assert "Traceback" not in text and 'File "' not in text, text


@given(prompt=prompts, options=st.fixed_dictionaries({}, optional=FIELDS))
@settings(max_examples=400, deadline=None, suppress_health_check=FIXTURES_OK)
def test_the_library_validates_into_a_spec_body_or_refuses_before_sending(
    sim, client, ledger, tmp_path, figures, prompt, options
):
    figures["inputs fuzzed"] += 1
    try:
        valid = params.validate(prompt, **options)
    except errors.ValidationError as exc:
        event(f"refused: {exc.field}")
        assert_sentence(exc.user_message)
        posts = sim.stats()["posts"]
        with pytest.raises(errors.ValidationError):
            generate(prompt, client=client, ledger=ledger, download_dir=tmp_path, **options)
        assert sim.stats()["posts"] == posts and ledger.history() == []
        return
    event("valid")
    body = valid.to_body()
    assert check_request(body) == [], body
    assert len(body["prompt"]) <= params.PROMPT_MAX_CHARS
    assert body["duration"] not in params.UNSUPPORTED_DURATIONS.get(body["resolution"], ())


def argv_for(values: dict) -> list[str]:
    argv = ["generate", values.pop("prompt"), "--json"]
    for flag, value in values.items():
        if value is True or value is False:
            argv.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            argv += [f"--{flag}", value]
    return argv


cli_text = st.one_of(st.text(max_size=20), st.just(""), st.just("-x"))
CLI_FLAGS = {
    "aspect-ratio": mostly(spelled(params.ASPECT_RATIOS), cli_text),
    "resolution": mostly(spelled(params.RESOLUTIONS), cli_text),
    "duration": mostly(spelled(params.DURATIONS), st.one_of(st.sampled_from(["6", "0"]), cli_text)),
    "style": mostly(spelled((*params.STYLES, "none")), cli_text),
    "negative-prompt": mostly(texts, cli_text),
    "seed": mostly(seeds.map(str), cli_text),
    "audio": st.booleans(),
    "multi-clip": st.booleans(),
    "thinking": mostly(spelled(params.THINKING_TYPES), cli_text),
    "timeout": mostly(st.just("60"), st.sampled_from(["0", "-1", "nan", "soon"])),
}


#: The simulator checks a body against the spec first (400 if it fails), then answers this fault:
#: a 500 therefore means the body was sent once and the spec accepted it, at the cost of one POST.
ACCEPTED_THEN_500 = "500@post"


def accepted(stats_before: dict, stats_after: dict) -> int:
    """Bodies the simulator found valid between two ``stats()`` (each answered with a 500)."""
    return stats_after["faults"].get("500", 0) - stats_before["faults"].get("500", 0)


@pytest.fixture
def failing_sim(make_sim):
    """Every valid create is answered 500 after the spec check: no job, no poll, no render."""
    return make_sim(faults=ACCEPTED_THEN_500)


@given(
    values=st.fixed_dictionaries(
        {
            "prompt": mostly(st.text(min_size=1, max_size=80), st.one_of(texts, cli_text)).filter(
                lambda p: "\x00" not in p
            )
        },
        optional=CLI_FLAGS,
    )
)
@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURES_OK)
def test_the_cli_exits_2_with_one_line_or_sends_one_valid_request(
    failing_sim, clock, ledger, monkeypatch, capsys, figures, values
):
    from pixverse_ui.client import Client

    monkeypatch.setattr(
        cli, "make_client", lambda: Client(api_key="sk-fuzz", base_url=failing_sim.url, clock=clock)
    )
    monkeypatch.setattr(cli, "make_ledger", lambda: ledger)
    figures["inputs fuzzed"] += 1
    before = failing_sim.stats()
    code = cli.main(argv_for(dict(values)))
    out, err = capsys.readouterr()
    assert_sentence(out + err)
    after = failing_sim.stats()
    sent = after["posts"] - before["posts"]
    event(f"exit {code}")
    if code == 2:  # refused: one line, nothing sent
        assert sent == 0
        assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    else:  # valid: exactly one create, which the spec accepted; the 500 is reported as a failure
        assert code == 1 and sent == 1 and accepted(before, after) == 1, (code, out, err)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """One app for every example, on a simulator that answers every valid create with a 500."""
    import os

    from support import gradio_caller

    from pixverse_ui.simulator import embedded, stop_embedded
    from pixverse_ui.store import Ledger
    from pixverse_ui.ui import build_demo, launch_options

    home = tmp_path_factory.mktemp("fuzz-home")
    names = ("PIXVERSE_UI_HOME", "PIXVERSE_UI_SIM_FAULTS", "GRADIO_TEMP_DIR")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(
        PIXVERSE_UI_HOME=str(home),
        PIXVERSE_UI_SIM_FAULTS=ACCEPTED_THEN_500,
        GRADIO_TEMP_DIR=str(tmp_path_factory.mktemp("fuzz-gradio-cache")),
    )
    stop_embedded()
    ledger = Ledger(home / "ledger.sqlite3")
    demo = build_demo(ledger=ledger, download_dir=home / "videos")
    options = {"prevent_thread_lock": True, "server_name": "127.0.0.1", "quiet": True}
    demo.launch(**launch_options(demo, server_port=free_port(), **options))
    sim = embedded()
    try:
        yield gradio_caller(demo.local_url), sim, ledger
    finally:
        demo.close()
        sim.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@given(
    prompt=mostly(st.text(min_size=1, max_size=80), st.one_of(texts, st.none())),
    aspect=mostly(spelled(params.ASPECT_RATIOS), st.text(max_size=8)),
    resolution=mostly(st.sampled_from(params.RESOLUTIONS), st.text(max_size=8)),
    duration=mostly(
        st.sampled_from(params.DURATIONS), st.one_of(st.integers(-3, 12), st.text(max_size=4))
    ),
    style=mostly(st.sampled_from([*params.STYLES, "none"]), st.text(max_size=8)),
    seed=mostly(st.none(), st.one_of(seeds, st.floats(allow_nan=False, allow_infinity=False))),
)
@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES_OK)
def test_the_app_api_refuses_with_a_sentence_or_sends_one_valid_request(
    fuzz_app, figures, prompt, aspect, resolution, duration, style, seed
):
    client, sim, ledger = fuzz_app
    figures["inputs fuzzed"] += 1
    before, rows = sim.stats(), len(ledger.history(limit=10_000))
    inputs = form(prompt, aspect, resolution, duration, style, visitor="fuzz", seed=seed)
    try:
        client.predict(*inputs, api_name="/generate")
    except Exception as exc:  # the page's gr.Error arrives as gradio_client's AppError
        message = str(exc)
    else:
        raise AssertionError("every valid create is answered 500; the page must say so")
    assert_sentence(message)
    figures["tracebacks shown"] += "Traceback" in message
    after = sim.stats()
    sent = after["posts"] - before["posts"]
    event("valid" if sent else "refused")
    if sent:  # valid: sent once, the spec accepted it, and the 500 was put in a sentence
        assert sent == 1 and accepted(before, after) == 1, message
        assert "HTTP 500" in message and "Client request id" in message, message
    else:  # refused before anything was recorded or sent
        assert sent == 0 and len(ledger.history(limit=10_000)) == rows, message
