# Static checks of the Dockerfiles, compose file and workflows (tools pinned in requirements-dev.txt),
# and the tests that keep compose, Dockerfiles and CONVENTIONS.md in agreement.
DOCKERFILES := matchmaker/Dockerfile stats_tracker/Dockerfile game_rps/Dockerfile
WORKFLOWS := .github/workflows/ci.yml .github/workflows/release.yml

.PHONY: static-checks test-static

static-checks: $(STAMP) ## hadolint, compose schema, actionlint, zizmor --offline
	@echo "==> hadolint $(DOCKERFILES)"
	$(VENV)/bin/hadolint --failure-threshold info $(DOCKERFILES)
	@echo "==> docker-compose.yml against the compose schema"
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	@echo "==> actionlint $(WORKFLOWS)"
	$(VENV)/bin/actionlint $(WORKFLOWS)
	@echo "==> zizmor --offline $(WORKFLOWS)"
	$(VENV)/bin/zizmor --offline --no-progress $(WORKFLOWS)

test-static: $(STAMP) ## compose, Dockerfiles and CONVENTIONS.md agree
	@echo "==> static agreement tests"
	$(PYTEST) tests/static

TEST_TARGETS += static-checks test-static
