"""The shape of the package: small modules, layers that import only downwards, no
runtime asserts. (Function complexity is ruff's C901, configured in pyproject.toml.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kb4_exporter"
MAX_MODULE_LINES = 400
# The simulator is a test double of KnowBe4, not the exporter: it keeps its own shape.
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "simulator" not in p.parts)


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(relative.parts)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module_name(path)} has {lines} lines"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_runtime_assert(path: Path) -> None:
    # `python -O` strips asserts: a check the code relies on must raise for real.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert lines == [], f"{module_name(path)} asserts on lines {lines}"


def layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


# Who may import whom: the data flow cli -> config -> api -> refresh -> kris -> metrics -> web,
# with model and persistence below the refresher. A layer absent here imports freely.
FORBIDDEN = {
    "model": ("kb4_exporter.api", "kb4_exporter.refresh", "kb4_exporter.kris",
              "kb4_exporter.metrics", "kb4_exporter.web", "kb4_exporter.persistence",
              "kb4_exporter.commands", "requests"),
    "kris": ("kb4_exporter.api", "kb4_exporter.refresh", "kb4_exporter.metrics",
             "kb4_exporter.web", "kb4_exporter.persistence", "kb4_exporter.commands",
             "requests"),
    "persistence": ("kb4_exporter.refresh", "kb4_exporter.api", "kb4_exporter.metrics",
                    "kb4_exporter.web", "kb4_exporter.commands", "requests"),
    "metrics": ("kb4_exporter.api.http", "kb4_exporter.web", "kb4_exporter.commands",
                "requests"),
    "config": ("kb4_exporter.api", "kb4_exporter.refresh", "kb4_exporter.kris",
               "kb4_exporter.metrics", "kb4_exporter.web.server", "kb4_exporter.commands",
               "requests"),
    "refresh": ("kb4_exporter.web", "kb4_exporter.metrics", "kb4_exporter.commands",
                "requests"),
    "web": ("kb4_exporter.refresh", "kb4_exporter.api", "kb4_exporter.commands", "requests"),
}  # fmt: skip


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_layers_import_only_downwards(path: Path) -> None:
    forbidden = FORBIDDEN.get(layer(path), ())
    wrong = sorted(
        name
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )
    assert wrong == [], f"{module_name(path)} ({layer(path)}) imports {wrong}"


def test_only_the_api_package_imports_requests() -> None:
    importers = sorted(
        module_name(path)
        for path in MODULES
        if any(n == "requests" or n.startswith("requests.") for n in imported_modules(path))
    )
    assert all(name.startswith("kb4_exporter.api.") for name in importers), importers
