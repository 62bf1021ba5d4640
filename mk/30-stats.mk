.PHONY: test-stats bench-stats
test-stats: $(STAMP) ## stats_tracker tests
	@echo "==> stats_tracker tests"
	cd stats_tracker && $(PYTEST) tests
TEST_TARGETS += test-stats

bench-stats: $(STAMP) ## stats worker: game_over events/s applied exactly-once (its own private Redis)
	@echo "==> stats_tracker worker benchmark"
	cd stats_tracker && PYTHONPATH=. $(PY) bench/bench_worker.py
BENCH_TARGETS += bench-stats
