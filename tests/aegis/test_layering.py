"""Aegis's layout as DESIGN.md draws it: capability folders with no loose modules beside them, and the
kubernetes SDK imported only inside its adapter folder, aegis/kube."""

from __future__ import annotations

import ast
from pathlib import Path

import aegis

ROOT = Path(aegis.__file__).parent
#: DESIGN.md's list, plus the package marker.
ALLOWED_LOOSE = {"__init__.py", "__main__.py", "app.py", "settings.py", "cli.py"}


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_loose_modules_beside_the_capability_folders() -> None:
    loose = {p.name for p in ROOT.glob("*.py")}
    assert loose <= ALLOWED_LOOSE, sorted(loose - ALLOWED_LOOSE)


def test_the_kubernetes_sdk_is_imported_only_inside_aegis_kube() -> None:
    leaks = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT).parts[0] != "kube"
        for module in sorted(_imported_modules(path))
        if module == "kubernetes" or module.startswith("kubernetes.")
    ]
    assert leaks == []
