"""The worktree's snapshot: files gnp wrote are not read again, and no edit hides from it.

The work may set a file's size and modification time back to what they were; only the
change time, which no call sets to a chosen value, tells such an edit apart. Each test
edits a real worktree the way a hostile or careless work could.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from pathlib import Path

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnp.core import canonical
from gnp.git import trees
from gnp.git.hub import Hub
from gnp.git.local import LocalRepo
from gnp.process import snapshot
from gnp.process.edits import changed
from gnp.process.worktree import Worktree, worktree

FILES = {f"d/{i}.json": canonical.encode({"n": i, "word": "aaaa"}) for i in range(20)}


def seeded(hub: Hub) -> None:
    hub.commit_on_main(lambda state: dict(FILES), "gnp seed: twenty state files\n")


def start_tree(wt: Worktree) -> pygit2.Tree:
    commit = wt.local.repo[wt.start]
    assert isinstance(commit, pygit2.Commit)
    return commit.tree


def same_size_edit(path: Path) -> None:
    """Change the file's bytes, keep its size, and put its modification time back."""
    before = os.lstat(path)
    path.write_bytes(path.read_bytes().replace(b"aaaa", b"bbbb"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.lstat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_worktree_is_main_byte_for_byte_and_clean_to_git(hub: Hub, local: LocalRepo) -> None:
    seeded(hub)
    with worktree(local, "w") as wt:
        for path, data in FILES.items():
            assert (wt.path / path).read_bytes() == data
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=wt.path, capture_output=True, text=True
        )
        assert status.returncode == 0 and status.stdout == ""
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=wt.path, capture_output=True, text=True
        )
        assert head.stdout.strip() == str(wt.start)
        assert set(wt.before.files) == set(FILES)


def test_an_edit_that_keeps_size_and_modification_time_is_found(hub: Hub, local: LocalRepo) -> None:
    seeded(hub)
    with worktree(local, "w") as wt:
        same_size_edit(wt.path / "d/3.json")
        assert changed(wt.path, start_tree(wt), wt.before) == ["d/3.json"]


def test_a_file_replaced_by_one_of_the_same_size_and_times_is_found(
    hub: Hub, local: LocalRepo
) -> None:
    seeded(hub)
    with worktree(local, "w") as wt:
        target = wt.path / "d/4.json"
        was = os.lstat(target)
        other = wt.path / "other"
        other.write_bytes(target.read_bytes().replace(b"aaaa", b"cccc"))
        os.utime(other, ns=(was.st_atime_ns, was.st_mtime_ns))
        os.replace(other, target)
        assert changed(wt.path, start_tree(wt), wt.before) == ["d/4.json"]


def test_a_file_rewritten_with_its_own_bytes_is_not_a_change(hub: Hub, local: LocalRepo) -> None:
    seeded(hub)
    with worktree(local, "w") as wt:
        target = wt.path / "d/5.json"
        target.write_bytes(target.read_bytes())  # a new change time: read, and equal
        os.chmod(target, 0o600)
        assert not wt.before.unchanged("d/5.json", snapshot.Entry.of(os.lstat(target)))
        assert changed(wt.path, start_tree(wt), wt.before) == []


def test_files_written_before_the_mark_are_vouched_for(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b"{}")
    time.sleep(0.05)  # past any filesystem clock's tick
    taken = snapshot.take(tmp_path)
    assert list(tmp_path.iterdir()) == [tmp_path / "a.json"]  # the mark is gone
    entry = snapshot.Entry.of(os.lstat(tmp_path / "a.json"))
    assert taken.unchanged("a.json", entry)
    assert not taken.unchanged("b.json", entry)


def test_a_file_written_in_the_marks_tick_is_read_and_compared(hub: Hub, local: LocalRepo) -> None:
    """Were the work's write in the same clock tick as the checkout's, its change time
    would be the one recorded: such a file is never vouched for."""
    seeded(hub)
    with worktree(local, "w") as wt:
        entry = wt.before.files["d/6.json"]
        racy = dataclasses.replace(wt.before, mark_ns=entry.ctime_ns)
        assert not racy.unchanged("d/6.json", entry)
        assert changed(wt.path, start_tree(wt), racy) == []
        (wt.path / "d/6.json").write_bytes(b'{"n": 6}')
        assert changed(wt.path, start_tree(wt), racy) == ["d/6.json"]


