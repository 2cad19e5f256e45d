"""The lineage task: the frame's rows, written to the Parquet dataset (replacing a rerun's)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gnp.git.connect import open_hub
from gnp.lineage.frames import record_lineage


@task(name="lineage", cache_policy=NO_CACHE)
def record(
    hub: str,
    frame: int,
    where: str | None = None,
    flow_run_id: str | None = None,
    seconds: float | None = None,
) -> str:
    path = record_lineage(open_hub(hub), frame, where, flow_run_id=flow_run_id, seconds=seconds)
    get_run_logger().info("lineage of frame %d: %s", frame, path)
    return path
