"""Invariant 7, nothing stuck: no delta, however built, stops a later frame, and what
admission refuses is not archived (issue: "No work lost, nothing stuck")."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import pytest

from gnp import Op, canonical
from gnp.core import rounds
from gnp.core.layout import frame_dir
from gnp.core.verdict import Outcome
from gnp.git import trees
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot
from gnp.git.replay import frame_record, replay
from gnp.host import clock
from gnp.lineage.store import rows
from tests.helpers.hubs import incr, push_raw, send, signed_raw, state


def _doubling_body(hub: Hub, worker: str) -> dict[str, Any]:
    """The delta seen stopping every frame: 200 KB, then 16 copies of the whole document
    into itself, each doubling it. Valid, signed by a registered worker, under every
    limit on what a delta is; only what it would produce is too large."""
    ops = [{"op": "add", "file": "bomb.json", "path": "", "value": {"a0": "x" * 200_000}}]
    ops += [{"op": "copy", "file": "bomb.json", "path": f"/a{i}", "from": ""} for i in range(1, 17)]
    return {
        "v": 1,
        "worker": worker,
        "author": worker,
        "authority": 0,
        "frame": hub.state().frame,
        "utc": clock.now(),
        "nonce": "0" * 32,
        "status": "ok",
        "error": None,
        "ops": ops,
    }


def test_a_delta_that_would_exhaust_memory_is_rejected_and_the_frame_goes_on(hub: Hub) -> None:
    honest = send(hub, "alice", incr())
    body = _doubling_body(hub, "mallory")
    send(hub, "mallory", incr("other.json"))  # registers mallory
    run_frame(hub)
    honest = send(hub, "alice", incr())
    body["frame"] = hub.state().frame
    bomb_id, data = signed_raw(hub, "mallory", body)
    push_raw(hub, "mallory", bomb_id, data)
    report = run_frame(hub)
    verdicts = {v.delta: v for v in report.verdicts}
    assert verdicts[honest.id].outcome is Outcome.APPLIED
    assert verdicts[bomb_id].outcome is Outcome.REJECTED
    assert verdicts[bomb_id].code == "too-large"
    assert "max_growth" in str(verdicts[bomb_id].reason)
    assert snapshot(hub) == []  # it left the inbox with its verdict
    assert state(hub, "stats.json") == {"count": 2}
    assert "bomb.json" not in hub.main().tree
    assert replay(hub, report.frame or 0).identical


def test_a_delta_whose_processing_raises_is_rejected_alone(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever processing one delta raises (here a RecursionError, as a bug in gnp
    would), that delta is rejected with the reason and the others apply."""
    real = rounds._footprints

    def failing(delta: Any, *rest: Any) -> Any:
        if delta.worker == "mallory":
            raise RecursionError("maximum recursion depth exceeded")
        return real(delta, *rest)

    honest = [send(hub, w, incr()) for w in ("alice", "bob")]
    bad = send(hub, "mallory", incr())
    monkeypatch.setattr(rounds, "_footprints", failing)
    report = run_frame(hub)
    verdicts = {v.delta: v for v in report.verdicts}
    assert [verdicts[d.id].outcome for d in honest] == [Outcome.APPLIED] * 2
    assert verdicts[bad.id].outcome is Outcome.REJECTED
    assert verdicts[bad.id].code == "internal-error"
    assert "RecursionError" in str(verdicts[bad.id].reason)
    assert snapshot(hub) == [] and state(hub, "stats.json") == {"count": 2}
    # Settled: it can never come back to stop a frame.
    assert hub.state().settled(bad.id)


