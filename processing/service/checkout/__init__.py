"""Checkout channels of our own protocol: the tills (``/pos/v1``) and the web shop
(``/shop/v1``)."""
