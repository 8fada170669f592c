"""Budgets that cannot be overshot: each call reserves its worst-case cost in every budget covering it
before any provider is called, and settles to the real cost after; the database keeps the ledger of
record, threshold alerts go out once per budget and period."""
