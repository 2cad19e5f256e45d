"""The artifact task: the frame's summary as a markdown artifact in Prefect's UI."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from gnp.summary import headline, markdown


@task(name="publish-summary", cache_policy=NO_CACHE)
def publish(summary: dict[str, Any], key: str = "gnp-frame") -> UUID:
    """Keyed, so the UI keeps every frame's summary under one name, newest first."""
    made = create_markdown_artifact(markdown(summary), key=key, description=headline(summary))
    assert isinstance(made, UUID)  # called from sync code, it is not a coroutine
    return made
