"""The notebooks run top to bottom on the simulator, leak no key, and are committed clean.

Each notebook is executed by nbclient in a fresh kernel of *this* Python: a kernelspec is written
into a temp dir (``ipykernel install --prefix``, whose argv is ``sys.executable``) and only that
dir is searched, so a ``python3`` kernelspec elsewhere on the machine cannot pick another Python.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from support import free_port

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
QUICKSTART = ROOT / "notebooks" / "quickstart.ipynb"
CELL_TIMEOUT = 180
#: Recognisable, so any trace of it in an output is found.
FAKE_KEY = "sk-nbleak-FAKEKEY-4f1c9e7a2b6d8035"


@pytest.fixture(scope="module")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A kernelspec named python3 that runs this interpreter, alone in a temp dir."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter-prefix")
    install(prefix=str(prefix), kernel_name="python3", display_name="Python 3 (tests)")
    folder = prefix / "share" / "jupyter" / "kernels"
    spec = json.loads((folder / "python3" / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    return [str(folder)]


def kernel_env(home: Path, **extra: str) -> dict[str, str]:
    """The kernel's environment: a fresh home, a fast simulator, no key unless given, and for the
    app a notebook serves inline, a free port and a Gradio cache of its own beside the home."""
    env = {k: v for k, v in os.environ.items() if k not in {"AIMLAPI_KEY", "AIMLAPI_BASE_URL"}}
    env.pop("PIXVERSE_UI_SIM_FAULTS", None)
    env.update(
        PIXVERSE_UI_HOME=str(home),
        PIXVERSE_UI_SIM_SPEED="100",
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        GRADIO_SERVER_PORT=str(free_port()),
        GRADIO_TEMP_DIR=str(home.parent / f"{home.name}-gradio-cache"),
    )
    env.update(extra)
    return env


def execute(path: Path, kernel_dirs: list[str], env: dict[str, str]) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in its own folder; raises CellExecutionError on any error."""
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(
        kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs)
    )
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT,
        startup_timeout=60,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=env)
    return nb


def notebook_folder(home: Path) -> Path:
    """Where a notebook run with this home is copied to and run from."""
    return home.parent / f"{home.name}-notebook"


@pytest.fixture(scope="module")
def executed(kernel_dirs, tmp_path_factory):
    """Each notebook run once with no key (cached for the checks that read the outputs)."""
    runs: dict[Path, tuple[nbformat.NotebookNode, Path]] = {}

    def run(path: Path) -> tuple[nbformat.NotebookNode, Path]:
        if path not in runs:
            home = tmp_path_factory.mktemp(f"home-{path.stem}")
            copy = notebook_folder(home) / path.name  # run from a copy: what it links lands there
            copy.parent.mkdir()
            copy.write_bytes(path.read_bytes())
            runs[path] = (execute(copy, kernel_dirs, kernel_env(home)), home)
        return runs[path]

    return run


def outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def html_outputs(nb: nbformat.NotebookNode) -> list[str]:
    return [o["data"]["text/html"] for o in outputs(nb) if "text/html" in o.get("data", {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_without_a_key(path, executed):
    nb, home = executed(path)
    assert not [o for o in outputs(nb) if o.output_type == "error"]
    assert (home / "ledger.sqlite3").exists(), "the kernel did not get PIXVERSE_UI_HOME"


def test_quickstart_shows_a_video_and_finished_progress(executed):
    nb, _ = executed(QUICKSTART)
    pages = html_outputs(nb)
    assert any("<video" in page for page in pages), "no playable video in the outputs"
    panels = [page for page in pages if "pixverse-progress" in page]
    assert panels, "no live progress display"
    assert any(">done<" in page and "ready" in page for page in panels), panels[:1]
    tables = [page for page in pages if "pixverse-table" in page]
    assert len(tables) >= 2, "the variations table and the history table"


def referenced_videos(page: str, folder: Path) -> list[Path]:
    """The files a page's players and links point to, resolved as Jupyter's file server does:
    relative to the notebook's folder, never ``file://``, never a data URI, never hidden."""
    refs = re.findall(r"<video[^>]*\ssrc=['\"]([^'\"]+)", page)
    refs += re.findall(r"<a href=['\"]([^'\"]+\.mp4)['\"]", page)
    for ref in refs:
        assert not ref.startswith(("data:", "file:", "/")) and ".." not in ref, ref[:80]
        assert not any(part.startswith(".") for part in ref.split("/")), ref
    return [folder / ref for ref in refs]


def test_quickstart_plays_videos_by_reference_that_resolve(executed):
    nb, home = executed(QUICKSTART)
    folder = notebook_folder(home)
    pages = html_outputs(nb)
    assert not [page for page in pages if "data:video" in page], "a video embedded in the page"
    players = [page for page in pages if "<video" in page]
    links = [page for page in pages if "pixverse-table" in page and ".mp4</a>" in page]
    assert players and links, "no player, or no history linking its videos"
    for page in players + links:
        for video in referenced_videos(page, folder):
            assert video.is_file(), video
            assert (home / "videos" / video.name).read_bytes() == video.read_bytes()
    assert sum(len(page) for page in pages) < 200_000, "the outputs hold more than references"


def test_quickstart_keeps_compares_and_exports(executed):
    nb, home = executed(QUICKSTART)
    pages = html_outputs(nb)
    histories = [
        page
        for page in pages
        if "pixverse-table" in page and "<img src='data:image/jpeg;base64," in page
    ]
    assert histories, "no history with posters"
    starred = [page for page in histories if "★" in page and "the best light of the three" in page]
    assert starred, "the starred item and its note are not in a history"
    [compared] = [page for page in pages if "pixverse-compare" in page]
    assert compared.count("<video") == 2
    # the two variations differ by their seed only: that row, and only it, is highlighted
    assert compared.count("class='differs'") == 1 and "seed ≠" in compared
    [zip_line] = [
        "".join(o.get("text", "")) for o in outputs(nb) if ".zip" in "".join(o.get("text", ""))
    ]
    zip_path = home / "exports" / zip_line.strip()
    assert zip_path.is_file()
    import zipfile

    with zipfile.ZipFile(zip_path) as archive:
        assert {"request.json", "reproduce.py", "reproduce.sh"} < set(archive.namelist())


def test_quickstart_never_shows_the_key(kernel_dirs, tmp_path):
    from pixverse_ui.simulator import SimConfig, Simulator

    sim = Simulator(SimConfig(speed=100, api_keys=frozenset({FAKE_KEY}))).start()
    try:
        env = kernel_env(tmp_path / "home", AIMLAPI_KEY=FAKE_KEY, AIMLAPI_BASE_URL=sim.url)
        nb = execute(QUICKSTART, kernel_dirs, env)
    finally:
        sim.stop()
    text = nbformat.writes(nb)
    assert "<video" in text, "the run with a key made no video"
    for needle in (FAKE_KEY, FAKE_KEY[10:26], FAKE_KEY[-12:]):
        assert needle not in text, f"the key leaked into the outputs ({needle!r})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_are_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"outputs committed in {path.name}"
            assert cell.execution_count is None, f"execution count committed in {path.name}"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.search(r"\bsk-[A-Za-z0-9_-]{6,}", code), f"a key-like string in {path.name}"
    assert not re.search(r"environ\[[\"']AIMLAPI_KEY[\"']\]\s*=", code), "a key set in code"


def test_the_inline_app_follows_the_apps_launch_rules(_isolated_home, monkeypatch):
    """``notebook.launch_inline`` serves the page as ``app.py`` does: the ledger's home is never
    served, Gradio's run history is off."""
    import requests

    from pixverse_ui import notebook
    from pixverse_ui.store import Ledger

    monkeypatch.setattr("sys.stdout", sys.stdout)  # installing output redaction wraps these
    monkeypatch.setattr("sys.stderr", sys.stderr)
    Ledger(_isolated_home / "ledger.sqlite3")  # what the page would write first
    demo = notebook.launch_inline(inline=False, server_port=free_port())
    try:
        base = demo.local_url.rstrip("/")
        ledger_file = _isolated_home / "ledger.sqlite3"
        answer = requests.get(f"{base}/gradio_api/file={ledger_file}", timeout=10)
        assert (answer.status_code, answer.json()) == (
            403,
            {"detail": f"File not allowed: {ledger_file}."},
        )
        assert requests.get(f"{base}/gradio_api/runs", timeout=10).status_code == 404
        assert requests.get(f"{base}/config", timeout=10).json()["run_history"] is False
    finally:
        demo.close()


def readme_notebook_snippet() -> str:
    """The Python block of the README's "Notebooks" section, as written there."""
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("\n## Notebooks\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```python\n(.*?)```", section, re.S)
    return block


def test_the_readmes_notebook_snippet_runs_as_written(kernel_dirs, tmp_path):
    snippet = readme_notebook_snippet()
    assert "notebook.compare(a.id, b.id)" in snippet and "launch_inline()" in snippet
    folder = tmp_path / "mine"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(snippet)])
    nbformat.write(nb, folder / "mine.ipynb")
    ran = execute(folder / "mine.ipynb", kernel_dirs, kernel_env(tmp_path / "home"))
    assert not [o for o in outputs(ran) if o.output_type == "error"]
    pages = html_outputs(ran)
    [compared] = [page for page in pages if "pixverse-compare" in page]
    assert compared.count("<video") == 2 and "seed ≠" in compared
    for video in referenced_videos(compared, folder):
        assert video.is_file(), video
