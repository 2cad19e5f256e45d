"""One verdict per roster worker per frame, however many times its work is attempted.

Theory of operation: a worker's task may run more than once in one frame, and the frame
may make a fallback for it besides. A cluster re-runs a task whose process died (Dask's
``allowed-failures``), and the frame's process makes a fallback for a task that ended
without an outcome (:func:`gnp.frame.workers.stand_in`). Had the first attempt pushed
its delta before its process died, either would give the worker a second verdict: its
edits twice, or its edits and a fallback saying it failed.

So the frame gives each roster worker's run a :func:`token`, 128 random bits, and every
attempt of that run signs its delta or its fallback with the token as the delta's
``nonce``. Before an attempt runs the work, and before a fallback is made for it, the
inbox is searched for a delta of that worker, signed by that worker's key, whose nonce
is the token (:func:`delivered`): if there is one, it is the run's verdict, and nothing
is run or signed again. The search reads only that worker's inbox refs.

The janitor, which gives a worker whose process died before it reported a fallback,
asks the same of the run its ownership record names, later, when the run's verdict may
have been merged already (:func:`verdict_of` also reads the frames archived since the
run began): a killed attempt's leftovers then get no second verdict.

What this holds: attempts one after another (a process dies, then another attempt
starts) give one verdict, whichever of them pushed it. What it cannot hold: two
attempts at once, each past its search before the other pushed (a cluster that took a
live process for dead, across a network partition, and ran its task again meanwhile);
each pushes a delta. A process that dies leaves its command running, unsupervised,
where it ran: its edits are never read (the command is not the attempt's verdict), and
``gnp janitor`` on that machine stops it (module doc of :mod:`gnp.process.janitor`).
"""

from __future__ import annotations

import secrets

from gnp.core.admit import admit
from gnp.core.delta import Delta, decode
from gnp.core.errors import Refused
from gnp.core.layout import frame_dir, parse_ref
from gnp.git import trees
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot, take


def token() -> str:
    """A new run's token: the nonce of whatever delta its attempts sign (32 hex digits,
    as a nonce is)."""
    return secrets.token_hex(16)


def delivered(hub: Hub, worker: str, run: str) -> Delta | None:
    """The delta ``worker`` signed for the run whose token is ``run``, if one is in the
    hub's inbox now; a ref that is not a sound, signed delta of the worker is passed over
    (anyone who can push may push one, and only the worker's key makes it the worker's)."""
    hub.refresh()  # what other processes pushed meanwhile
    state = hub.state()
    keyring = state.keyring()
    for item in snapshot(hub):
        named = parse_ref(item.ref)
        if named is None or named[0] != worker:
            continue
        try:
            delta = admit(take(hub, item, state.limits.max_bytes), keyring, state.limits)
        except Refused:
            continue
        if delta.worker == worker and delta.nonce == run:
            return delta
    return None


def verdict_of(hub: Hub, worker: str, run: str, *, since: int = 0) -> Delta | None:
    """The delta ``worker`` signed for the run ``run``, in the inbox or archived by a frame
    after frame ``since`` (the frame the run began at)."""
    found = delivered(hub, worker, run)
    if found is not None:
        return found
    state = hub.state()
    tree = hub.main().tree
    for frame in range(max(since, 0) + 1, state.frame + 1):
        folder = trees.subtree(tree, f"{frame_dir(frame)}/deltas/{worker}")
        for _, blob in trees.blobs(folder) if folder is not None else ():
            try:  # admitted when it was archived; read again, it is only compared
                delta = decode(blob.data, state.limits)
            except Refused:
                continue
            if delta.worker == worker and delta.nonce == run:
                return delta
    return None
