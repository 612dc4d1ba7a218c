"""The suite's fork server (``tests/forkserver.py``): a forked child is the process a fresh
``python`` would be, or it is refused and a plain process runs instead."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from forkserver import IMPORT_TIME, Forked
from support import ROOT, child_env, forks, python_process, wait_for

_REPORT = """
import json, os, sys, time
import gradio.oauth, gradio.route_utils
print(json.dumps({
    "pid": os.getpid(), "cwd": os.getcwd(), "argv": sys.argv, "path0": sys.path[0],
    "marker": os.environ.get("PXUI_MARKER"), "home": os.environ.get("PIXVERSE_UI_HOME"),
    "temp": gradio.route_utils.DEFAULT_TEMP_DIR, "oauth": gradio.oauth.OAUTH_CLIENT_ID,
}), flush=True)
print("to stderr", file=sys.stderr, flush=True)
if sys.argv[1] == "wait":
    time.sleep(300)
sys.exit(int(sys.argv[1]))
"""


def _report(path) -> dict:
    lines = path.read_text().splitlines()
    return json.loads(next(line for line in lines if line.startswith("{")))


def test_a_child_is_a_process_of_its_own_with_the_tests_environment_and_ends_by_sigkill(tmp_path):
    home, output = tmp_path / "home", tmp_path / "out.log"
    env = child_env(home, PXUI_MARKER="mine", OAUTH_CLIENT_ID="client-7")
    child = python_process(
        [sys.executable, "-c", _REPORT, "wait"], cwd=tmp_path, env=env, output=output
    )
    assert isinstance(child, Forked), forks().refusals
    report = wait_for(lambda: output.exists() and "{" in output.read_text() and _report(output))
    assert report["pid"] == child.pid != os.getpid()
    assert report["cwd"] == str(tmp_path) and report["argv"] == ["-c", "wait"]
    assert (report["marker"], report["home"]) == ("mine", str(home))
    # what Gradio read at import is read again from the child's own environment
    assert report["temp"] == env["GRADIO_TEMP_DIR"] and report["oauth"] == "client-7"
    assert "to stderr" in output.read_text()
    assert child.poll() is None
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert not os.path.exists(f"/proc/{report['pid']}/cmdline"), "the child is gone, reaped"


def test_a_child_exits_with_its_scripts_status_and_runs_a_script_as_its_main(tmp_path):
    script = tmp_path / "exits.py"
    script.write_text(_REPORT)
    output = tmp_path / "out.log"
    child = python_process(
        [sys.executable, str(script), "3"], cwd=ROOT, env=child_env(tmp_path / "h"), output=output
    )
    assert isinstance(child, Forked), forks().refusals
    assert child.wait(timeout=60) == 3
    report = _report(output)
    assert report["argv"] == [str(script), "3"] and report["path0"] == str(tmp_path)


def test_what_a_fork_cannot_honour_runs_as_a_plain_process(tmp_path):
    """A ``PYTHON*`` setting is read when the interpreter starts, long before any fork."""
    env = child_env(tmp_path / "home", PYTHONPATH=f"{tmp_path}:{ROOT}")
    assert (
        forks().popen([sys.executable, "-c", "pass"], cwd=tmp_path, env=env, output=os.devnull)
        is None
    )
    assert "PYTHONPATH" in forks().refusals[-1]
    plain = python_process([sys.executable, "-c", "import sys; sys.exit(4)"], cwd=tmp_path, env=env)
    assert isinstance(plain, subprocess.Popen) and plain.wait(timeout=60) == 4


def test_the_settings_gradio_reads_at_import_are_the_ones_the_server_sets_again(tmp_path):
    """The server checks ``IMPORT_TIME`` against what its own import computed, and refuses every
    fork when an upgrade renamed or recomputed one of them: then this says which."""
    child = python_process(
        [sys.executable, "-c", "pass"], cwd=tmp_path, env=child_env(tmp_path / "h")
    )
    assert isinstance(child, Forked), f"the fork server refused: {forks().refusals[-1:]}"
    assert child.wait(timeout=60) == 0
    assert {"GRADIO_TEMP_DIR", "OPENID_PROVIDER_URL"} <= set(IMPORT_TIME)
