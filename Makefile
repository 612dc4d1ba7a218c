# `make run` and `make test` are the whole set-up: each makes .venv and installs what it needs.
# `make run` installs what the app needs (requirements.txt); the test, lint and benchmark targets
# add the dev tools (requirements-dev.txt). Each half has its own stamp in .venv.
PYTHON ?= python3
#: The oldest Python pixverse-ui runs on: pyproject.toml, ruff and the README say the same (a test checks).
PYTHON_FLOOR := 3.11
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
NOTEBOOK_STAMP := $(VENV)/.installed-notebook
export GRADIO_ANALYTICS_ENABLED := False
# Compiled modules (and pytest's rewritten test modules) are kept in the venv, not beside the
# sources: each of the suite's processes (four workers, every app.py and CLI it starts) would
# otherwise compile them again, about 1.4 s a process. Empty, PYTHONDONTWRITEBYTECODE is off.
export PYTHONDONTWRITEBYTECODE :=
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache

.PHONY: run notebook test bench faults screenshot lint format clean

# The interpreter is checked before a venv or pip sees it: a sentence, not a resolver error.
$(RUN_STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info[:2] < tuple(map(int, '$(PYTHON_FLOOR)'.split('.'))))" 2>/dev/null || { \
	  found=$$($(PYTHON) -c "import platform; print('Python ' + platform.python_version())" 2>/dev/null); \
	  echo "pixverse-ui needs Python $(PYTHON_FLOOR) or newer, and $(PYTHON) is $${found:-not a Python that runs}: run make with PYTHON=python$(PYTHON_FLOOR) (or newer)."; \
	  exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt requirements-mcp.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

run: $(RUN_STAMP)  ## serve the app (on the built-in simulator when AIMLAPI_KEY is unset)
	$(PY) app.py $(ARGS)

$(NOTEBOOK_STAMP): $(RUN_STAMP) requirements-notebook.txt
	$(PY) -m pip install --quiet -r requirements-notebook.txt
	touch $(NOTEBOOK_STAMP)

notebook: $(NOTEBOOK_STAMP)  ## open notebooks/quickstart.ipynb in JupyterLab (on the simulator when AIMLAPI_KEY is unset)
	$(VENV)/bin/jupyter lab notebooks/quickstart.ipynb $(ARGS)

# The suite in four processes, each test file in one: most of a test's time is spent waiting on
# the apps, simulators and browsers it starts, so four processes keep two cores busy. xdist would
# start the files with the most tests first, which put the browser files last; tests/conftest.py
# puts the heaviest first, and --no-loadscope-reorder keeps its order (4:27 idle before, 4:02 after).
TEST_PROCESSES ?= 4 --dist loadfile --no-loadscope-reorder
test: $(DEV_STAMP)  ## unit, simulator end-to-end, notebooks, browser (not the slow runs: make faults)
	$(PY) -m pytest -n $(TEST_PROCESSES) $(ARGS)

bench: $(DEV_STAMP)  ## benchmarks as ratios against baselines measured in the same run
	$(PY) -m benchmarks $(ARGS)

faults: $(DEV_STAMP)  ## the fault, kill-and-resume, load, race, fuzz, key, integrity, hostile-visitor, shared-key, disk, masking, session and contract suite, long runs included, with its figures
	$(PY) -m pytest -m "" -p no:cacheprovider tests/test_faults.py tests/test_load.py tests/test_resilience.py tests/test_fuzz.py tests/test_security.py tests/test_integrity.py tests/test_hostile.py tests/test_hostile_shared.py tests/test_behind_a_proxy.py tests/test_ceiling.py tests/test_disk_bounds.py tests/test_masking.py tests/test_sessions.py tests/test_contract_long.py $(ARGS)

screenshot: $(DEV_STAMP)  ## retake docs/screenshot.png and docs/screenshot-phone.png (the README's pictures) in the browser suite
	UPDATE_SCREENSHOT=1 $(PY) -m pytest tests/test_browser.py tests/test_browser_workspace.py -k "(plays and landscape) or on_a_phone_the_prompt" $(ARGS)

lint: $(DEV_STAMP)  ## ruff, and deptry: what the code imports is what pyproject.toml declares
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/deptry .

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
