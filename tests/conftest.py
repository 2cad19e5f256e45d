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
from tests.helpers.hubs import hubs_under, unverified, worker_key

# The machines that run the suite are small and shared: a time limit per example, or on
# generating one, would fail it for a neighbour's load, not for a bug.
settings.register_profile("gnp", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gnp")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "damages_hub: the test breaks a hub on purpose, so `gnp verify` is not asked to pass it",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True  # its hubs are not verified: one failure is enough
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def verified_hubs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Every hub a test leaves in its folder passes `gnp verify`: whatever a test did
    through gnp, main holds only gnp's commits, every frame replays, the ledger and
    the archive agree, nothing is orphaned and git fsck is clean. Set up before every
    other fixture of the test, so it looks after they have all finished."""
    yield
    if request.node.get_closest_marker("damages_hub") or request.node.stash.get(_FAILED, False):
        return
    problems = [p for hub in hubs_under(tmp_path) for p in unverified(hub)]
    if problems:
        pytest.fail("gnp verify fails on a hub this test made:\n" + "\n".join(problems))


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
