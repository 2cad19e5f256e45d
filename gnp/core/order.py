"""The composite key, and the priority that settles conflicts.

Deltas of a frame apply in the order of ``(frame, utc, worker, id)``: the frame the
worker based its delta on (so causality across frames survives clock skew), then the
worker's clock to the microsecond, then the worker id and the content id as
tie-breakers. The id is unique per delta, so no two deltas share a key and the order
never depends on arrival order, machine or thread scheduling.

When deltas conflict, the one with the higher ``authority`` wins; among equals the
earlier key wins (first come, first served). Both orders are total.
"""

from __future__ import annotations

from collections.abc import Iterable

from gnp.core.delta import Delta

Key = tuple[int, str, str, str]


def key(delta: Delta) -> Key:
    return (delta.frame, delta.utc, delta.worker, delta.id)


def priority(delta: Delta) -> tuple[int, Key]:
    """Sorts the delta that wins a conflict first."""
    return (-delta.authority, key(delta))


def ordered(deltas: Iterable[Delta]) -> list[Delta]:
    """``deltas`` in composite-key order."""
    return sorted(deltas, key=key)
