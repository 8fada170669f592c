"""Cost queries over the ledger: totals grouped by dimensions and periods, summary, breakdown, trend."""