def test_refused_bytes_are_not_archived_but_their_size_and_hash_are(hub: Hub) -> None:
    good = send(hub, "alice", incr())
    junk = [os.urandom(64 * 1024) for _ in range(3)]
    sources = [push_raw(hub, "stranger", f"{i:064x}", data) for i, data in enumerate(junk)]
    before = sum(1 for _ in hub.repo.walk(hub.main().id))
    report = run_frame(hub)
    assert sum(1 for _ in hub.repo.walk(hub.main().id)) == before + 1
    archive = f"{frame_dir(1)}/deltas"
    tree = hub.main().tree
    assert trees.read(tree, f"{archive}/alice/{good.id}.json") is not None
    assert f"{archive}/stranger" not in tree  # main keeps none of the refused bytes
    for source, data in zip(sources, junk, strict=True):
        verdict = next(v for v in report.verdicts if v.source == source)
        assert verdict.outcome is Outcome.REJECTED
        assert (verdict.size, verdict.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    recorded = json.loads(trees.read(tree, f"{frame_dir(1)}/verdicts.json") or b"[]")
    assert {v.get("sha256") for v in recorded} >= {hashlib.sha256(d).hexdigest() for d in junk}
    lineage = {r["source"]: r for r in rows(frame_record(hub, 1))}
    for source, data in zip(sources, junk, strict=True):
        row = lineage[source]
        assert (row["bytes"], row["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        assert row["status"] == "rejected" and row["reason"]
    assert lineage[f"refs/gnp/inbox/alice/{good.id}"]["sha256"] is not None
    assert replay(hub, 1).identical  # a refusal replays from its recorded verdict


def test_a_frame_that_archived_refused_bytes_still_replays(hub: Hub) -> None:
    """Frames merged before refused bytes were left out of the archive kept them; their
    replay must still give the recorded tree."""
    send(hub, "alice", incr())
    source = push_raw(hub, "stranger", "f" * 64, b"not a delta")
    report = run_frame(hub)
    # Rebuild the frame's commit the old way: the refused bytes archived, no size/hash.
    commit = hub.main()
    verdicts = json.loads(trees.read(commit.tree, f"{frame_dir(1)}/verdicts.json") or b"[]")
    for v in verdicts:
        v.pop("size", None), v.pop("sha256", None)
    old = trees.edit(
        hub.repo,
        commit.tree,
        {
            f"{frame_dir(1)}/verdicts.json": canonical.encode_pretty(verdicts),
            f"{frame_dir(1)}/deltas/stranger/{'f' * 64}.json": b"not a delta",
        },
    )
    sig = commit.author
    rebuilt = hub.repo.create_commit(None, sig, sig, commit.message, old, [commit.parents[0].id])
    hub.repo.references["refs/heads/main"].set_target(rebuilt)
    assert report.frame == 1 and source
    assert replay(hub, 1).identical


def test_the_engine_enforces_every_limit_whatever_submit_checked(hub: Hub) -> None:
    """A registered worker that skips ``gnp submit``'s checks: too many operations, a
    number no JSON carries, a pointer too deep. Each is refused at the frame."""
    send(hub, "dave", incr())
    run_frame(hub)
    base: dict[str, Any] = {
        "v": 1,
        "worker": "dave",
        "author": "dave",
        "authority": 0,
        "frame": hub.state().frame,
        "utc": clock.now(),
        "status": "ok",
        "error": None,
    }
    bodies = [
        [{"op": "incr", "file": "s.json", "path": "/n", "value": 1}] * 1001,
        [{"op": "incr", "file": "s.json", "path": "/n", "value": 2**13001}],
        [{"op": "add", "file": "s.json", "path": "/a" * 70, "value": 1}],
    ]
    ids = []
    for i, ops in enumerate(bodies):
        delta_id, data = signed_raw(hub, "dave", {**base, "nonce": f"{i:032x}", "ops": ops})
        push_raw(hub, "dave", delta_id, data)
        ids.append(delta_id)
    report = run_frame(hub)
    verdicts = {v.delta: v for v in report.verdicts}
    assert [verdicts[i].outcome for i in ids] == [Outcome.REJECTED] * 3
    assert "s.json" not in hub.main().tree
    assert snapshot(hub) == []


def test_op_values_in_the_archive_are_canonical(hub: Hub) -> None:
    """A delta that is admitted is archived byte for byte as signed."""
    delta = send(hub, "alice", Op("add", "c.json", "", {"b": 1}))
    run_frame(hub)
    archived = trees.read(hub.main().tree, f"{frame_dir(1)}/deltas/alice/{delta.id}.json")
    assert archived == delta.encode()
