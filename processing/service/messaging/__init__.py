"""Messaging: SMS codes at the till, message templates, and webhooks with their relay."""
