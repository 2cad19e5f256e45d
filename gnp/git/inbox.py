"""The inbox: where workers leave deltas on the hub, and how the engine takes them in.

Theory of operation: a worker submits a delta as a commit whose parent is ``main`` and
whose tree is ``main``'s plus exactly one file, ``.gnp/inbox/<worker>/<id>.json``, under
the ref ``refs/gnp/inbox/<worker>/<id>``. One ref per delta means submissions never
contend (no two workers ever update the same ref) and a re-submission of the same
delta is the same ref: idempotent, never a silent "Everything up-to-date" loss.

The engine trusts nothing about a pushed ref: :func:`take` checks the ref's name, that
the commit has one parent, that it adds exactly its own delta file and touches nothing
else, and that the delta inside is the worker's and the id the ref names. Anything
else is refused with the reason, never applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from gnp.core.delta import Delta
from gnp.core.errors import Malformed, TooLarge
from gnp.core.layout import INBOX_REFS, delta_path, parse_ref, ref_name
from gnp.core.limits import DEFAULT_LIMITS
from gnp.git import trees
from gnp.git.hub import Hub


@dataclass(frozen=True, slots=True)
class Item:
    """One inbox ref at the frame boundary."""

    ref: str
    target: pygit2.Oid


def delta_commit(
    repo: pygit2.Repository, base: pygit2.Commit, worker: str, delta_id: str, data: bytes
) -> pygit2.Oid:
    """The commit that carries a delta file: ``base`` (main) plus exactly that one file,
    built in the object database. The engine admits no other shape."""
    tree = trees.edit(repo, base.tree, {delta_path(worker, delta_id): data})
    sig = pygit2.Signature(worker, f"{worker}@gnp.invalid")
    message = f"gnp delta {delta_id[:12]} from {worker}\n"
    return repo.create_commit(None, sig, sig, message, tree, [base.id])


def submit(hub: Hub, delta: Delta) -> str:
    """Leave ``delta`` (signed) in the hub's inbox; return its id. Idempotent."""
    hub.refresh()
    commit = delta_commit(hub.repo, hub.main(), delta.worker, delta.id, delta.encode())
    hub.create_inbox_ref(ref_name(delta.worker, delta.id), commit)
    return delta.id


def snapshot(hub: Hub) -> list[Item]:
    """The frame boundary: every inbox ref now. Later pushes wait for the next frame."""
    items = [
        Item(ref.name, ref.target)
        for ref in hub.repo.references.iterator()
        if ref.name.startswith(INBOX_REFS) and isinstance(ref.target, pygit2.Oid)
    ]
    return sorted(items, key=lambda item: item.ref)


def remove(hub: Hub, item: Item) -> bool:
    """Delete the ref if it still points where the snapshot saw it."""
    return hub.delete_ref(item.ref, item.target)


def take(hub: Hub, item: Item, max_bytes: int = DEFAULT_LIMITS.max_bytes) -> bytes:
    """The delta bytes ``item`` carries; raises :class:`Refused` if the push is not sound."""
    named = parse_ref(item.ref)
    if named is None:
        raise Malformed(f"{item.ref} is not an inbox ref (refs/gnp/inbox/<worker>/<delta id>)")
    worker, delta_id = named
    commit = hub.repo.get(item.target)
    if not isinstance(commit, pygit2.Commit) or len(commit.parents) != 1:
        raise Malformed(f"{item.ref} must point at a commit with exactly one parent")
    expected = delta_path(worker, delta_id)
    changes = trees.changes(commit.parents[0].tree, commit.tree, limit=5)
    if changes != [("A", expected)]:
        shown = ", ".join(f"{s} {p}" for s, p in changes[:5]) or "nothing"
        raise Malformed(
            f"the commit of {item.ref} must add exactly {expected} and change "
            f"nothing else; it changes: {shown}"
        )
    blob = commit.tree[expected]
    if not isinstance(blob, pygit2.Blob) or blob.filemode != pygit2.enums.FileMode.BLOB:
        raise Malformed(f"{expected} is not a file")
    if blob.size > max_bytes:
        raise TooLarge(f"delta file is {blob.size} bytes; the limit is {max_bytes}")
    return blob.data
