.PHONY: test-game
test-game: $(STAMP) ## game_rps server and page tests
	@echo "==> game_rps tests"
	cd game_rps && $(PYTEST) tests
TEST_TARGETS += test-game
