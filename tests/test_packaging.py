"""What a newcomer and a Hugging Face Space rely on: the README's front matter and commands, pinned
requirements, CI calling the README's test command, and `python app.py` answering on its port."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import requests
import tomllib
import yaml
from support import running_app_py

ROOT = Path(__file__).resolve().parents[1]


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text("utf-8")
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must open with Spaces front matter between --- lines"
    return yaml.safe_load(match.group(1))


def pins(name: str = "requirements.txt") -> dict[str, str]:
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r "):
            package, sep, version = line.partition("==")
            assert sep, f"{name} must pin every package: {line!r}"
            found[package.split("[")[0].lower()] = version
    return found


def test_the_space_front_matter_parses_and_matches_the_gradio_pin():
    meta = front_matter()
    assert meta["sdk"] == "gradio"
    assert str(meta["sdk_version"]) == pins()["gradio"]
    assert (ROOT / meta["app_file"]).is_file() and meta["app_file"] == "app.py"
    assert re.fullmatch(r"3\.\d+", str(meta["python_version"]))
    assert meta["title"] and meta["short_description"] and len(meta["short_description"]) <= 60


def test_requirements_pin_what_the_app_needs_and_the_installed_versions_match():
    from importlib.metadata import version

    required = pins()
    assert {"gradio", "requests", "urllib3", "pillow", "av"} <= set(required)
    optional = pins("requirements-mcp.txt")
    assert optional["gradio"] == required["gradio"] and "mcp" in optional
    for name, pinned in {**required, **optional}.items():
        assert version(name) == pinned, f"{name}: installed {version(name)}, pinned {pinned}"


def test_the_readme_gives_the_two_commands_and_ci_runs_the_same_test_command():
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "make run" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.M)
    assert "apt-get update" in ci and "chromium" in ci
    assert "playwright install" not in ci + (ROOT / "Makefile").read_text()
    assert (ROOT / "docs" / "screenshot.png").is_file() and "docs/screenshot.png" in readme


def test_python_app_py_serves_the_page_on_the_simulator(tmp_path):
    with running_app_py(tmp_path) as app:
        answer = requests.get(app.url + "/config", timeout=10)
        assert answer.status_code == 200
        assert "Simulator mode" in answer.text
        assert requests.get(app.url + "/", timeout=10).status_code == 200
    # it says where it serves, and this app's way to a public link, not Gradio's launch() hint
    assert f"serving at {app.url}" in app.output
    assert "--share" in app.output and "share=True" not in app.output


def test_what_the_code_imports_is_declared_and_pinned():
    """pyproject.toml declares every package the code imports (deptry, in `make lint`, holds
    it so), requirements.txt pins each at the version installed, IPython is the notebook extra."""
    from importlib.metadata import version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements):
        return {re.split(r"[<>=\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}

    declared = names(project["dependencies"])
    assert {"rich", "fastapi", "starlette", "uvicorn"} <= declared
    assert declared <= set(pins()), "requirements.txt pins every run-time dependency"
    assert names(project["optional-dependencies"]["notebook"]) == {"ipython"}
    assert "ipython" not in pins() and "ipython" not in declared  # not on a Space
    dev = pins("requirements-dev.txt")
    for name in ("ipython", "deptry"):
        assert version(name) == dev[name], f"{name}: installed {version(name)}, pinned {dev[name]}"


def test_make_lint_runs_deptry_and_it_passes():
    lint = re.search(r"^lint:.*?(?=^\S)", (ROOT / "Makefile").read_text(), re.S | re.M)
    assert lint and "deptry ." in lint.group(0)
    run = subprocess.run(
        [sys.executable, "-m", "deptry", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No dependency issues found" in run.stdout + run.stderr
