.PHONY: test-lib
test-lib: $(STAMP) ## the library's tests
	@echo "==> varcade_workers tests"
	cd varcade_workers && $(PYTEST) tests
TEST_TARGETS += test-lib
