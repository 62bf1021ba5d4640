# Varcade Games: one command to run the arcade, one to test it.
# Every target installs what it needs into .venv first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
STAMP := $(VENV)/.installed
REQS := requirements-dev.txt matchmaker/requirements.txt stats_tracker/requirements.txt game_rps/requirements.txt
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: help venv test lint typecheck test-lib test-matchmaker test-stats test-game test-release test-static test-e2e bench run demo

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): $(REQS) varcade_workers/pyproject.toml
	@echo "==> creating $(VENV) and installing dependencies"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(VENV)/bin/pip install --disable-pip-version-check -q $(foreach r,$(filter-out requirements-dev.txt,$(REQS)),-r $(r))
	$(VENV)/bin/pip install --disable-pip-version-check -q -e './varcade_workers[web]'
	touch $@

venv: $(STAMP) ## create .venv with everything installed

lint: $(STAMP) ## ruff check + ruff format --check
	@echo "==> ruff"
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP) ## mypy on the library (Python 3.10 rules)
	@echo "==> mypy varcade_workers"
	cd varcade_workers && $(VENV_ABS)/bin/mypy --python-version 3.10

VENV_ABS := $(CURDIR)/$(VENV)

test-lib: $(STAMP) ## the library's tests
	@echo "==> varcade_workers tests"
	cd varcade_workers && $(PYTEST) tests

test-matchmaker: $(STAMP) ## matchmaker tests
	@echo "==> matchmaker tests"
	cd matchmaker && $(PYTEST) tests

test-stats: $(STAMP) ## stats_tracker tests
	@echo "==> stats_tracker tests"
	cd stats_tracker && $(PYTEST) tests

test-game: $(STAMP) ## game_rps server and page tests
	@echo "==> game_rps tests"
	cd game_rps && $(PYTEST) tests

test: lint typecheck test-lib test-matchmaker test-stats test-game ## every check and test (what CI runs)
	@echo "==> all tests passed"

bench: $(STAMP) ## benchmarks (print figures)
	@echo "==> benchmarks"
