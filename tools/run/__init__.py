"""The stack runner: `make run`, `make demo` and the end-to-end tests start the arcade with it."""
