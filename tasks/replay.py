"""The replay task: re-derive one historical frame and compare it with what main holds."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gnp.core.inert import inert
from gnp.git.connect import open_hub
from gnp.git.replay import ReplayReport, replay


@task(name="replay", task_run_name="replay frame {frame}", cache_policy=NO_CACHE)
def replay_frame(hub: str, frame: int, commit: str | None = None) -> ReplayReport:
    report = replay(open_hub(hub), frame, commit)
    logger = get_run_logger()
    if report.identical:
        logger.info("frame %d: identical (tree %s)", frame, report.recorded_tree)
    else:
        logger.error(
            "frame %d differs in %s", frame, ", ".join(inert(p) for p in report.paths[:20])
        )
    return report
