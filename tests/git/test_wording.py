"""A frame records the wording of its reasons, and replay words them the same way: a
frame merged before the wording changed still replays, and `gnp verify` passes it."""

from __future__ import annotations

import pytest

from gnp import Op
from gnp.core import wording
from gnp.core.errors import UsageError
from gnp.core.verdict import Outcome
from gnp.git import engine
from gnp.git.engine import WORDING_TRAILER, run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot
from gnp.git.replay import recorded_wording, replay
from gnp.host import clock
from tests.helpers.hubs import send, unverified


def root_conflict(hub: Hub) -> None:
    send(hub, "alice", Op("add", "status.json", "", {"up": True}))
    send(hub, "bob", Op("add", "status.json", "", {"up": False}))


def test_a_frame_records_its_wording_and_names_the_whole_document(hub: Hub) -> None:
    root_conflict(hub)
    report = run_frame(hub)
    assert f"\n{WORDING_TRAILER}: {wording.CURRENT}\n" in hub.main().message
    assert recorded_wording(hub.main()) == wording.CURRENT
    (lost,) = [v for v in report.verdicts if v.outcome is Outcome.CONFLICT]
    assert "at status.json (whole document);" in (lost.reason or "")
    assert replay(hub, 1).identical


@pytest.mark.damages_hub  # built by hand, as an older gnp left it
def test_a_frame_of_the_first_wording_replays_as_it_was_worded(hub: Hub) -> None:
    """An engine of the first wording wrote the root as ``status.json:/`` and recorded no
    wording. Replay words that frame's reasons as it did, so its tree is rebuilt exactly;
    worded as today, the archived verdicts would differ."""
    root_conflict(hub)
    base = hub.state()
    taken = engine.arrivals(hub, snapshot(hub), base.limits.max_bytes)
    settled = engine.settle_on(base, 1, taken, clock.now(), wording.FIRST)
    commit = engine.build_commit(hub, base.commit, settled)
    assert hub.advance_main(base.commit.id, commit, "gnp frame 1")
    assert WORDING_TRAILER not in hub.main().message
    assert recorded_wording(hub.main()) == wording.FIRST
    (lost,) = [v for v in settled.verdicts if v.outcome is Outcome.CONFLICT]
    assert "at status.json:/;" in (lost.reason or "")
    assert replay(hub, 1).identical
    assert run_frame(hub).frame is None  # sweeps the refs, as the engine would have
    assert unverified(hub) == []
    # The next frame, on the same hub, is of today's wording.
    send(hub, "carol", Op("replace", "status.json", "", {"up": None}))
    send(hub, "dave", Op("replace", "status.json", "", {"up": 1}))
    run_frame(hub)
    assert recorded_wording(hub.main()) == wording.CURRENT
    assert replay(hub, 1).identical and replay(hub, 2).identical


@pytest.mark.damages_hub
def test_a_frame_whose_wording_record_is_removed_does_not_replay(hub: Hub) -> None:
    """The record is what replay holds the frame to: without it, the archived reasons no
    longer match, and replay says where."""
    root_conflict(hub)
    run_frame(hub)
    recorded = hub.main()
    message = recorded.message.replace(f"{WORDING_TRAILER}: {wording.CURRENT}\n", "")
    doctored = hub.repo.create_commit(
        None, recorded.author, recorded.committer, message, recorded.tree.id,
        [recorded.parents[0].id],
    )  # fmt: skip
    hub.repo.references["refs/heads/main"].set_target(doctored)
    report = replay(hub, 1)
    assert not report.identical
    assert any(p.endswith("/verdicts.json#/1/reason") for p in report.paths), report.paths
    [finding] = unverified(hub)
    assert "does not replay, but only in the words of its reasons" in finding, finding
    assert "forged or rewritten" not in finding


@pytest.mark.damages_hub
@pytest.mark.parametrize("recorded", ["9", "two", "2\nGnp-Wording: 1"])
def test_a_damaged_or_unknown_wording_is_a_usage_error_naming_it(hub: Hub, recorded: str) -> None:
    send(hub, "alice", Op("incr", "stats.json", "/n", 1))
    run_frame(hub)
    tip = hub.main()
    message = tip.message.replace(
        f"{WORDING_TRAILER}: {wording.CURRENT}", f"{WORDING_TRAILER}: {recorded}"
    )
    doctored = hub.repo.create_commit(
        None, tip.author, tip.committer, message, tip.tree.id, [tip.parents[0].id]
    )
    hub.repo.references["refs/heads/main"].set_target(doctored)
    with pytest.raises(UsageError, match=f"the {WORDING_TRAILER} trailer of commit .* is damaged"):
        replay(hub, 1)
