"""docs/design.md and the README's layout say what the tree holds, and stay true."""

from __future__ import annotations

import re

from tests.helpers import ROOT

PACKAGES = ("gnp", "cli", "deployments", "flows", "tasks")


def modules() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.name != "__init__.py" or path.parent.name == "gnp":
                found.add(str(path.relative_to(ROOT)))
    return found


def test_the_design_names_every_module_and_no_other() -> None:
    text = (ROOT / "docs" / "design.md").read_text()
    tree = text.split("## The tree", 1)[1].split("```", 2)[1]
    listed = {line.split()[0] for line in tree.splitlines() if line.strip()}
    assert listed == modules()


def test_the_design_cites_tests_that_exist() -> None:
    text = (ROOT / "docs" / "design.md").read_text()
    for path, name in re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?", text):
        assert (ROOT / path).exists(), path
        if name:
            assert f"def {name}(" in (ROOT / path).read_text(), f"{path}::{name}"


def test_the_readme_layout_names_every_room() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("```", 2)[1]
    rooms = {p.name for p in (ROOT / "gnp").iterdir() if p.is_dir() and p.name != "__pycache__"}
    for room in sorted(rooms):
        assert re.search(rf"^\s+{room}/", layout, re.M), f"gnp/{room}/ is not in the layout"
    for folder in ("cli/", "deployments/", "flows/", "tasks/", "gnp/", "docs/", "tests/"):
        assert re.search(rf"^{re.escape(folder)}", layout, re.M), folder
