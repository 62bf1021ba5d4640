# The chaos drill (tools/chaos/): workers SIGKILLed at random moments, the game server stopped and
# killed, Redis restarted, poison in the stream; each step on a private Redis with the processes of
# `make run`. Not part of `make test` (about 10 minutes); its short version, test-chaos, is.
.PHONY: chaos test-chaos

chaos: $(STAMP) ## crash/order/poison drill, ~10 min (CHAOS_ARGS="--steps 1,6 --seed 7 --kills 20 ...")
	$(PY) -m tools.chaos $(CHAOS_ARGS)

test-chaos: $(STAMP) ## short crash-order and poison tests: real workers SIGKILLed between handling and ack
	@echo "==> chaos tests"
	$(PYTEST) tests/chaos

TEST_TARGETS += test-chaos
