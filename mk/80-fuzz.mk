# The fuzzer (tools/fuzz/): schemathesis against each service's own OpenAPI document, a WebSocket
# fuzzer against live games (with another game's round trip measured under a flood), and the
# stream poison step of make chaos; on a private stack with the processes of `make run`. Not part
# of `make test` (a few minutes); its short seeded version, test-fuzz, is.
.PHONY: fuzz test-fuzz

fuzz: $(STAMP) ## fuzz the HTTP APIs, the WebSocket and the stream, a few minutes (FUZZ_ARGS="--seed 7 --skip poison")
	$(PY) -m tools.fuzz $(FUZZ_ARGS)

test-fuzz: $(STAMP) ## the short seeded fuzz run (small sizes, fixed seed; under 2 minutes)
	@echo "==> fuzz tests"
	$(PYTEST) tests/fuzz

TEST_TARGETS += test-fuzz
