"""The build tier: the repository itself, copied aside so that nothing here writes into
the checkout (setuptools leaves build/ and egg-info behind; the lint tests edit code)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import ROOT

LEFT_OUT = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree as it is now (uncommitted changes too), in a folder of its own."""
    copy = tmp_path_factory.mktemp("source") / "gnp"
    shutil.copytree(ROOT, copy, ignore=LEFT_OUT)
    return copy
