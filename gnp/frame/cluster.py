"""A frame's workers on a cluster of other processes: where each may run.

Theory of operation: a roster worker's delta is signed by the process that runs its
work, with the worker's private key, which lives in that process's ``$GNP_HOME`` and
nowhere else (gnp never writes a key anywhere but where ``gnp keygen`` made it, and
never sends one). So a worker's task must run in a process that holds its key. Each
process of the cluster offers, as a resource of the cluster's scheduler, every key it
holds (:func:`offered`: ``gnp-key:<hub id>:<worker>``), and each worker's task asks for
its key's resource (:func:`resource`): the scheduler runs it only where that key is, and
the keys stay where they are, each on the machines its owner put it on.

A worker whose key no process of the cluster offers is not sent at all
(:func:`unheld`): its task would wait for ever for a process that has the key.

Nothing here knows a cluster: the resources are names and numbers, and the flow
(``gnp_flows.frame``) hands them to Dask.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gnp.frame.roster import Member
from gnp.host import keys

# How many runs of one worker id one process may have at once: a key is not used up by
# signing, so the bound is only there because a resource must have a quantity.
RUNS_PER_KEY = 1024.0


def resource(hub_id: str, worker: str) -> str:
    """The resource by which a process offers ``worker``'s key for the hub ``hub_id``."""
    return f"gnp-key:{hub_id}:{worker}"


def offered() -> dict[str, float]:
    """The resources this process offers: one for each key in its ``$GNP_HOME``."""
    return {resource(hub_id, worker): RUNS_PER_KEY for hub_id, worker in keys.held()}


def unheld(
    members: Sequence[Member], hub_id: str, offers: Iterable[Mapping[str, float]]
) -> list[str]:
    """The members whose key no process offers (``offers``: each process's resources)."""
    held = set().union(*(set(o) for o in offers))
    return [m.id for m in members if resource(hub_id, m.id) not in held]


def shipped(member: Member) -> dict[str, Any]:
    """``member`` as a roster entry that means the same in another process: its folder
    made explicit, since another process's current folder is another folder."""
    entry = member.to_json()
    entry.setdefault("cwd", str(Path(member.folder()).resolve()))
    return entry
