"""Savings recommendations computed from the ledger's own prices: idle resources, rightsizing, commitments,
storage tiering and spot candidates, refreshed after every ingestion and tracked through a status lifecycle."""
