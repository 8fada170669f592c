"""Ingestion: load billing sources into the ledger, idempotently per slice, with recorded progress and errors."""
