"""The replay flow: re-derive historical frames from their parents and archived deltas.

Each frame is settled again with the engine's own function and its tree compared with
the one main recorded; a mismatch names the files and the JSON paths that differ. The
flow fails if any frame differs, so a scheduled replay alerts like any failed run.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from gnp.core.errors import GnpError
from gnp.git.connect import open_hub
from gnp.git.replay import ReplayReport, frame_commits, frames_to_replay
from gnp_tasks.replay import replay_frame


@flow(name="gnp-replay", flow_run_name="replay", persist_result=True)
def replay(
    hub: str,
    frame: int | None = None,
    first: int | None = None,
    last: int | None = None,
    fail_on_mismatch: bool = True,
) -> list[ReplayReport]:
    """Replay one frame, a range, or (with no frame given) every frame of ``hub``."""
    numbers = frames_to_replay(hub, frame, first, last)
    commits = frame_commits(open_hub(hub), numbers[0], numbers[-1]) if numbers else {}
    reports = [replay_frame(hub, n, str(commits[n].id) if n in commits else None) for n in numbers]
    differing = [r.frame for r in reports if not r.identical]
    logger = get_run_logger()
    if differing:
        logger.error("frames that do not replay: %s", differing)
        if not fail_on_mismatch:
            return reports
        raise GnpError(f"{len(differing)} frame(s) do not replay: {differing}")
    logger.info("%d frame(s) replayed identically", len(reports))  # zero on a new hub
    return reports
