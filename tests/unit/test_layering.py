"""The layering contracts in pyproject.toml hold, and they fail a wrong import by name.

``make test`` runs ``lint-imports`` over the tree as it is; these tests show
the contracts bite: a copy of the packages with one wrong import breaks them,
with a message that names both modules and the line.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.lambda_adapter import deps_factory

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "handlers", "infra", "containers")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages and the contracts, for imports the real tree must never have."""
    root = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def _with_import(root: Path, module: str, line: str) -> Path:
    path = root / (module.replace(".", "/") + ".py")
    original = path.read_text()
    path.write_text(original + f"\n{line}\n")
    return path


def test_the_contracts_hold_for_the_tree_as_it_is() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "expected"), [
    # A core module reaching up into the API servers: a layer breach.
    ("services.core.paging", "from services.api.server import AwsJsonService",
     "services.core.paging -> services.api.server"),
    # Two domains that must not know each other, hidden in a function.
    ("services.transform.service", "def _peek():\n    from services.hosting.service import HostingService",
     "services.transform.service -> services.hosting.service"),
    # An upward import hidden under TYPE_CHECKING.
    ("services.retraining.steps_train", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
     "    from handlers.deps import Deps", "services.retraining.steps_train -> handlers.deps"),
    # The platform importing an image's code.
    ("services.hosting.invoke", "from containers.common.serving import BadInput",
     "services.hosting.invoke -> containers.common.serving"),
    # A cycle between two modules of one package.
    ("services.tuning.service", "from services.tuning.executor import TuningJobExecutor", ".service -> .executor"),
])
def test_a_wrong_import_breaks_a_contract_naming_both_modules(scratch: Path, module: str, line: str,
                                                              expected: str) -> None:
    path = _with_import(scratch, module, line)
    original = path.read_text().removesuffix(f"\n{line}\n")
    try:
        result = _lint(scratch)
    finally:
        path.write_text(original)
    assert result.returncode == 1, result.stdout
    assert expected in result.stdout, result.stdout


def _private_imports(package_root: Path) -> list[str]:
    """``from a.b import _name`` where the importer is not inside ``a``'s folder."""
    found = []
    for path in sorted(package_root.rglob("*.py")):
        importer = ".".join(path.relative_to(REPO).with_suffix("").parts)
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.module.split(".")[0] not in PACKAGES:
                continue
            owner = node.module.rsplit(".", 1)[0]
            inside = importer == owner or importer.startswith(owner + ".")
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") and not inside:
                    found.append(f"{importer}:{node.lineno} imports {node.module}.{alias.name}")
    return found


def test_no_module_reaches_into_another_packages_private_names() -> None:
    found = [hit for package in PACKAGES for hit in _private_imports(REPO / package)]
    assert found == []


def test_a_handler_deployed_alone_finds_the_composition_root_by_its_entry_point() -> None:
    factory = deps_factory()
    assert f"{factory.__module__}.{factory.__qualname__}" == "infra.composition.handlers.lambda_deps"
