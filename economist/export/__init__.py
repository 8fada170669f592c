"""FOCUS out: the ledger as FOCUS 1.2 rows (CSV or Parquet), streamed (`GET /api/v1/costs/export`)."""
