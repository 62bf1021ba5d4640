.PHONY: test-stats
test-stats: $(STAMP) ## stats_tracker tests
	@echo "==> stats_tracker tests"
	cd stats_tracker && $(PYTEST) tests
TEST_TARGETS += test-stats
