from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from gnp import SigningKey, keys
from gnp.hub import Hub
from gnp.local import LocalRepo
from gnp.registry import register
from tests.prefect_server import PrefectServer

PREFECT = PrefectServer()  # sets the environment now; starts the server on first use

# The machines that run the suite are small and shared: a time limit per example, or on
# generating one, would fail it for a neighbour's load, not for a bug.
settings.register_profile("gnp", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gnp")


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A real Prefect server on loopback for the tests that run flows."""
    yield PREFECT.start()  # stopped at exit, once Prefect has sent its last logs


@pytest.fixture(autouse=True)
def _no_events_socket_under_hypothesis(request: pytest.FixtureRequest) -> None:
    """Close Prefect's events connection, if a flow opened one, before a property test.

    Its websocket's keepalive pings draw their payload from the global ``random``, from a
    thread of Prefect's, every 20 seconds; Hypothesis takes any change to that state
    while it generates an example for a strategy's own use of ``random``, and warns (a
    deprecation, so one day an error). The next flow opens a new connection."""
    if getattr(request.function, "is_hypothesis_test", False) and "prefect.events" in sys.modules:
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=30)


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


def worker_key(hub: Hub, worker: str) -> SigningKey:
    """Register ``worker`` on ``hub`` (once) and return its private key."""
    path = keys.key_path(hub.state().hub_id, worker)
    if not path.exists():
        register(hub, worker)
    return keys.load(hub.state().hub_id, worker)
