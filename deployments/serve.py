"""Serving one hub's scheduled frames and nightly replay from this process (``gnp
serve``), with no work pool and no worker to run. ``gnp serve`` checks every input
before it builds the deployments (:mod:`gnp_deployments.schedules`) and hands them here.

Stop it with Ctrl-C or SIGTERM, and it takes a few seconds: a frame still running is told
to stop (its workers stop their commands and leave fallback deltas), its flow run ends
(Cancelled, or Crashed if its process ends first), which frees the deployment's one-frame
slot, and the schedules are paused.
Prefect's runner does that on SIGTERM only. On SIGINT, asyncio cancels the runner, and
the runner's cancelled wait for a flow run's process kills it outright (SIGKILL): the run
stays Running, the slot stays taken until its lease runs out (up to 5 minutes), and the
workers leave no fallback while their commands run on. So here Ctrl-C does what SIGTERM
does; a second one stops at once, as a kill would, and ``gnp janitor`` cleans up after it.
"""

from __future__ import annotations

import io
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from prefect import serve as prefect_serve
from prefect.deployments.runner import RunnerDeployment


def serve(deployments: Sequence[RunnerDeployment]) -> None:
    """Serve ``deployments`` from this process until Ctrl-C or SIGTERM (see above)."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # a service's log is read as it grows
    previous = signal.signal(signal.SIGINT, _as_sigterm)
    try:
        prefect_serve(*deployments)
    finally:
        signal.signal(signal.SIGINT, previous)


_told = False  # whether Ctrl-C was explained already


def _as_sigterm(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C: what SIGTERM does, once the runner has set its handler (until then no
    frame runs, and Ctrl-C is the usual KeyboardInterrupt)."""
    on_sigterm = signal.getsignal(signal.SIGTERM)
    if not callable(on_sigterm):
        raise KeyboardInterrupt
    global _told
    if not _told:  # the wait invites a second Ctrl-C: say what it costs
        _told = True
        print(
            "gnp: stopping; a running frame stops its workers, who leave fallbacks (a few "
            "seconds). Ctrl-C again stops at once, and leaves that frame's run Running",
            file=sys.stderr,
            flush=True,
        )
    on_sigterm(signal.SIGTERM, frame)


if __name__ == "__main__":
    # The command's first name, still runnable from a checkout (where deployments/ imports
    # by its short name): without this it would exit 0 having served nothing.
    print(
        "gnp: 'python -m deployments.serve' is now 'gnp serve' (with the same options)",
        file=sys.stderr,
    )
    sys.exit(2)
