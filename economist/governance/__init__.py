"""Governance: policies over the ledger, the violations they find, and who is told."""
