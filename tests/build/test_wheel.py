"""The wheel installs gnp under its own names only: never a top-level `flows`, `tasks`,
`deployments` or `cli`, which are other projects' folder names (docs/design.md)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    [path] = out.glob("gnp-*.whl")
    return zipfile.ZipFile(path)


def test_every_top_level_name_in_the_wheel_is_gnps_own(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert all(top.startswith("gnp") for top in tops), sorted(tops)
    assert {"gnp", "gnp_cli", "gnp_deployments", "gnp_flows", "gnp_tasks"} <= tops


def test_the_wheel_holds_every_module_and_its_entry_point(
    wheel: zipfile.ZipFile, source: Path
) -> None:
    """Each module of the repository, under its installed name: a package left out of
    the list in pyproject.toml would install without it (the editable install hides it)."""
    names = set(wheel.namelist())
    installed = {"gnp": "gnp", "cli": "gnp_cli", "deployments": "gnp_deployments"}
    installed |= {"flows": "gnp_flows", "tasks": "gnp_tasks"}
    expected = {"gnp/py.typed"}
    for folder, name in installed.items():
        for path in (source / folder).rglob("*.py"):
            expected.add(f"{name}/{path.relative_to(source / folder)}")
    assert len(expected) > 70
    assert expected - names == set()
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "gnp = gnp_cli.entry:main" in wheel.read(entry_points).decode()
