"""Prices (Decimal per million tokens) and capabilities of known models, and request costing."""
