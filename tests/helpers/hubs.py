"""Hubs, workers and deltas for tests: made, sent, forged and read back."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2

from gnp import Op, SigningKey, canonical, compose
from gnp.core.delta import Delta
from gnp.core.errors import GnpError
from gnp.core.layout import delta_path, ref_name
from gnp.core.signing import DOMAIN
from gnp.git import trees
from gnp.git.hub import Hub
from gnp.git.inbox import submit
from gnp.git.registry import register
from gnp.host import clock, keys


def incr(file: str = "stats.json", path: str = "/count", value: int = 1) -> Op:
    return Op("incr", file, path, value)


def agent(worker: str, name: str, **extra: Any) -> dict[str, Any]:
    """A roster entry running one of the demo's simulated agents (gnp.demo)."""
    return {"id": worker, "call": f"gnp.demo:{name}", **extra}


def worker_key(hub: Hub, worker: str) -> SigningKey:
    """Register ``worker`` on ``hub`` (once) and return its private key."""
    path = keys.key_path(hub.state().hub_id, worker)
    if not path.exists():
        register(hub, worker)
    return keys.load(hub.state().hub_id, worker)


def make(hub: Hub, worker: str, *ops: Op, authority: int = 0) -> Delta:
    key = worker_key(hub, worker)
    frame = hub.state().frame
    return key.sign(
        compose(worker, list(ops), frame=frame, stamp=clock.stamp(), authority=authority)
    )


def send(hub: Hub, worker: str, *ops: Op, authority: int = 0) -> Delta:
    delta = make(hub, worker, *ops, authority=authority)
    submit(hub, delta)
    return delta


def push_raw(
    hub: Hub, worker: str, delta_id: str, data: bytes, extra: dict[str, bytes] | None = None
) -> str:
    """Push arbitrary bytes as a delta commit, as a hostile or broken worker might."""
    base = hub.main()
    changes: dict[str, trees.Change] = {delta_path(worker, delta_id): data, **(extra or {})}
    tree = trees.edit(hub.repo, base.tree, changes)
    sig = pygit2.Signature(worker, f"{worker}@x")
    commit = hub.repo.create_commit(None, sig, sig, "raw", tree, [base.id])
    name = ref_name(worker, delta_id)
    hub.repo.references.create(name, commit, force=True)
    return name


def signed_raw(hub: Hub, worker: str, body: dict[str, Any]) -> tuple[str, bytes]:
    """Sign an arbitrary body with ``worker``'s real key, bypassing every local check."""
    import base64
    import hashlib

    key = worker_key(hub, worker)
    encoded = canonical.encode(body)
    sig = base64.b64encode(key.key.sign(DOMAIN + encoded)).decode()
    return hashlib.sha256(encoded).hexdigest(), canonical.encode({**body, "sig": sig})


def state(hub: Hub, file: str) -> Any:
    return hub.state().document(file)


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False)


def amend_main(hub: Hub, changes: dict[str, trees.Change]) -> pygit2.Oid:
    """Rewrite main's tip in place with ``changes``, its message and parents kept: a frame
    commit hand-edited, or written by a version of gnp that archives differently."""
    tip = hub.main()
    tree = trees.edit(hub.repo, tip.tree, changes)
    amended = hub.repo.create_commit(
        None, tip.author, tip.committer, tip.message, tree, list(tip.parent_ids)
    )
    hub.repo.references["refs/heads/main"].set_target(amended)
    return amended


def doctor_frame(hub: Hub) -> None:
    """Replace the last frame on main with one whose stats.json says 99 posts, as a
    corrupted or hand-edited history would."""
    repo = hub.repo
    recorded = hub.main()
    blob = repo.create_blob(b'{\n  "comments": 0,\n  "posts": 99,\n  "visits": 0\n}\n')
    builder = repo.TreeBuilder(recorded.tree)
    builder.insert("stats.json", blob, pygit2.GIT_FILEMODE_BLOB)
    sig = recorded.author
    doctored = repo.create_commit(
        None, sig, sig, recorded.message, builder.write(), [recorded.parents[0].id]
    )
    repo.references["refs/heads/main"].set_target(doctored)


def hubs_under(folder: Path) -> Iterator[Hub]:
    """Every gnp hub (a bare repository whose main is a hub's) in ``folder``, but not the
    workers' repositories and mirrors under ``$GNP_HOME``."""
    home = os.environ.get("GNP_HOME")
    for where, dirs, files in os.walk(folder):
        if home is not None and Path(where) == Path(home):
            dirs.clear()
            continue
        if "HEAD" in files and {"objects", "refs"} <= set(dirs) and Path(where).name != ".git":
            dirs.clear()  # a bare repository (hubs are bare; a clone is not a hub)
            try:
                yield Hub.at(where)
            except GnpError:
                continue  # a repository, but not a hub


def unverified(hub: Hub) -> list[str]:
    """What `gnp verify` finds wrong with ``hub``, one line each; [] if nothing."""
    from gnp.git.verify import verify

    result = verify(hub)
    return [f"{hub.path}: {c.name}: {f.line()}" for c in result.checks for f in c.findings]
