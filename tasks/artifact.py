"""The artifact task: the frame's summary as a markdown artifact in Prefect's UI."""

from __future__ import annotations

from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from gnp.frame.summary import FrameSummary


@task(name="publish-summary", cache_policy=NO_CACHE)
def publish(summary: FrameSummary, key: str) -> UUID | None:
    """Keyed per hub, so the UI keeps each hub's frames under one name, newest first.

    Best effort: the frame is already on main and in lineage; a summary that cannot be
    published is a warning, not a failed frame.
    """
    try:
        made = create_markdown_artifact(summary.markdown(), key=key, description=summary.headline())
    except Exception as exc:
        get_run_logger().warning("could not publish the frame's summary: %s", exc)
        return None
    assert isinstance(made, UUID)  # called from sync code, it is not a coroutine
    return made
