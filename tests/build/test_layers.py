"""The layers are enforced by the build: `make lint` runs import-linter with the contracts
in pyproject.toml, and breaks on the violations the design forbids (docs/design.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
NAMES = {
    "gnp": "gnp",
    "gnp_cli": "cli",
    "gnp_deployments": "deployments",
    "gnp_flows": "flows",
    "gnp_tasks": "tasks",
}


@pytest.fixture
def tree(source: Path, tmp_path: Path) -> Path:
    """A copy of the source to break, with its packages under their installed names."""
    copy = tmp_path / "gnp"
    shutil.copytree(source, copy)
    names = copy / "build" / "names"
    names.mkdir(parents=True)
    for name, folder in NAMES.items():
        (names / name).symlink_to(copy / folder)
    return copy


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on ``tree``'s packages (found there first, not in this checkout)."""
    env = {**os.environ, "PYTHONPATH": str(tree / "build" / "names")}
    return subprocess.run(
        [LINT_IMPORTS, str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree / "build" / "names",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    done = lint(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    "module, line, contract",
    [
        ("gnp/core/order.py", "import pygit2", "gnp.core is pure"),
        ("gnp/git/trees.py", "import prefect", "gnp never imports Prefect"),
        ("gnp/core/delta.py", "import secrets", "gnp.core is pure"),
        ("gnp/core/reduce.py", "from gnp.git import trees", "each room imports only the rooms"),
        ("tasks/merge.py", "from gnp_flows import frame", "Arrows point down"),
        ("gnp/process/janitor.py", "import flows.frame", "by their short names"),
    ],
)
def test_breaking_a_layer_breaks_the_build(
    tree: Path, module: str, line: str, contract: str
) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # breaks a layer\n")
    done = lint(tree)
    assert done.returncode != 0
    kept, broken = done.stdout.split("Broken contracts", 1)
    assert f"{contract}" in broken and module.split("/")[-1].removesuffix(".py") in broken
    assert "BROKEN" in kept
