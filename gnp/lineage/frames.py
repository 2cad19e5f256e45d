"""A hub's lineage: where it goes, and a frame's rows written from the frame's commit.

Lineage is derived from the hub, so it can always be caught up: writing frame N's rows
also writes those of earlier frames that have none (an engine stopped between merging a
frame and writing its lineage), newest first, up to :data:`MAX_CATCH_UP` at once.
"""

from __future__ import annotations

from gnp.git.hub import Hub
from gnp.git.replay import frame_record
from gnp.lineage import store

MAX_CATCH_UP = 100  # frames of missing lineage written at once, newest first


def lineage_root(hub: Hub, where: str | None = None) -> str:
    """Where the hub's lineage goes: ``where`` if given, else the hub's default."""
    if where:
        return where
    return store.default_root(hub.path, hub.state().hub_id, remote=hub.url is not None)


def record_lineage(
    hub: Hub,
    frame: int,
    where: str | None = None,
    *,
    flow_run_id: str | None = None,
    seconds: float | None = None,
) -> str:
    """Write frame ``frame``'s lineage rows (replacing any earlier write); return the path.
    Earlier frames' missing rows are written too, without the run's id and timing, which
    are not known any more."""
    root = lineage_root(hub, where)
    rows = store.rows(frame_record(hub, frame), flow_run_id=flow_run_id, frame_seconds=seconds)
    path = store.write(root, rows, frame)
    earlier = frame - 1
    while earlier >= 1 and frame - earlier <= MAX_CATCH_UP:
        if store.has_frame(root, earlier):
            break
        store.write(root, store.rows(frame_record(hub, earlier)), earlier)
        earlier -= 1
    return path
