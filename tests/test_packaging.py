"""What a newcomer and a Hugging Face Space rely on: the README's front matter and commands, pinned
requirements, CI calling the README's test command, `python app.py` answering on its port, and
installs that match their purpose (`make run` the app's requirements only, one Python floor)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import requests
import yaml
from support import running_app_py, wait_for

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
    # a fresh interpreter, as a Space starts it (the suite's other apps are forked ready-made)
    with running_app_py(tmp_path, fresh=True) as app:
        answer = requests.get(app.url + "/config", timeout=10)
        assert answer.status_code == 200
        assert "Simulator mode" in answer.text
        assert requests.get(app.url + "/", timeout=10).status_code == 200
        # it says where it serves (once launch has returned, which may be after the page answers)
        wait_for(lambda: f"serving at {app.url}" in app.output, timeout=60)
    # and this app's way to a public link, not Gradio's launch() hint
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


# --- installs that match their purpose: `make run` gets the app, `make test` the dev tools too ---

#: Installed only for tests, lint and benchmarks; a run-only venv must not have one of them.
DEV_TOOLS = {"pytest", "playwright", "schemathesis", "hypothesis", "ruff", "deptry", "ipykernel"}
DEV_TOOLS |= {"nbclient", "ipython", "responses", "pytest-timeout", "jupyter-client", "mcp"}


def normalized(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def make_copy(tmp_path: Path) -> Path:
    """The Makefile and what its install rules depend on, in a folder with no .venv."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name in ("Makefile", "pyproject.toml", *(p.name for p in ROOT.glob("requirements*.txt"))):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    return tmp_path


def installs(folder: Path, target: str) -> list[str]:
    """What ``make -n <target>`` (print, do not run) would hand to ``pip install``."""
    dry = subprocess.run(
        ["make", "-n", target], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    return [
        line.split("pip install", 1)[1].replace("--quiet", "").strip()
        for line in dry.stdout.splitlines()
        if "pip install" in line
    ]


def test_make_run_installs_requirements_txt_only_and_make_test_adds_the_dev_tools(tmp_path):
    """``make -n`` prints the very commands a fresh checkout would run, without running them (a
    real install would need the network); what requirements.txt brings is read from the installed
    packages' own metadata, every marker taken as true (so it can only over-count)."""
    from importlib.metadata import PackageNotFoundError, requires

    folder = make_copy(tmp_path)
    assert installs(folder, "run") == ["--upgrade pip", "-r requirements.txt", "--no-deps -e ."]
    assert installs(folder, "test") == [
        "--upgrade pip",
        "-r requirements.txt",
        "--no-deps -e .",
        "-r requirements-dev.txt",
    ]
    for target in ("faults", "bench", "lint"):
        assert "-r requirements-dev.txt" in installs(folder, target), target

    brought, todo = set(), [normalized(name) for name in pins()]
    while todo:
        name = todo.pop()
        if name in brought:
            continue
        brought.add(name)
        try:
            needs = requires(name) or []
        except PackageNotFoundError:
            continue  # only platform-marked requirements are not installed here
        for need in needs:
            if "extra ==" not in need:
                todo.append(normalized(re.split(r"[<>=!~\[ ;(]", need, maxsplit=1)[0]))
    assert "gradio" in brought and "uvicorn" in brought
    assert not brought & DEV_TOOLS, f"make run would install {sorted(brought & DEV_TOOLS)}"


def test_an_old_python_gets_a_sentence_before_a_venv_or_pip(tmp_path):
    folder = make_copy(tmp_path / "checkout")
    old = tmp_path / "python3.10"  # answers as Python 3.10 does to the Makefile's two questions
    old.write_text(
        '#!/bin/sh\ncase "$2" in *python_version*) echo "Python 3.10.12";; *) exit 1;; esac\n'
    )
    old.chmod(0o755)
    run = subprocess.run(
        ["make", "run", f"PYTHON={old}"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0
    assert f"pixverse-ui needs Python 3.11 or newer, and {old} is Python 3.10.12" in run.stdout
    assert "pip" not in run.stdout + run.stderr.replace(".installed-run", "")
    assert not (folder / ".venv").exists()


def test_the_python_floor_is_one_number_everywhere():
    makefile = (ROOT / "Makefile").read_text()
    floor = re.search(r"^PYTHON_FLOOR := (3\.\d+)$", makefile, re.M).group(1)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={floor}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + floor.replace(".", "")
    readme = (ROOT / "README.md").read_text("utf-8")
    assert set(re.findall(r"Python (3\.\d+)\+", readme)) == {floor}
    assert tuple(map(int, str(front_matter()["python_version"]).split("."))) >= (3, 11)
    assert sys.version_info[:2] >= tuple(map(int, floor.split(".")))


def test_every_import_in_tests_and_benchmarks_is_pinned():
    """deptry checks the package against pyproject.toml but leaves tests/ out: here every module
    tests/ and benchmarks/ import (at any depth) must come from a distribution that one of the
    requirements files pins by name, not one that happens to arrive with another."""
    import ast
    from importlib.metadata import packages_distributions

    pinned = {normalized(name) for f in ROOT.glob("requirements*.txt") for name in pins(f.name)}
    ours = {"pixverse_ui", "benchmarks", "tests"}
    ours |= {p.stem for folder in ("tests", "benchmarks") for p in (ROOT / folder).glob("*.py")}
    providers = packages_distributions()
    undeclared = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                modules = [node.module]
            else:
                continue
            for top in {m.split(".")[0] for m in modules} - ours - set(sys.stdlib_module_names):
                names = {normalized(d) for d in providers.get(top, [])}
                if not names & pinned:
                    where = path.relative_to(ROOT)
                    undeclared.append(f"{top} ({', '.join(sorted(names)) or '?'}) in {where}")
    assert not undeclared, "imported but not pinned in requirements*.txt: " + "; ".join(
        sorted(set(undeclared))
    )
