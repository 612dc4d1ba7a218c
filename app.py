"""Entry point for `python app.py` and for Hugging Face Spaces: `pixverse-ui serve`.

With no AIMLAPI_KEY the app runs on the built-in simulator and says so at the top of the page.
Options: --host, --port, --share, --mcp (see `python app.py --help`).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main(argv: list[str] | None = None) -> int:
    from pixverse_ui.cli import main as cli_main

    return cli_main(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
