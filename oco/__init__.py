"""oco package."""
