# `make run` and `make test` are the whole set-up: each makes .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test bench faults screenshot lint format clean

$(STAMP): requirements.txt requirements-mcp.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)  ## serve the app (on the built-in simulator when AIMLAPI_KEY is unset)
	$(PY) app.py $(ARGS)

test: $(STAMP)  ## every test: unit, simulator end-to-end, notebooks, browser
	$(PY) -m pytest $(ARGS)

bench: $(STAMP)  ## benchmarks as ratios against baselines measured in the same run
	$(PY) -m benchmarks $(ARGS)

faults: $(STAMP)  ## the fault, kill-and-resume, load, fuzz, key, integrity, hostile-visitor, session and contract suite, long runs included, with its figures
	$(PY) -m pytest -m "" -p no:cacheprovider tests/test_faults.py tests/test_resilience.py tests/test_fuzz.py tests/test_security.py tests/test_integrity.py tests/test_hostile.py tests/test_masking.py tests/test_sessions.py tests/test_contract_long.py $(ARGS)

screenshot: $(STAMP)  ## retake docs/screenshot.png (the README's picture) in the browser suite
	UPDATE_SCREENSHOT=1 $(PY) -m pytest tests/test_browser.py -k "plays and landscape" $(ARGS)

lint: $(STAMP)  ## ruff, and deptry: what the code imports is what pyproject.toml declares
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/deptry .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
