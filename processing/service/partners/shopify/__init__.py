"""Shopify: webhook translation and the orders and refunds it applies."""
