"""WooCommerce: webhook and REST translation and the orders and refunds it applies."""
