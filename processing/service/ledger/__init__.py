"""The ledger: use cases that move points, the reads of what they wrote, the expiry sweep and
reconcile. Every other area builds on it; it imports none of them."""
