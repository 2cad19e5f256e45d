from __future__ import annotations

import os
import time

import pygit2
import pytest

from gnp import Malformed
from gnp.core.layout import delta_path, parse_ref, ref_name
from gnp.git.hub import Hub
from gnp.git.inbox import Item, remove, snapshot, submit, take
from gnp.process.janitor import sweep
from tests.helpers.hubs import incr, make, push_raw


def test_submit_adds_exactly_one_file_on_a_commit_whose_parent_is_main(hub: Hub) -> None:
    delta = make(hub, "alice", incr())
    main = hub.main()
    submit(hub, delta)
    [item] = snapshot(hub)
    assert item.ref == ref_name("alice", delta.id)
    commit = hub.repo[item.target]
    assert isinstance(commit, pygit2.Commit)
    assert [p.id for p in commit.parents] == [main.id]
    assert take(hub, item) == delta.encode()
    diff = main.tree.diff_to_tree(commit.tree)
    assert [d.new_file.path for d in diff.deltas] == [delta_path("alice", delta.id)]


def test_submitting_the_same_delta_twice_is_one_ref(hub: Hub) -> None:
    delta = make(hub, "alice", incr())
    submit(hub, delta)
    submit(hub, delta)
    assert len(snapshot(hub)) == 1


def test_two_identical_requests_are_two_refs(hub: Hub) -> None:
    submit(hub, make(hub, "alice", incr()))
    submit(hub, make(hub, "alice", incr()))
    assert len(snapshot(hub)) == 2


def test_take_refuses_unsound_pushes(hub: Hub) -> None:
    delta = make(hub, "alice", incr())
    name = push_raw(hub, "alice", delta.id, delta.encode(), extra={"x.json": b"{}"})
    with pytest.raises(Malformed, match=r"it changes: A \.gnp/inbox/alice/.*, A x\.json"):
        take(hub, Item(name, hub.repo.lookup_reference(name).target))
    with pytest.raises(Malformed, match="is not an inbox ref"):
        take(hub, Item("refs/gnp/inbox/Alice!/x", hub.main().id))
    root = hub.repo.create_commit(
        None, hub.main().author, hub.main().author, "orphan", hub.main().tree.id, []
    )
    with pytest.raises(Malformed, match="exactly one parent"):
        take(hub, Item(ref_name("alice", delta.id), root))


def test_remove_only_removes_what_the_snapshot_saw(hub: Hub) -> None:
    delta = make(hub, "alice", incr())
    submit(hub, delta)
    [item] = snapshot(hub)
    moved = Item(item.ref, hub.main().id)  # the ref was pushed again since the boundary
    assert not remove(hub, moved)
    assert remove(hub, item)
    assert not remove(hub, item)  # already gone


def test_parse_ref() -> None:
    assert parse_ref(ref_name("w-1", "a" * 64)) == ("w-1", "a" * 64)
    for bad in (
        "refs/gnp/inbox/w",
        "refs/gnp/inbox/W/" + "a" * 64,
        "refs/gnp/inbox/w/" + "a" * 63,
        "refs/gnp/inbox/w/x/" + "a" * 64,
    ):
        assert parse_ref(bad) is None


def test_janitor_removes_stale_locks_only(hub: Hub) -> None:
    stale = hub.path / "refs" / "heads" / "main.lock"
    fresh = hub.path / "refs" / "heads" / "other.lock"
    stale.write_text("x")
    fresh.write_text("x")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    report = sweep(hub)
    assert report.removed == [f"stale lock {stale}"]
    assert fresh.exists() and not stale.exists()


def test_an_inbox_ref_holding_another_delta_is_not_taken_for_this_one(hub: Hub) -> None:
    from gnp import GnpError

    delta = make(hub, "alice", incr())
    submit(hub, delta)
    first = hub.repo.lookup_reference(ref_name("alice", delta.id)).target
    # Submitted again after main moved: another commit, the same delta file. Fine.
    hub.commit_on_main(lambda _: {"x.json": b"{}\n"}, "gnp seed: an owner's commit\n")
    submit(hub, delta)
    assert hub.repo.lookup_reference(ref_name("alice", delta.id)).target == first
    # A ref squatted by a commit holding other bytes: not delivered, and said so.
    squatted = make(hub, "bob", incr())
    push_raw(hub, "bob", squatted.id, b"{}")
    with pytest.raises(GnpError, match=r"already holds .* at another commit"):
        submit(hub, squatted)
