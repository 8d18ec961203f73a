"""The package layout follows the data's flow: a module imports only from its own layer and
the layers below it (imports inside functions count too: they are dependencies all the same)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.corpus_cases import REPO

PACKAGE = REPO / "oom_enricher"
# Each layer, lowest first, with the packages and top-level modules it holds.
LAYERS: list[tuple[str, ...]] = [
    ("model", "counters", "decimal_text", "kernel_lines", "state_paths", "schema"),
    ("sources",),
    ("normalize",),
    ("reassembly",),
    ("parsing",),
    ("enrich",),
    ("pipeline",),
    ("skimming", "sinks", "report"),  # drive the pipeline over files / take its documents
    ("jobs", "serve", "dashboards"),  # run a source, the pipeline and sinks together
    ("cli", "__main__"),
]
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def unit_of(path: Path) -> str:
    """The package (or top-level module) a file belongs to."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_units(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "oom_enricher" and len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_a_module_imports_nothing_above_its_layer(path):
    unit = unit_of(path)
    if unit == "__init__":
        return
    assert unit in LAYER_OF, f"{unit}: not placed in LAYERS"
    above = {
        imported
        for imported in imported_units(path)
        if LAYER_OF.get(imported, len(LAYERS)) > LAYER_OF[unit]
    }
    assert not above, f"{path.relative_to(PACKAGE)} imports from higher layers: {sorted(above)}"


def test_the_layer_check_catches_an_upward_import(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from oom_enricher.serve.app import ServeApp\n")
    assert imported_units(module) == {"serve"}
    assert LAYER_OF["serve"] > LAYER_OF["sinks"]
