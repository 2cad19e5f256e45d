"""Replay of a historical frame: identical, or the files and JSON paths that differ."""

from __future__ import annotations

import pytest

from gnp.core.errors import UsageError
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.replay import frame_commits, frames_to_replay, replay
from tests.helpers.hubs import doctor_frame, incr, send


@pytest.mark.damages_hub
def test_replay_names_the_files_and_paths_that_differ(demo_hub: Hub) -> None:
    send(demo_hub, "poster-1", incr("stats.json", "/posts"))
    run_frame(demo_hub)
    assert replay(demo_hub, 1).identical
    doctor_frame(demo_hub)
    report = replay(demo_hub, 1)
    assert not report.identical
    assert report.differences == ["stats.json"]
    assert report.paths == ["stats.json#/posts"]


def test_frame_commits_are_found_in_one_walk(demo_hub: Hub) -> None:
    for _ in range(3):
        send(demo_hub, "poster-1", incr("stats.json", "/posts"))
        run_frame(demo_hub)
    found = frame_commits(demo_hub, 2, 3)
    assert sorted(found) == [2, 3]
    assert found[3].id == demo_hub.main().id and found[2].id == demo_hub.main().parents[0].id
    assert [replay(demo_hub, n, str(c.id)).identical for n, c in found.items()] == [True, True]


def test_which_frames_a_replay_covers(hub: Hub) -> None:
    where = str(hub.path)
    assert frames_to_replay(where, None, None, None) == []  # a new hub: nothing, not an error
    for _ in range(2):
        send(hub, "alice", incr())
        run_frame(hub)
    assert frames_to_replay(where, None, None, None) == [1, 2]
    assert frames_to_replay(where, 2, None, None) == [2]
    assert frames_to_replay(where, None, 2, None) == [2]
    assert frames_to_replay(where, None, None, 1) == [1]
    for bad, message in [
        ((1, 1, None), "not both"),
        ((None, 0, None), "cannot replay 0 to 2"),
        ((None, 2, 1), "cannot replay 2 to 1"),
    ]:
        with pytest.raises(UsageError, match=message):
            frames_to_replay(where, *bad)


@pytest.mark.damages_hub
def test_a_damaged_archive_is_named_not_taken_for_a_refused_delta(hub: Hub) -> None:
    from gnp.core import canonical
    from gnp.core.layout import frame_dir
    from gnp.git import trees
    from gnp.lineage.frames import record_lineage

    send(hub, "alice", incr())
    run_frame(hub)
    path = f"{frame_dir(1)}/verdicts.json"
    recorded = hub.main()
    damaged = canonical.encode_pretty([{"source": "refs/x", "outcome": "expired"}])
    tree = trees.edit(hub.repo, recorded.tree, {path: damaged})
    sig = recorded.author
    doctored = hub.repo.create_commit(
        None, sig, sig, recorded.message, tree, [recorded.parents[0].id]
    )
    hub.repo.references["refs/heads/main"].set_target(doctored)
    for reading in (lambda: replay(hub, 1), lambda: record_lineage(hub, 1)):
        with pytest.raises(UsageError, match=rf"{path} on commit \w+ is damaged"):
            reading()
