"""Serve the app as ``ui.launch()`` does, but without blocking, for the concurrency run.

``python -m benchmarks.serve_app PORT`` serves until its standard input closes. Simulator mode and
the launch settings (``launch_options``: 512 threads, no concurrency limit) are the app's own; the
benchmark sets the environment (no key, ``PIXVERSE_UI_SIM_SPEED``, ``PIXVERSE_UI_HOME`` in a temp
dir).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    port = int(args[0])
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from pixverse_ui.ui import launch

    demo = launch(host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    print("READY", flush=True)
    try:
        sys.stdin.read()  # the benchmark closes our stdin to stop us
    finally:
        demo.close()


if __name__ == "__main__":
    main()
