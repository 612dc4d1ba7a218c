"""The floors for the concurrency run: a bare Gradio app doing what ours does per generation.

``python -m benchmarks.serve_bare PORT UPDATES SECONDS VIDEO`` serves, until its standard input
closes, one generator endpoint ``/generate`` with the same inputs and outputs as the app's (twelve
text inputs; an HTML panel, a video, a code box) that yields ``UPDATES`` times over ``SECONDS``
and ends with the MP4 ``VIDEO``, launched with the app's own settings (queue without a
concurrency limit, the same thread count). Whatever CPU this costs per generation is Gradio's,
not ours: the concurrency benchmark reports ours as a ratio to it.

With ``API_URL KEY GETS`` after those, each generation also makes the exchanges ours makes with
the API, as a bare app would write them: a generator Gradio runs in a thread, one
``requests.Session``, a POST, ``GETS`` GETs spread over the job, and the video downloaded from
the link the API gives (to a temp file), which is what it then shows. The difference between
ours and this floor is what is ours beyond the exchanges themselves: the ledger, the schedule,
the watchers, the published copy.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Iterator


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    port, updates, seconds, video = args[:4]
    count, length = int(updates), float(seconds)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from pixverse_ui.ui.page import MAX_EVENTS

    async def generate(*_inputs: str):  # noqa: ANN202 - a benchmark's stand-in
        for i in range(count - 1):
            yield f"<p><b>generating</b> — update {i}</p>", gr.skip(), gr.skip()
            await asyncio.sleep(length / count)
        yield "<p><b>completed</b> — ready</p>", video, "{}"

    handler = generate
    if len(args) > 4:
        handler = _with_exchanges(args[4], args[5], int(args[6]), count, length)

    with gr.Blocks() as demo:
        fields = [gr.Textbox() for _ in range(12)]
        panel, player, body = gr.HTML(), gr.Video(), gr.Code()
        gr.Button().click(
            handler,
            inputs=fields,
            outputs=[panel, player, body],
            api_name="generate",
            concurrency_limit=None,
        )
    demo.queue(default_concurrency_limit=None)
    demo.launch(
        server_name="127.0.0.1",
        server_port=int(port),
        prevent_thread_lock=True,
        quiet=True,
        max_threads=MAX_EVENTS,
        show_error=False,
        allowed_paths=[os.path.dirname(video), tempfile.gettempdir()],
    )
    print("READY", flush=True)
    try:
        sys.stdin.read()  # the benchmark closes our stdin to stop us
    finally:
        demo.close()


def _with_exchanges(api: str, key: str, gets: int, count: int, length: float):  # noqa: ANN202
    """The generator of a bare app that talks to the API itself (see the module docstring)."""
    import gradio as gr
    import requests

    from pixverse_ui.client import ENDPOINT
    from pixverse_ui.params import validate

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    endpoint = api.rstrip("/") + ENDPOINT
    # the body the app sends for the benchmark's form (its model id, its defaults)
    body = validate("a red fox in the snow", resolution="360p").to_body()

    def generate(*_inputs: str) -> Iterator[tuple[object, object, object]]:
        job = session.post(endpoint, json=body, timeout=30).json()
        state: dict = {}
        url = None
        every = max(1, gets // max(1, count - 1))
        for n in range(11 * gets):  # as many GETs as ours made; more only while not done
            if n >= gets and url:
                break
            time.sleep(length / gets)
            state = session.get(endpoint, params={"generation_id": job["id"]}, timeout=30).json()
            url = (state.get("video") or {}).get("url")
            if n < gets and n % every == 0:
                yield f"<p><b>{state.get('status')}</b> — poll {n}</p>", gr.skip(), gr.skip()
        if not url:
            raise RuntimeError(f"the job never finished: {state}")
        with (
            session.get(url, stream=True, timeout=30) as response,
            tempfile.NamedTemporaryFile(suffix=".mp4", delete=False) as out,
        ):
            for chunk in response.iter_content(1 << 20):
                out.write(chunk)
        yield "<p><b>completed</b> — ready</p>", out.name, "{}"

    return generate


if __name__ == "__main__":
    main()
