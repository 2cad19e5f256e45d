"""Replay of a historical frame: identical, or the files and JSON paths that differ."""

from __future__ import annotations

import pygit2

from gnp import frames, roster
from gnp.hub import Hub
from gnp.replay import frame_commits, replay
from tests.hubtools import agent


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


def test_replay_names_the_files_and_paths_that_differ(demo_hub: Hub) -> None:
    frames.run(demo_hub, roster.parse([agent("poster-1", "post")]))
    doctor_frame(demo_hub)
    report = replay(demo_hub, 1)
    assert not report.identical
    assert report.differences == ["stats.json"]
    assert report.paths == ["stats.json#/posts"]


def test_frame_commits_are_found_in_one_walk(demo_hub: Hub) -> None:
    for _ in range(3):
        frames.run(demo_hub, roster.parse([agent("poster-1", "post")]))
    found = frame_commits(demo_hub, 2, 3)
    assert sorted(found) == [2, 3]
    assert found[3].id == demo_hub.main().id and found[2].id == demo_hub.main().parents[0].id
    assert [replay(demo_hub, n, str(c.id)).identical for n, c in found.items()] == [True, True]
