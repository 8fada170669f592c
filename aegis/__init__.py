"""aegis package."""
