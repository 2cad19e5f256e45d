"""The merge task: the engine, the only writer of main, held to the frame's boundary."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gnp.core.inert import inert
from gnp.git.connect import open_hub
from gnp.git.engine import FrameReport, run_frame


@task(name="merge", cache_policy=NO_CACHE)
def merge(hub: str, refs: list[str]) -> FrameReport:
    report = run_frame(open_hub(hub), within=refs)
    logger = get_run_logger()
    for ref in report.swept:
        logger.info("removed %s: already merged", inert(ref))
    if report.frame is None:
        logger.info("nothing to merge: the inbox holds no new deltas")
    else:
        logger.info("frame %d is main %s", report.frame, report.commit)
    return report
