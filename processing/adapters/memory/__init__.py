"""An in-memory ledger for the plan writer: tests and simulations run the real use cases on it."""
