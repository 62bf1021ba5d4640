# The whole arcade: run it, demo it, test it end to end (tools/run/, tests/e2e/).
.PHONY: run demo test-e2e test-browser

run: $(STAMP) ## start the whole arcade (Redis, matchmaker, stats, game server, page); Ctrl-C stops it
	$(PY) -m tools.run

demo: $(STAMP) ## two scripted players play a game against a running arcade (MATCHMAKER_URL etc. to point elsewhere)
	$(PY) -m tools.run.demo

test-e2e: $(STAMP) ## end-to-end tests: the whole stack as real processes on a real Redis (dbs 11, 12)
	@echo "==> end-to-end tests"
	$(PYTEST) --timeout=300 tests/e2e --ignore=tests/e2e/test_browser.py

test-browser: $(STAMP) ## browser test: two Chromium players play a game on the page (CHROMIUM_PATH)
	@echo "==> browser test"
	$(PYTEST) --timeout=300 tests/e2e/test_browser.py

TEST_TARGETS += test-e2e test-browser
