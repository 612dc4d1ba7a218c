"""The floor for the concurrency run: a bare Gradio app doing what ours does per generation.

``python -m benchmarks.serve_bare PORT UPDATES SECONDS VIDEO`` serves, until its standard input
closes, one generator endpoint ``/generate`` with the same inputs and outputs as the app's (twelve
text inputs; an HTML panel, a video, a code box) that yields ``UPDATES`` times over ``SECONDS``
and ends with the MP4 ``VIDEO``, launched with the app's own settings (queue without a
concurrency limit, the same thread count). Whatever CPU this costs per generation is Gradio's,
not ours: the concurrency benchmark reports ours as a ratio to it.
"""

from __future__ import annotations

import asyncio
import os
import sys


def main(argv: list[str] | None = None) -> None:
    port, updates, seconds, video = (sys.argv[1:] if argv is None else argv)[:4]
    count, length = int(updates), float(seconds)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from pixverse_ui.ui.page import MAX_EVENTS

    async def generate(*_inputs: str):  # noqa: ANN202 - a benchmark's stand-in
        for i in range(count - 1):
            yield f"<p><b>generating</b> — update {i}</p>", gr.skip(), gr.skip()
            await asyncio.sleep(length / count)
        yield "<p><b>completed</b> — ready</p>", video, "{}"

    with gr.Blocks() as demo:
        fields = [gr.Textbox() for _ in range(12)]
        panel, player, body = gr.HTML(), gr.Video(), gr.Code()
        gr.Button().click(
            generate,
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
        allowed_paths=[os.path.dirname(video)],
    )
    print("READY", flush=True)
    try:
        sys.stdin.read()  # the benchmark closes our stdin to stop us
    finally:
        demo.close()


if __name__ == "__main__":
    main()
