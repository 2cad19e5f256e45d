"""The replay flow: re-derive historical frames from their parents and archived deltas.

Each frame is settled again with the engine's own function and its tree compared with
the one main recorded; a mismatch names the files and the JSON paths that differ. The
flow fails if any frame differs, so a scheduled replay alerts like any failed run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from gnp.errors import GnpError, UsageError
from gnp.hub import Hub
from gnp.replay import frame_commits
from tasks.replay import replay_frame


def frames_to_replay(hub: str, frame: int | None, first: int | None, last: int | None) -> list[int]:
    """One frame, a range (either end defaulting to the first or last frame), or all."""
    if frame is not None and (first is not None or last is not None):
        raise UsageError("give one frame, or a range (first/last), not both")
    latest = Hub.open(hub).state().frame
    if latest < 1:
        if frame is None and first is None and last is None:
            return []  # a new hub: nothing to replay yet, and nothing wrong
        raise UsageError("the hub has no frames yet")
    if frame is not None:
        if not 1 <= frame <= latest:
            raise UsageError(f"frames run from 1 to {latest}; there is no frame {frame}")
        return [frame]
    low, high = first if first is not None else 1, last if last is not None else latest
    if not 1 <= low <= high <= latest:
        raise UsageError(f"frames run from 1 to {latest}; cannot replay {low} to {high}")
    return list(range(low, high + 1))


@flow(name="gnp-replay", flow_run_name="replay", persist_result=True)
def replay(
    hub: str,
    frame: int | None = None,
    first: int | None = None,
    last: int | None = None,
    fail_on_mismatch: bool = True,
) -> list[dict[str, Any]]:
    """Replay one frame, a range, or (with no frame given) every frame of ``hub``."""
    numbers = frames_to_replay(hub, frame, first, last)
    commits = frame_commits(Hub.open(hub), numbers[0], numbers[-1]) if numbers else {}
    reports = [replay_frame(hub, n, str(commits[n].id) if n in commits else None) for n in numbers]
    differing = [r["frame"] for r in reports if not r["identical"]]
    logger = get_run_logger()
    if differing:
        logger.error("frames that do not replay: %s", differing)
        if not fail_on_mismatch:
            return reports
        raise GnpError(f"{len(differing)} frame(s) do not replay: {differing}")
    logger.info("%d frame(s) replayed identically", len(reports))  # zero on a new hub
    return reports
