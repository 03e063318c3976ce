"""The simulator's sub-packages import one way (simulator/__init__.py) and never import the product."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "simulator"
PRODUCT = ("crm_risk", "connectors", "flows", "transforms", "expectations", "pipeline", "shell")
# The org's leaf modules: what soql resolves names against; they import nothing else of the simulator.
ORG_MODEL = ("org.schema", "org.ids", "org.clock", "org.errors")
ALLOWED = {  # layer of the importing module -> layers it may import
    "org.model": {"org.model"},
    "soql": {"soql", "org.model"},
    "org": {"org", "org.model", "soql"},
    "generator": {"generator", "org", "org.model", "soql"},
    "api": {"api", "org", "org.model", "soql"},
    "server": {"server", "api", "generator", "org", "org.model", "soql"},
    "cli": {"server"},
}


def _layer(module: str) -> str:
    """The layer of a dotted module path relative to `simulator` (e.g. `org.schema.sales` -> `org.model`)."""
    if any(module == m or module.startswith(m + ".") for m in ORG_MODEL):
        return "org.model"
    return module.split(".")[0]


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__")
        if name:
            out.append((name, path))
    return out


def _imports(path: Path) -> list[str]:
    """Every module an import statement names, including imports inside functions and TYPE_CHECKING blocks."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "simulator":
                names += [f"simulator.{a.name}" for a in node.names]
            else:
                names.append(node.module)
    return names


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_imports_go_one_way(module: str, path: Path) -> None:
    layer = _layer(module)
    wrong = []
    for name in _imports(path):
        top = name.split(".")[0]
        if top in PRODUCT:
            wrong.append(name)
        elif top == "simulator" and name != "simulator":
            target = _layer(name.removeprefix("simulator."))
            if target not in ALLOWED[layer]:
                wrong.append(name)
    assert not wrong, f"simulator.{module} ({layer}) must not import {wrong}"
