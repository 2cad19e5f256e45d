"""How a command starts flow runs itself (``gnp frame``, ``gnp replay``, ``gnp demo``),
as opposed to a deployment's runs, which Prefect's runner starts: the settings it gives
Prefect, the server it starts when none is configured, and the runs' heartbeats.

:func:`session` wraps a command's runs. Prefect's settings are each set only if the user
has not chosen: run logs go to the Prefect server (and its UI), not the terminal, where
the summary says it all and an error is one line; no telemetry; time for a server's cold
start; task runs recorded in batches (:data:`FRAME_SERVER`). With no server configured
(``PREFECT_API_URL`` unset), the runs go to the resident server of ``gnp server start``
(:mod:`gnp_cli.resident`) if it answers, else to one started for the command, out of
reach of the terminal's Ctrl-C (:mod:`gnp_cli.server`); either way the runs' last logs
and events are sent before the command ends.

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
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from gnp.core.errors import GnpError

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


T = TypeVar("T")


@contextlib.contextmanager
def session(announce: Callable[[str], None]) -> Iterator[None]:
    """Prefect, set up for the runs of one command (see the module's docstring);
    ``announce`` is told when a server has to be started, which takes a while."""
    if "PREFECT_LOGGING_LEVEL" not in os.environ:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    for name, value in FRAME_SERVER.items():  # for the server, if one starts
        os.environ.setdefault(name, value)
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    settings = get_current_settings()
    if settings.api.url:
        yield  # a server of the user's
        return
    from gnp_cli.resident import answering_url

    resident = answering_url()
    if resident is not None:  # `gnp server start`'s: no start-up to pay
        with temporary_settings({PREFECT_API_URL: resident}):
            try:
                yield
            finally:
                _flush()
        return
    if not settings.server.ephemeral.enabled:
        yield  # none allowed: Prefect says what is wrong
        return
    announce(
        "starting a Prefect server for this command (10-20 s; 'gnp server start' "
        "keeps one running, or set PREFECT_API_URL to use a running one)"
    )
    from gnp_cli.server import local_server

    timeout = settings.server.ephemeral.startup_timeout_seconds
    env = settings.to_environment_variables(exclude_unset=True)
    with local_server(env, timeout) as url, temporary_settings({PREFECT_API_URL: url}):
        try:
            yield
        finally:
            _flush()  # the runs' last logs and events, while the server is there


def _flush() -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with contextlib.suppress(Exception):  # best effort: the frame itself is done
        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)


def flow_run(call: Callable[[], T]) -> T:
    """Run a flow (started here: :func:`started_here`); whatever goes wrong outside gnp
    (Prefect unreachable, say) is one line, and the whole story is in the run's logs."""
    try:
        with started_here():
            return call()
    except GnpError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise GnpError(f"the flow run failed: {type(exc).__name__}: {first}") from None
