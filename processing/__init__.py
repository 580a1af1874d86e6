"""Bonus processing center: everything that is not HTTP."""
