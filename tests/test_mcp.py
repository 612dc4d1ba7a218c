"""The app's tools over MCP (`--mcp`), driven by the official MCP client as an agent would, and
`python app.py --mcp` with and without Gradio's MCP extra installed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import av
import jsonschema
import pytest
import requests
from boards import TWO_SHOTS
from mcp import ClientSession
from support import KEY_HEADER, ROOT, form, running_app_py, sim_posts, with_mcp

from pixverse_ui.lifecycle import Status
from pixverse_ui.params import frame_size
from pixverse_ui.ui import MCP_MISSING

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

URL = re.compile(r"https?://\S+?\.mp4")


def text_of(result: Any) -> str:
    return "\n".join(getattr(part, "text", "") for part in result.content)


def assert_playable(url: str, aspect: str, resolution: str, tmp_path: Path) -> None:
    path = tmp_path / "from-mcp.mp4"
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200
    path.write_bytes(answer.content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        assert size == frame_size(aspect, resolution)
        assert float(container.duration) / av.time_base == pytest.approx(5, abs=0.3)


def test_the_tools_are_listed_with_described_optional_parameters(launch_app):
    demo, _, _ = launch_app(mcp=True)

    async def work(mcp: ClientSession) -> dict:
        return {tool.name: tool for tool in (await mcp.list_tools()).tools}

    tools = with_mcp(demo, work)
    assert set(tools) == {"generate", "list_history", "storyboard", "variations", "visitor_token"}
    generate = tools["generate"]
    schema = generate.inputSchema
    assert "PixVerse" in generate.description
    # an agent without a key learns where its identity comes from, and that a name is none
    assert "visitor_token" in schema["properties"]["visitor"]["description"]
    assert "Send it as `visitor`" in tools["visitor_token"].description
    assert schema["required"] == ["prompt"]  # everything else has a default; the key above all
    assert "X-AIMLAPI-Key" in schema["properties"]["api_key"]["description"]
    assert schema["properties"]["prompt"]["description"]
    # what an agent sends must pass the schema its client checks it against
    jsonschema.validate(
        {"prompt": "a fox", "duration": 8, "seed": 7, "aspect_ratio": "9:16", "audio": True},
        schema,
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"prompt": "a fox", "resolution": "4k"}, schema)


def test_an_agent_generates_a_playable_video_with_progress_then_finds_it_in_history(
    launch_app, tmp_path
):
    demo, _, ledger = launch_app(mcp=True)
    progress: list[str] = []

    async def on_progress(step: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async def work(mcp: ClientSession) -> tuple[Any, Any, Any]:
        arguments = {"prompt": "a fox on a frozen lake", "aspect_ratio": "9:16", "duration": 5}
        streamed = await mcp.call_tool(
            "generate", {**arguments, "resolution": "360p"}, progress_callback=on_progress
        )
        # a client that asks for no progress gets the same result in one piece
        plain = await mcp.call_tool("generate", {**arguments, "resolution": "540p"})
        history = await mcp.call_tool("list_history", {})
        return streamed, plain, history

    streamed, plain, history = with_mcp(demo, work, headers={KEY_HEADER: "sk-sim-agent-01"})
    assert not streamed.isError and not plain.isError, (text_of(streamed), text_of(plain))
    assert len(progress) >= 3  # queued, then the stream of updates
    for result, resolution in ((streamed, "360p"), (plain, "540p")):
        text = text_of(result)
        assert "Your video is ready" in text and "credits used" in text
        [url] = set(URL.findall(text))
        assert_playable(url, "9:16", resolution, tmp_path)
    records = ledger.history()
    assert [r.state for r in records] == [Status.DONE, Status.DONE]
    # the key in the header owns the history: the agent finds both of its videos, by the ids
    # the tools take and with their settings (not by the provider's id: a still is named by
    # names.safe_name of it, which drops a leading "-", as 1 id in 64 from the simulator has)
    listed = text_of(history)
    assert all(r.client_request_id in listed for r in records)
    assert "· 360p ·" in listed and "· 540p ·" in listed


def test_bad_input_over_mcp_gets_the_sentence_and_sends_nothing(launch_app):
    demo, _, ledger = launch_app(mcp=True)
    before = sim_posts()

    async def work(mcp: ClientSession) -> list[Any]:
        return [
            await mcp.call_tool("generate", {"prompt": ""}),
            await mcp.call_tool(
                "generate", {"prompt": "a fox", "resolution": "1080p", "duration": 8}
            ),
            await mcp.call_tool("variations", {"prompt": "a fox", "count": 6}),
        ]

    empty, unsupported, unconfirmed = with_mcp(demo, work)
    assert all(result.isError for result in (empty, unsupported, unconfirmed))
    assert "The prompt is empty" in text_of(empty)
    assert "1080p does not support 8-second videos" in text_of(unsupported)
    assert "more than 4" in text_of(unconfirmed)
    for result in (empty, unsupported, unconfirmed):
        assert "Traceback" not in text_of(result)
    assert sim_posts() == before and ledger.history() == []


def test_on_a_space_an_agent_brings_its_key_in_a_header_and_never_borrows_anothers(
    launch_app, make_live_sim
):
    agent_key, host_key = "sk-agent-0123456789abcdef", "sk-host-key-000111222333"
    local = make_live_sim(api_keys=frozenset({agent_key}))  # never the real API
    demo, _, ledger = launch_app(
        mcp=True, SPACE_ID="someone/pixverse-ui", AIMLAPI_KEY=host_key, AIMLAPI_BASE_URL=local.url
    )

    async def generate(mcp: ClientSession) -> Any:
        return await mcp.call_tool("generate", {"prompt": "a heron", "resolution": "360p"})

    with_key = with_mcp(demo, generate, headers={KEY_HEADER: agent_key})
    # a second agent, after the first: Gradio's MCP bridge keeps one client for all callers
    without = with_mcp(demo, generate)
    assert not with_key.isError, text_of(with_key)
    assert without.isError and "needs your own AI/ML API key" in text_of(without)
    assert local.stats()["posts"] == 1
    [record] = ledger.history()
    assert record.owner == ledger.owner_of(agent_key) != ledger.owner_of(host_key)


def test_behind_a_login_an_agent_without_it_cannot_spend_the_hosts_credits(
    launch_app, make_live_sim
):
    host_key = "sk-host-key-000111222333"
    local = make_live_sim(api_keys=frozenset({host_key}))  # never the real API
    demo, signed_in, ledger = launch_app(
        mcp=True,
        auth=[("host", "a-long-password")],  # the login is what lets visitors use the host's key
        SPACE_ID="someone/pixverse-ui",
        AIMLAPI_KEY=host_key,
        AIMLAPI_BASE_URL=local.url,
    )

    async def generate(mcp: ClientSession) -> Any:
        return await mcp.call_tool("generate", {"prompt": "a heron", "resolution": "360p"})

    anonymous = with_mcp(demo, generate)
    assert anonymous.isError and "login" in text_of(anonymous).lower()
    assert local.stats()["posts"] == 0 and ledger.history() == []
    # the same call from someone signed in does use the host's key
    signed_in.predict(*form(prompt="a heron", visitor="host"), api_name="/generate")
    assert local.stats()["posts"] == 1 and [r.state for r in ledger.history()] == [Status.DONE]


def serve(tmp_path: Path, *args: str, hide_mcp: bool = False, **env: str) -> tuple[str, str]:
    """Run app.py until it answers, then stop it; its /gradio_api/mcp/schema text and its output."""
    if hide_mcp:  # as on a machine without the extra: `import mcp` fails
        shim = tmp_path / "no-mcp"
        shim.mkdir()
        (shim / "sitecustomize.py").write_text("import sys\nsys.modules['mcp'] = None\n")
        env["PYTHONPATH"] = f"{shim}:{ROOT}"
    with running_app_py(tmp_path / "home", *args, **env) as app:
        answer = requests.get(app.url + "/gradio_api/mcp/schema", timeout=10)
    return (answer.text if answer.status_code == 200 else ""), app.output


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--mcp",), {}), ((), {"GRADIO_MCP_SERVER": "true"})],
    ids=["flag", "space-variable"],
)
def test_app_py_serves_the_tools_when_asked(tmp_path, args, env):
    schema, _ = serve(tmp_path, *args, **env)
    tools = {tool["name"] for tool in json.loads(schema)}
    assert tools == {"generate", "list_history", "variations", "visitor_token", "storyboard"}


def test_app_py_without_the_extra_says_how_to_get_it_and_serves_the_page(tmp_path):
    schema, output = serve(tmp_path, "--mcp", hide_mcp=True)
    assert schema == ""
    assert MCP_MISSING in output and "Traceback" not in output


def test_without_the_flag_there_is_no_mcp_endpoint(tmp_path):
    schema, _ = serve(tmp_path)
    assert schema == ""


def stitched_seconds(url: str, tmp_path: Path) -> float:
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200
    path = tmp_path / "stitched.mp4"
    path.write_bytes(answer.content)
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))  # every frame decodes
        assert frames > 0
        return float(container.duration) / av.time_base


def test_an_agent_runs_a_chained_storyboard_and_gets_one_video_of_both_shots(launch_app, tmp_path):
    demo, _, ledger = launch_app(mcp=True)
    progress: list[str] = []

    async def on_progress(step: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async def work(mcp: ClientSession) -> Any:
        return await mcp.call_tool(
            "storyboard", {"board": json.dumps(TWO_SHOTS)}, progress_callback=on_progress
        )

    result = with_mcp(demo, work, headers={KEY_HEADER: "sk-sim-agent-01"})
    text = text_of(result)
    assert not result.isError, text
    [url] = set(URL.findall(text))
    assert stitched_seconds(url, tmp_path) == pytest.approx(13, abs=0.3)
    assert "Shot 2, take 1: started from shot 1's last frame" in text
    assert "Stitched into one video." in text and "/videos/" not in text  # no server path
    assert text.count("'state': 'done'") == 2
    assert [r.state for r in ledger.history()] == [Status.DONE, Status.DONE]
    assert progress  # the agent heard how it went


def test_a_storyboard_with_a_mistake_or_a_local_image_is_refused_before_anything_is_sent(
    launch_app,
):
    demo, _, ledger = launch_app(mcp=True)
    before = sim_posts()
    chained_first = {**TWO_SHOTS, "shots": [{"prompt": "a fox", "from_previous": True}]}
    local = {**TWO_SHOTS, "shots": [{"prompt": "a fox", "image": "/etc/passwd"}]}

    async def work(mcp: ClientSession) -> list[Any]:
        return [
            await mcp.call_tool("storyboard", {"board": json.dumps(chained_first)}),
            await mcp.call_tool("storyboard", {"board": json.dumps(local)}),
            await mcp.call_tool("storyboard", {"board": "film.json"}),
        ]

    chained, path, named = with_mcp(demo, work)
    assert all(result.isError for result in (chained, path, named))
    assert "Shot 1 starts from the previous shot's last frame" in text_of(chained)
    assert "Shot 1, image: give an http(s) URL" in text_of(path)
    assert "The storyboard is not JSON" in text_of(named)  # a text is never read as a path
    assert sim_posts() == before and ledger.history() == []


def test_an_agent_starts_from_an_image_by_data_uri_or_url_and_varies_it(launch_app, tmp_path):
    """The generate tool's ``image``: a data: URI is sent as its own bytes (the video's first
    frame is the picture), a URL as given, neither with an aspect ratio; variations take it too,
    every variant with the same image."""
    import base64
    import io

    from PIL import Image
    from support import difference, picture, video_frames

    from pixverse_ui.params import IMAGE_MODEL_ID
    from pixverse_ui.simulator import embedded

    demo, _, _ = launch_app(mcp=True)
    out = io.BytesIO()
    picture(640, 360, seed=4).save(out, format="PNG")
    data = out.getvalue()
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    url = "https://example.com/fox.png?size=large"
    before = sim_posts()

    async def work(mcp: ClientSession) -> tuple[Any, ...]:
        tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        common = {"prompt": "the fox looks up", "resolution": "360p"}
        from_uri = await mcp.call_tool("generate", {**common, "image": uri})
        from_url = await mcp.call_tool("generate", {**common, "image": url})
        varied = await mcp.call_tool(
            "variations",
            {**common, "image": uri, "axis": "styles", "styles": ["anime", "clay"]},
        )
        return tools, from_uri, from_url, varied

    tools, from_uri, from_url, varied = with_mcp(
        demo, work, headers={KEY_HEADER: "sk-sim-agent-02"}
    )
    assert "image" in tools["generate"].inputSchema["properties"]
    assert "image" in tools["variations"].inputSchema["properties"]
    for result in (from_uri, from_url, varied):
        assert not result.isError, text_of(result)
    assert sim_posts() == before + 4
    bodies = [job["body"] for job in embedded().stats()["jobs"][-4:]]
    for body in bodies:
        assert body["model"] == IMAGE_MODEL_ID and "aspect_ratio" not in body
    sent = [body["image_url"] for body in bodies]
    assert sent[1] == url
    for image_url in (sent[0], *sent[2:]):
        prefix, payload = image_url.split(",", 1)
        assert prefix == "data:image/png;base64" and base64.b64decode(payload) == data
    assert sorted(body.get("style") for body in bodies[2:]) == ["anime", "clay"]
    [video_url] = set(URL.findall(text_of(from_uri)))
    path = tmp_path / "from-image.mp4"
    path.write_bytes(requests.get(video_url, timeout=30).content)
    first = video_frames(path, 1)[0]
    assert first.size == (640, 360)
    assert difference(first, Image.open(io.BytesIO(data))) < 6
