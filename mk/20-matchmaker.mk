.PHONY: test-matchmaker
test-matchmaker: $(STAMP) ## matchmaker tests
	@echo "==> matchmaker tests"
	cd matchmaker && $(PYTEST) tests
TEST_TARGETS += test-matchmaker
