"""Partners (web shops and CRMs): their channels and inbox, what they share, and one folder per
partner holding the pure translation of its payloads, its receiver, the use cases that apply
them and its own CLI subcommands, listed once in ``registry.py``."""
