"""How gnp starts a flow run itself (``gnp frame``, ``gnp replay``, ``gnp demo``), as
opposed to a deployment's runs, which Prefect's runner starts.

A flow run sends heartbeats from a thread that sleeps in one-second steps, and the run
waits for that thread as it ends: up to a second more per frame, half a second on
average. Heartbeats serve one purpose, an automation that marks a deployment's runs
Crashed when they go silent, which Prefect's documentation has users set up, together
with ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``. So a run started here sends none, unless
that setting was chosen (by environment, profile or ``prefect.toml``).

A Prefect server records each task run's states as they arrive, one database write at
a time; a frame fans out a task per worker, so :data:`FRAME_SERVER` has the server
record them in batches. ``gnp`` sets it for the embedded server it starts, and the
README recommends it for a server of one's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

# Task runs written 100 at a time, at least every second: about 2.5x less server CPU per
# task run (bench/README.md). A flush interval under a second makes the recorder spin.
FRAME_SERVER = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
}


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