def test_without_a_snapshot_every_file_is_compared(hub: Hub, local: LocalRepo) -> None:
    seeded(hub)
    with worktree(local, "w") as wt:
        same_size_edit(wt.path / "d/7.json")
        (wt.path / "d/8.json").unlink()
        (wt.path / "new.json").write_bytes(b"[]")
        found = changed(wt.path, start_tree(wt), snapshot.NOTHING)
        assert found == ["d/7.json", "d/8.json", "new.json"]
        assert changed(wt.path, start_tree(wt), wt.before) == found


def test_reading_stops_once_the_deadline_has_passed(hub: Hub, local: LocalRepo) -> None:
    seeded(hub)
    with worktree(local, "w") as wt:
        with pytest.raises(snapshot.OutOfTime, match="--timeout passed"):
            changed(wt.path, start_tree(wt), wt.before, deadline=time.monotonic() - 1)
        assert changed(wt.path, start_tree(wt), wt.before, deadline=time.monotonic() + 60) == []


EDITS = st.lists(
    st.tuples(
        st.sampled_from(("same-size", "same-bytes", "remove", "new", "folder", "link", "chmod")),
        st.integers(0, 19),
    ),
    max_size=6,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(EDITS)
def test_what_the_snapshot_vouches_for_is_what_reading_everything_finds(
    hub: Hub, local: LocalRepo, edits: list[tuple[str, int]]
) -> None:
    """With the snapshot of the tree checked out, the tree is not walked; the changes
    found are those found by reading every file against a walk of the tree."""
    if trees.read(hub.main().tree, "d/0.json") is None:
        seeded(hub)  # once: the hub outlives the examples
    with worktree(local, "w") as wt:
        for what, n in edits:
            path = wt.path / f"d/{n}.json"
            if what == "same-size" and path.is_file():
                same_size_edit(path)
            elif what == "same-bytes" and path.is_file():
                path.write_bytes(path.read_bytes())
            elif what == "remove" and path.is_file():
                path.unlink()
            elif what == "new":
                (wt.path / f"new/{n}.json").parent.mkdir(exist_ok=True)
                (wt.path / f"new/{n}.json").write_bytes(b"{}")
            elif what == "folder" and path.is_file():
                path.unlink()
                path.mkdir()
                (path / "inner.json").write_bytes(b"[]")
            elif what == "link" and path.is_file():
                path.unlink()
                path.symlink_to("/etc/hostname")
            elif what == "chmod" and path.is_file():
                path.chmod(0o600)
        tree = start_tree(wt)
        assert wt.before.tree == str(tree.id) and len(wt.before.files) == len(FILES)
        found = changed(wt.path, tree, wt.before)
        assert found == changed(wt.path, tree, snapshot.NOTHING)
        assert found == changed(wt.path, tree, dataclasses.replace(wt.before, tree=None))


def test_a_folder_swapped_for_a_link_mid_walk_is_not_entered_at_any_depth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's process still running could swap a folder for a link to elsewhere while
    gnp walks the worktree, after the folder was listed: the walk does not go through
    it, whether it is the folder being opened or one above it."""
    root = tmp_path / "wt"
    (root / "a" / "secret" / "deeper").mkdir(parents=True)
    (root / "a" / "secret" / "deeper" / "mine.json").write_text("{}")
    outside = tmp_path / "outside"
    (outside / "secret" / "deeper").mkdir(parents=True)
    (outside / "secret" / "deeper" / "found.json").write_text("{}")
    listdir = os.listdir
    swapped = []

    def swapping(fd: int) -> list[str]:
        names = listdir(fd)
        if "deeper" in names and not swapped:  # a/secret/ is being listed: swap a
            os.rename(root / "a", tmp_path / "away")
            (root / "a").symlink_to(outside)
            swapped.append(True)
        return names

    monkeypatch.setattr(snapshot.os, "listdir", swapping)
    found = snapshot.scan(root)
    assert swapped
    assert not [path for path in found if "found.json" in path], found
