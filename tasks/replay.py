"""The replay task: re-derive one historical frame and compare it with what main holds."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gnp.hub import Hub
from gnp.replay import replay


@task(name="replay", task_run_name="replay frame {frame}", cache_policy=NO_CACHE)
def replay_frame(hub: str, frame: int, commit: str | None = None) -> dict[str, Any]:
    report = replay(Hub.open(hub), frame, commit)
    logger = get_run_logger()
    if report.identical:
        logger.info("frame %d: identical (tree %s)", frame, report.recorded_tree)
    else:
        logger.error("frame %d differs in %s", frame, ", ".join(report.paths[:20]))
    return report.to_json()
