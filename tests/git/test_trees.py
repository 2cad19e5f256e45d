from __future__ import annotations

from pathlib import Path

import pygit2

from gnp.git import trees


def tree(repo: pygit2.Repository, files: dict[str, bytes]) -> pygit2.Tree:
    t = repo[trees.edit(repo, None, files)]
    assert isinstance(t, pygit2.Tree)
    return t


def test_edit_rewrites_only_the_paths_it_is_given(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    base = tree(repo, {"a/x.json": b"1", "a/y.json": b"2", "b/z.json": b"3"})
    new = repo[trees.edit(repo, base, {"a/x.json": b"9", "b/z.json": None, "c/n.json": b"4"})]
    assert isinstance(new, pygit2.Tree)
    assert trees.read(new, "a/x.json") == b"9" and trees.read(new, "a/y.json") == b"2"
    assert "b" not in new  # an emptied folder disappears
    assert trees.read(new, "c/n.json") == b"4"
    assert trees.read(new, "nope.json") is None and trees.read(new, "a") is None


def test_changes_reports_added_deleted_modified_and_kind_changes(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    old = tree(repo, {"same/a.json": b"1", "m.json": b"1", "gone.json": b"1", "k": b"file"})
    new = tree(repo, {"same/a.json": b"1", "m.json": b"2", "new/x.json": b"1", "k/in.json": b"x"})
    assert trees.changes(old, new) == [
        ("D", "gone.json"),
        ("A", "k/in.json"),
        ("D", "k"),
        ("M", "m.json"),
        ("A", "new/x.json"),
    ]
    assert trees.changes(old, old) == []
    assert len(trees.changes(old, new, limit=2)) == 2


def test_blobs_lists_every_file_with_its_path_at_any_depth(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    deep = "/".join(["d"] * 200) + "/x.json"  # deeper than the interpreter would recurse
    files = {"a.json": b"1", "s/b.json": b"2", "s/t/c.txt": b"3", deep: b"4"}
    found = {path: blob.data for path, blob in trees.blobs(tree(repo, files))}
    assert found == files
