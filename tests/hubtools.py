"""Helpers for tests that use a real hub."""

from __future__ import annotations

import subprocess
from typing import Any

import pygit2

from gnp import Op, canonical, compose, trees
from gnp.delta import Delta
from gnp.hub import Hub
from gnp.inbox import submit
from gnp.layout import delta_path, ref_name
from gnp.signing import DOMAIN
from tests.conftest import worker_key


def incr(file: str = "stats.json", path: str = "/count", value: int = 1) -> Op:
    return Op("incr", file, path, value)


def agent(worker: str, name: str, **extra: Any) -> dict[str, Any]:
    """A roster entry running one of the demo's simulated agents (gnp.demo)."""
    return {"id": worker, "call": f"gnp.demo:{name}", **extra}


def make(hub: Hub, worker: str, *ops: Op, authority: int = 0) -> Delta:
    key = worker_key(hub, worker)
    return key.sign(compose(worker, list(ops), frame=hub.state().frame, authority=authority))


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
