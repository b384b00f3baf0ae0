"""Dependencies as declared (issue 18): every third-party module the packages import is declared
in pyproject.toml, one progress library (rich) is used, and the version floors cover the APIs
the code calls."""

from __future__ import annotations

import ast
import re
import sys

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("regseg", "orchestrator", "reports")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> dict[str, str]:
    """Declared distribution name -> its requirement string."""
    return {_requirement_name(r): r for r in PYPROJECT["project"]["dependencies"]}


def _top_level_imports() -> dict[str, set[str]]:
    """Top-level module -> the files importing it, over the three packages."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_distribution_is_declared():
    declared = set(_declared())
    providers = metadata.packages_distributions()
    local = set(PACKAGES)
    undeclared = {}
    for module, files in _top_level_imports().items():
        if module in local or module in sys.stdlib_module_names or module == "__future__":
            continue
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [module])}
        if not dists & declared:
            undeclared[module] = sorted(files)
    # imported only inside the features that need them, with an error naming the package
    optional = {"submitit", "selenium"}
    assert {m: f for m, f in undeclared.items() if m not in optional} == {}


def test_one_progress_library():
    users = _top_level_imports()
    assert "tqdm" not in users, sorted(users.get("tqdm", ()))
    assert "rich" in users and "rich" in _declared()


def _floor(name: str) -> tuple[int, ...]:
    match = re.search(r">=\s*([\d.]+)", _declared()[name])
    assert match, _declared()[name]
    return tuple(int(p) for p in match.group(1).split("."))


def test_torch_floor_covers_the_apis_the_code_calls():
    # torch.amp.GradScaler("cuda") (device argument) exists from torch 2.3; torchvision 0.18 is
    # the release built against torch 2.3.
    uses_device_scaler = any("torch.amp.GradScaler(" in p.read_text(encoding="utf-8")
                             for p in (ROOT / "regseg").rglob("*.py"))
    assert uses_device_scaler
    assert _floor("torch") >= (2, 3)
    assert _floor("torchvision") >= (0, 18)


def test_licence_is_an_spdx_expression():
    assert PYPROJECT["project"]["license"] == "MIT"
    requires = " ".join(PYPROJECT["build-system"]["requires"])
    setuptools_floor = re.search(r"setuptools>=([\d.]+)", requires)
    assert setuptools_floor and tuple(int(p) for p in setuptools_floor.group(1).split(".")) >= (77,)
