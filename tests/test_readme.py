"""The README's Python blocks run as printed, in order, on a fresh machine.

Every ```python block of README.md is run in one namespace, top to bottom, as a reader would paste
them into one session: in a child process with its own ``PIXVERSE_UI_HOME`` and Gradio cache, no
``AIMLAPI_KEY`` (so on the built-in simulator), a fast simulator, and a folder of its own to write
into, holding the one file of the reader's own the README names (``fox.png``, a picture). A block
that cannot run here says so on its first line (``# not run: <why>``); there are few.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from PIL import Image
from support import child_env, free_port

ROOT = Path(__file__).resolve().parent.parent
#: The first line of a block the test leaves alone, and why (a real key, say).
NOT_RUN = "# not run:"
#: The most blocks that may be left out: the README's code is meant to be run.
MOST_NOT_RUN = 2
#: Generous: a dozen simulated videos at high speed, and the app started inline once.
TIMEOUT = 480

RUNNER = """
import sys, traceback

blocks = {blocks!r}
namespace = {{"__name__": "__main__"}}
for line, source in blocks:
    print(f"--- README.md block at line {{line}}", flush=True)
    try:
        exec(compile(source, f"README.md:{{line}}", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"--- README.md block at line {{line}} failed", flush=True)
        sys.exit(1)
print("--- every block ran", flush=True)
"""


def python_blocks(text: str) -> list[tuple[int, str]]:
    """Each ```python block of ``text``, in order, with the line its code starts on."""
    found = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        found.append((text.count("\n", 0, match.start(1)) + 1, match.group(1)))
    return found


def readme_blocks() -> list[tuple[int, str]]:
    return python_blocks((ROOT / "README.md").read_text("utf-8"))


def test_the_readme_has_python_blocks_and_few_are_left_out():
    blocks = readme_blocks()
    assert len(blocks) >= 4, "the README's Python blocks were not found"
    left_out = [(line, code) for line, code in blocks if code.startswith(NOT_RUN)]
    assert len(left_out) <= MOST_NOT_RUN, f"too many README blocks not run: {left_out}"
    for line, code in left_out:
        why = code.splitlines()[0].removeprefix(NOT_RUN).strip()
        assert why, f"README.md:{line}: a block not run must say why"


def test_the_readmes_python_blocks_run_as_printed_in_order(tmp_path):
    blocks = [(line, code) for line, code in readme_blocks() if not code.startswith(NOT_RUN)]
    work = tmp_path / "reader"
    work.mkdir()
    Image.new("RGB", (640, 360), (200, 90, 30)).save(work / "fox.png")  # the reader's picture
    env = child_env(
        tmp_path / "home", PIXVERSE_UI_SIM_SPEED="400", GRADIO_SERVER_PORT=str(free_port())
    )
    done = subprocess.run(
        [sys.executable, "-c", RUNNER.format(blocks=blocks)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, said[-6000:]
    assert said.count("--- README.md block at line") == len(blocks)
    assert "--- every block ran" in done.stdout
    assert "Traceback" not in said, said[-6000:]
