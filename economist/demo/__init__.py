"""The bundled demo data: the FinOps Foundation's public FOCUS 1.0 sample (see README.md beside it)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE_NAME = "focus-1.0-sample-1000.csv"


def sample_path() -> Path:
    """The path of the bundled FOCUS 1.0 sample (1,000 rows, AWS/Microsoft/Oracle, September 2024)."""
    path = resources.files(__name__) / SAMPLE_NAME
    assert isinstance(path, Path), "the economist package must be installed as files, not zipped"
    return path
