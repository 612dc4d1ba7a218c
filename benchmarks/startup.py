"""Start-up: ``python app.py`` to its first HTTP 200, and ``import pixverse_ui`` on its own.

The app (simulator mode, a fresh ``PIXVERSE_UI_HOME`` each time) is timed from process start to
the first 200 on ``/`` against a bare ``gr.Blocks`` hello world launched the same way; the two
take turns, after one untimed start of each (so both read warm files).

The import is timed inside a fresh interpreter (``perf_counter`` around the import), against
``import requests`` as a reference, and the interpreter checks gradio did not come along. The
whole ``python -c 'import pixverse_ui'`` is also timed against ``python -c pass``.
"""

from __future__ import annotations

import json
import tempfile

from .common import (
    PYTHON,
    ROOT,
    Row,
    bench_env,
    free_port,
    interleaved,
    median,
    ratio,
    run_python,
    say,
    seconds,
    serving,
    timed,
)

NAME = "startup"
TARGET_APP = 1.3
TARGET_IMPORT = 0.150
#: The baseline app: the smallest Blocks, served the way app.py serves (loopback, a port).
HELLO = """
import sys
import gradio as gr

with gr.Blocks() as demo:
    gr.Markdown("hello")
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]))
"""
#: Times one import in a fresh interpreter; says whether gradio was imported with it.
IMPORT_PROBE = """
import json, sys, time
start = time.perf_counter()
__import__(sys.argv[1])
took = time.perf_counter() - start
print(json.dumps({"seconds": took, "gradio": "gradio" in sys.modules}))
"""


def time_to_200(args: list[str]) -> float:
    """Seconds from starting ``args`` (with ``PORT`` replaced) to its first 200 on ``/``."""
    port = free_port()
    argv = [str(port) if a == "PORT" else a for a in args]
    with tempfile.TemporaryDirectory(prefix="pxui-bench-start-") as home:
        env = bench_env(PIXVERSE_UI_HOME=home)
        with serving(argv, f"http://127.0.0.1:{port}/", env) as served:
            return served.ready


def app_rows(repeats: int) -> list[Row]:
    """The app's start-up against the hello world's, taking turns."""
    runs = {
        "app": lambda: time_to_200([PYTHON, str(ROOT / "app.py"), "--port", "PORT"]),
        "hello": lambda: time_to_200([PYTHON, "-c", HELLO, "PORT"]),
        "mcp": lambda: time_to_200([PYTHON, str(ROOT / "app.py"), "--port", "PORT", "--mcp"]),
    }
    samples = interleaved(runs, repeats)
    app, hello, mcp = (median(samples[name]) for name in ("app", "hello", "mcp"))
    for name, values in samples.items():
        say(f"  startup: {name}: " + ", ".join(seconds(v) for v in values))
    return [
        Row(
            NAME,
            f"python app.py to first 200 vs bare gr.Blocks (median of {repeats})",
            seconds(app),
            seconds(hello),
            ratio(app, hello),
            f"<= {TARGET_APP:g}x",
            ratio(app, hello) <= TARGET_APP,
        ),
        Row(
            NAME,
            f"python app.py --mcp to first 200 vs without (median of {repeats})",
            seconds(mcp),
            seconds(app),
            ratio(mcp, app),
            "(cost only)",
            None,
        ),
    ]


def probe(module: str) -> dict[str, float | bool]:
    """Seconds ``import module`` took in a fresh interpreter, and whether gradio came with it."""
    result: dict[str, float | bool] = json.loads(run_python(IMPORT_PROBE, module))
    return result


def interpreter(code: str) -> float:
    """Seconds a fresh interpreter takes to run ``code`` and exit."""
    return timed(lambda: run_python(code))


def import_rows(repeats: int) -> list[Row]:
    """The import against ``import requests``, and the whole interpreter against ``pass``."""
    gradio_seen: list[bool] = []

    def ours() -> float:
        result = probe("pixverse_ui")
        gradio_seen.append(bool(result["gradio"]))
        return float(result["seconds"])

    runs = {
        "pixverse_ui": ours,
        "requests": lambda: float(probe("requests")["seconds"]),
        "python import": lambda: interpreter("import pixverse_ui"),
        "python pass": lambda: interpreter("pass"),
    }
    samples = interleaved(runs, repeats)
    ours_s, requests_s = median(samples["pixverse_ui"]), median(samples["requests"])
    whole, bare = median(samples["python import"]), median(samples["python pass"])
    clean = not any(gradio_seen)
    return [
        Row(
            NAME,
            f"import pixverse_ui vs import requests (median of {repeats})",
            seconds(ours_s) + ("" if clean else ", loads gradio"),
            seconds(requests_s),
            ratio(ours_s, requests_s),
            f"< {TARGET_IMPORT * 1000:.0f} ms, no gradio",
            ours_s < TARGET_IMPORT and clean,
        ),
        Row(
            NAME,
            "python -c 'import pixverse_ui' vs python -c pass",
            seconds(whole),
            seconds(bare),
            ratio(whole, bare),
            "(whole interpreter)",
            None,
        ),
    ]


def run(quick: bool = False) -> list[Row]:
    say("  startup: app.py against a bare gr.Blocks, then the import")
    return app_rows(3 if quick else 5) + import_rows(5 if quick else 15)
