"""How gnp starts a flow run itself (``gnp frame``, ``gnp replay``, ``gnp demo``), as
opposed to a deployment's runs, which Prefect's runner starts.

A flow run sends heartbeats from a thread that sleeps in one-second steps, and the run
waits for that thread as it ends: up to a second more per frame, half a second on
average. Heartbeats serve one purpose, an automation that marks a deployment's runs
Crashed when they go silent, which Prefect's documentation has users set up, together
with ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``. So a run started here sends none, unless
that setting was chosen (by environment, profile or ``prefect.toml``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def started_here() -> Iterator[None]:
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    if "heartbeat_frequency" in get_current_settings().flows.model_fields_set:
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
