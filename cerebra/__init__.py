"""cerebra package."""
