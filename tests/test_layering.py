"""The import layering of docs/DESIGN.md, read from the source with ``ast`` (nothing imported).

regseg (the science) imports neither orchestrator nor reports; reports reads MLflow, not the
queue (it may use the tracking vocabulary, a leaf module); inside orchestrator the parts point
one way: workers -> queue, tracking, specs; search -> queue, specs; and nothing back up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package (path prefix, dotted) -> modules it must not import (dotted prefixes), with exceptions
RULES = [
    ("regseg", ("orchestrator", "reports"), ("regseg.cli",)),
    ("reports", ("orchestrator", "regseg.cli"), ()),
    ("orchestrator", ("reports", "regseg.cli"), ()),
    ("orchestrator.queue", ("orchestrator.workers", "orchestrator.tracking",
                            "orchestrator.search", "orchestrator.specs"), ()),
    ("orchestrator.specs", ("orchestrator.queue", "orchestrator.workers", "orchestrator.tracking",
                            "orchestrator.search"), ()),
    ("orchestrator.tracking", ("orchestrator.queue", "orchestrator.workers",
                               "orchestrator.specs", "orchestrator.search"), ()),
    ("orchestrator.workers", ("orchestrator.search",), ()),
]
ALLOWED = {"orchestrator.tracking.tags"}  # the MLflow vocabulary: a leaf every reader may use
# The arms (a parent run per configuration) and the run names/descriptions: MLflow-only modules
# (they import the vocabulary and each other) that the log importer shares with the worker.
ALLOWED |= {"orchestrator.tracking.arms", "orchestrator.tracking.notes"}
# The MLflow param convention: one leaf shared by the worker's tracking and the log importer.
ALLOWED |= {"orchestrator.tracking.params"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


SOURCES = sorted(p for top in ("regseg", "orchestrator", "reports")
                 for p in (ROOT / top).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("package, forbidden, exempt", RULES, ids=[r[0] for r in RULES])
def test_imports_point_one_way(package, forbidden, exempt):
    violations = []
    for path in SOURCES:
        module = _module_name(path)
        if not _within(module, package) or any(_within(module, e) for e in exempt):
            continue
        for name in sorted(_imports(path)):
            if name in ALLOWED or any(_within(name, a) for a in ALLOWED):
                continue
            bad = [f for f in forbidden if _within(name, f) and not _within(module, f)]
            if bad:
                violations.append(f"{module} imports {name}")
    assert violations == []


def test_the_rules_can_fail(tmp_path):
    """A file that breaks a rule is caught (the check reads real imports)."""
    probe = tmp_path / "probe.py"
    probe.write_text("from orchestrator import queue\nimport reports.tables\n")
    assert {"orchestrator", "orchestrator.queue", "reports.tables"} <= _imports(probe)
