"""The prefect tier: a real Prefect server on loopback, started once per test session by
the first test that needs it, and stopped at exit.

Importing this module sets Prefect's environment (before anything imports Prefect,
which reads its settings once); the tiers before this one never import Prefect.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.helpers.prefect_server import PrefectServer

PREFECT = PrefectServer()  # sets the environment now; starts the server on first use


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
