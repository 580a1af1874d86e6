"""Bitrix24: event and REST translation and the deals it applies."""
