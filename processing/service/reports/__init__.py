"""Reports: what the ledger moved, read from its rollups (decision 0025)."""
