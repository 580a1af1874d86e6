"""Loyalty: customers and their cards, purchases and returns by line, tiers, and bonuses."""
