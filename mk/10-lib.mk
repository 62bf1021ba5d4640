.PHONY: test-lib bench-lib build-lib
test-lib: $(STAMP) ## the library's tests
	@echo "==> varcade_workers tests"
	cd varcade_workers && $(PYTEST) tests

bench-lib: $(STAMP) ## the stream worker benchmark (throughput vs plain redis-py, latency)
	@echo "==> varcade_workers benchmark"
	cd varcade_workers && $(PY) bench/bench_stream.py

build-lib: $(STAMP) ## build the varcade_workers wheel and sdist into varcade_workers/dist
	$(PY) tools/build_workers.py --sdist

TEST_TARGETS += test-lib
BENCH_TARGETS += bench-lib
