"""The inbox-collect task: the frame boundary, taken once every worker task has ended."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gnp.git.connect import open_hub
from gnp.git.engine import boundary


@task(name="collect-inbox", cache_policy=NO_CACHE)
def collect(hub: str) -> list[str]:
    """The inbox refs present now: this frame merges exactly these; later ones wait."""
    refs = boundary(open_hub(hub))
    get_run_logger().info("boundary: %d delta(s) in the inbox", len(refs))
    return refs
