"""Economist's layering rules that a reader can check by grep: cloud SDKs (boto3, azure, google) are
imported only by the adapters in economist/sources/."""

from __future__ import annotations

import ast
from pathlib import Path

import economist

PACKAGE = Path(economist.__file__).resolve().parent
VENDOR_ROOTS = {"boto3", "botocore", "azure", "google"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_cloud_sdks_are_imported_only_by_the_source_adapters() -> None:
    outside = {
        str(path.relative_to(PACKAGE)): sorted(imported_roots(path) & VENDOR_ROOTS)
        for path in PACKAGE.rglob("*.py")
        if "sources" not in path.relative_to(PACKAGE).parts
    }
    assert {name: roots for name, roots in outside.items() if roots} == {}
