"""Gift certificates (decision 0033): money on accounts of its own, paid at checkout."""
