"""Wallet passes of customers' cards (decision 0029)."""
