"""Fixtures every tier may use: a folder of keys per test, a new hub, a worker's local
repository, the demo's hub. Prefect's fixtures are the prefect tier's alone
(tests/prefect/conftest.py). The tiers, and what each needs: docs/design.md."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from gnp.git.hub import Hub
from gnp.git.local import LocalRepo
from tests.helpers.hubs import worker_key

# The machines that run the suite are small and shared: a time limit per example, or on
# generating one, would fail it for a neighbour's load, not for a bug.
settings.register_profile("gnp", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gnp")


@pytest.fixture(autouse=True)
def gnp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test keeps its private keys in a folder of its own."""
    home = tmp_path / "gnp-home"
    monkeypatch.setenv("GNP_HOME", str(home))
    yield home


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub.init(tmp_path / "hub.git")


@pytest.fixture
def local(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalRepo:
    """Worker ``w``'s local repository for ``hub``, its worktrees under ``tmp_path``."""
    monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "worktrees"))
    worker_key(hub, "w")
    return LocalRepo.for_hub(hub)


@pytest.fixture
def demo_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    """A hub with the demo's workers registered, merge types declared and state seeded."""
    from gnp import demo

    monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "worktrees"))
    return demo.setup(tmp_path / "hub.git")
