"""Entry point for `python app.py` and for Hugging Face Spaces.

With no AIMLAPI_KEY the app runs on the built-in simulator and says so at the top of the page.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the pixverse-ui app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public link")
    parser.add_argument(
        "--mcp", action="store_true", help="also serve Gradio's MCP endpoint (needs gradio[mcp])"
    )
    args = parser.parse_args(argv)

    from pixverse_ui.ui import launch

    launch(host=args.host, port=args.port, share=args.share, mcp=args.mcp)


if __name__ == "__main__":
    main()
