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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.settings import Settings

# Task runs written 100 at a time, at least every second: about 2.5x less server CPU per
# task run (bench/README.md). A flush interval under a second makes the recorder spin.
FRAME_SERVER = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
}


# The settings a run started here sees, derived from the settings in force: building
# them validates every setting again (about 80 ms), so a process running frame after
# frame (the demo, a notebook) builds them once. Keyed by identity: settings in force
# are replaced, never changed in place.
_derived: tuple[Settings, Settings] | None = None


@contextlib.contextmanager
def started_here() -> Iterator[None]:
    from prefect.context import SettingsContext, get_settings_context
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    global _derived
    context = get_settings_context()
    if "heartbeat_frequency" in context.settings.flows.model_fields_set:
        yield
        return
    derived = _derived
    if derived is None or derived[0] is not context.settings:
        quiet = context.settings.copy_with_update(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
        derived = _derived = (context.settings, quiet)
    with SettingsContext(profile=context.profile, settings=derived[1]):
        yield
