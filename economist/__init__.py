"""economist package."""
