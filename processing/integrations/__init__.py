"""Pure translations of partner payloads into our commands: no I/O, no clock."""
