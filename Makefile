# Varcade Games: one command to run the arcade, one to test it.
# Every target installs what it needs into .venv first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
STAMP := $(VENV)/.installed
REQS := requirements-dev.txt matchmaker/requirements.txt stats_tracker/requirements.txt game_rps/requirements.txt
# A hung test fails after 180 s instead of stalling CI (pytest-timeout).
PYTEST := $(PY) -m pytest -p no:cacheprovider --timeout=180

.PHONY: help venv test lint typecheck bench

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# The services' requirements are installed with the library wheel built here when it is the pinned
# release (byte for byte what Docker pulls), else the library editable from source, said loudly
# (tools/release/install_local.py). The rule depends on every file that choice reads.
LIB_INPUTS := varcade_workers/pyproject.toml varcade_workers/README.md varcade_workers/RELEASES.json \
	$(shell find varcade_workers/src -type f -not -path '*/__pycache__/*' 2>/dev/null) \
	$(wildcard tools/build_workers.py tools/release/*.py)
$(STAMP): $(REQS) $(LIB_INPUTS)
	@echo "==> creating $(VENV) and installing dependencies"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(VENV)/bin/python tools/release/install_local.py --venv $(VENV)
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


# Each part of the repository adds its targets in mk/NN-part.mk and appends them to
# TEST_TARGETS (run by `make test`, in file order) and BENCH_TARGETS (run by `make bench`).
TEST_TARGETS :=
BENCH_TARGETS :=
include $(sort $(wildcard mk/*.mk))

test: lint typecheck $(TEST_TARGETS) ## every check and test (what CI runs)
	@echo "==> all tests passed"

bench: $(BENCH_TARGETS) ## benchmarks (print figures, assert nothing)
