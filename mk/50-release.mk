# Releasing varcade_workers (docs/releasing.md) and running the arcade in Docker (docs/docker.md).
RELEASE_TOOLS := tools/release
RELEASE_PY := $(PY) $(RELEASE_TOOLS)

.PHONY: bump-workers pin-workers tag-workers check-pins release-ledger dev test-release up down logs

bump-workers: $(STAMP) ## new library release: PART=major|minor|patch or VERSION=x.y.z
	@if [ -z "$(PART)$(VERSION)" ]; then echo "usage: make bump-workers PART=major|minor|patch (or VERSION=x.y.z)" >&2; exit 2; fi
	$(RELEASE_PY)/bump.py $(if $(PART),--part $(PART)) $(if $(VERSION),--version $(VERSION))

pin-workers: $(STAMP) ## pin services to a released library: [SERVICES="a b"] [VERSION=x.y.z]
	$(RELEASE_PY)/pin.py $(if $(SERVICES),--services "$(SERVICES)") $(if $(VERSION),--version $(VERSION))

tag-workers: $(STAMP) ## after every check: create the release tag locally, print the push command
	$(RELEASE_PY)/tag.py

check-pins: $(STAMP) ## library source, release ledger and service pins agree
	$(RELEASE_PY)/check_pins.py --venv $(VENV)

release-ledger: $(STAMP) ## first release: record the version in __about__.py (no bump), pin every service
	$(RELEASE_PY)/bump.py --current
	$(RELEASE_PY)/pin.py
	$(RELEASE_PY)/check_pins.py --require-release
	@rm -f $(STAMP)
	@echo "==> recorded; commit varcade_workers/ and the requirements files, then make tag-workers"

dev: $(STAMP) ## install the library editable (work in progress; check-pins then asks for a bump)
	$(VENV)/bin/pip install --disable-pip-version-check -q -e './varcade_workers[web]'
	@echo "==> varcade_workers installed editable; make check-pins tells when a bump is due"

test-release: $(STAMP) ## release tooling tests (ledger, pins, tag check, pip proof)
	@echo "==> release tooling tests"
	$(PYTEST) tests/release

TEST_TARGETS += check-pins
# test-release joins TEST_TARGETS once tools/build_workers.py (the shared build script) exists.
TEST_TARGETS += $(if $(wildcard tools/build_workers.py),test-release)

COMPOSE := docker compose
define need-docker
	@command -v docker >/dev/null 2>&1 || { echo "make $@: Docker is not installed here (see docs/docker.md)" >&2; exit 1; }
	@docker compose version >/dev/null 2>&1 || { echo "make $@: the docker compose plugin is missing (see docs/docker.md)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make $@: no Docker engine answers (start it, or run without Docker: make run)" >&2; exit 1; }
endef

up: ## build the images and start the arcade in Docker (needs .env, see .env.example)
	$(need-docker)
	@test -f .env || { echo "make up: create .env first: cp .env.example .env, then set the secrets" >&2; exit 1; }
	$(COMPOSE) up --build --detach --wait

down: ## stop the arcade in Docker (the Redis volume is kept)
	$(need-docker)
	$(COMPOSE) down

logs: ## follow the arcade's logs in Docker
	$(need-docker)
	$(COMPOSE) logs --follow --tail=100
