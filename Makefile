# `make run` and `make test` are the whole set-up: each makes .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test bench faults lint format clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
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

faults: $(STAMP)  ## the long fault, kill-and-resume and load suite, with a table of figures
	PIXVERSE_UI_LONG_FAULTS=1 $(PY) -m pytest -m slow -p no:cacheprovider $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
