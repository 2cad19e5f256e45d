"""Forged ownership records: a worker runs as the same user and can write one. Whatever
a record names, the janitor removes only worktrees gnp made, inside the worktree root it
manages; anything else is one report line, and left as it was."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gnp.git.hub import Hub
from gnp.git.local import LocalRepo
from gnp.process import owners
from gnp.process.janitor import sweep
from gnp.process.proc import process_start
from gnp.process.worktree import create, default_root
from gnp_cli import show

DEAD = 2**22 + 1  # above pid_max's default: no such process


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder the user can delete, holding something precious."""
    folder = tmp_path / "outside" / "w-1-forged"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    return folder


@pytest.fixture
def root(local: LocalRepo) -> Path:
    made = default_root()  # $GNP_WORKTREES, set by the local fixture
    made.mkdir(parents=True, exist_ok=True)
    return made


def forge(local: LocalRepo, name: str, record: dict[str, Any] | str) -> None:
    path = owners.record_path(local.path, name)
    path.parent.mkdir(exist_ok=True)
    text = record if isinstance(record, str) else json.dumps(record)
    path.write_text(text)


def dead(path: Path | str, **more: Any) -> dict[str, Any]:
    return {"pid": DEAD, "host": socket.gethostname(), "path": str(path), **more}


def kept_line(local: LocalRepo, hub: Hub, name: str) -> str:
    """Sweep; nothing is removed, and the one line said is about the record ``name``,
    whose record is still there."""
    report = sweep(hub)
    assert report.removed == [] and report.rescued == [] and report.fallbacks == []
    [line] = report.kept
    assert line.startswith(f"ownership record {name}: ") and line.endswith("; left alone")
    assert owners.record_path(local.path, name).exists()
    return line


def intact(folder: Path) -> bool:
    return (folder / "notes.txt").read_text() == "mine"


def test_a_record_naming_a_folder_outside_the_root_is_left_alone(
    hub: Hub, local: LocalRepo, root: Path, outside: Path
) -> None:
    forge(local, outside.name, dead(outside, branch=f"refs/heads/gnp/w/{outside.name}"))
    line = kept_line(local, hub, outside.name)
    assert "not inside the worktree root" in line and intact(outside)


def test_a_record_naming_the_root_itself_is_left_alone(
    hub: Hub, local: LocalRepo, root: Path
) -> None:
    (root / "notes.txt").write_text("mine")
    forge(local, root.name, dead(root))
    assert "not inside the worktree root" in kept_line(local, hub, root.name)
    assert intact(root)


def test_a_record_naming_a_link_to_an_outside_folder_is_left_alone(
    hub: Hub, local: LocalRepo, root: Path, outside: Path
) -> None:
    link = root / outside.name
    link.symlink_to(outside)
    forge(local, outside.name, dead(link))
    assert "not a folder (a link" in kept_line(local, hub, outside.name)
    assert intact(outside) and link.is_symlink()


@pytest.mark.parametrize(
    "dots", ["{root}/../outside/{name}", "{root}/x/../{name}", "{root}/./{name}"]
)
def test_a_record_with_dots_in_its_path_is_left_alone(
    hub: Hub, local: LocalRepo, root: Path, outside: Path, dots: str
) -> None:
    (root.parent / "outside").mkdir(exist_ok=True)
    target = root.parent / "outside" / outside.name
    if not target.exists():
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    (root / outside.name).mkdir()  # what a lexical reading of some of them would name
    (root / outside.name / "notes.txt").write_text("mine")
    forge(local, outside.name, dead(dots.format(root=root, name=outside.name)))
    assert "without '..'" in kept_line(local, hub, outside.name)
    assert intact(target) and intact(root / outside.name)


def test_a_record_naming_a_siblings_worktree_is_left_alone(
    hub: Hub, local: LocalRepo, root: Path
) -> None:
    sibling = create(local, "w")  # alive: this process
    try:
        forge(local, "w-1-forged", dead(sibling.path))
        assert "not named as the record is" in kept_line(local, hub, "w-1-forged")
        assert sibling.path.is_dir() and sibling.name in local.repo.list_worktrees()
    finally:
        sibling.remove()


def test_a_record_naming_a_plain_folder_in_the_root_is_left_alone(
    hub: Hub, local: LocalRepo, root: Path
) -> None:
    plain = root / "w-1-forged"
    plain.mkdir()
    (plain / "notes.txt").write_text("mine")
    (plain / ".git").write_text(f"gitdir: {local.path}\n")  # not its worktree entry
    forge(local, plain.name, dead(plain))
    assert "not a worktree of this repository" in kept_line(local, hub, plain.name)
    assert intact(plain)


def test_a_record_with_a_live_pid_of_another_process_is_left_alone(
    hub: Hub, local: LocalRepo, root: Path, outside: Path
) -> None:
    other = subprocess.Popen(["sleep", "60"])
    try:
        start = process_start(other.pid)
        record = {**dead(outside), "pid": other.pid, "start": start, "work": {"sid": other.pid}}
        forge(local, outside.name, record)
        assert "not inside the worktree root" in kept_line(local, hub, outside.name)
        assert other.poll() is None and intact(outside)  # not killed, not removed
    finally:
        other.kill()
        other.wait()


def test_a_record_naming_another_branch_is_left_alone(
    hub: Hub, local: LocalRepo, root: Path
) -> None:
    local.repo.references.create("refs/heads/precious", local.fetch_main().id)
    forge(local, "w-1-forged", dead(root / "w-1-forged", branch="refs/heads/precious"))
    assert "not one of gnp's" in kept_line(local, hub, "w-1-forged")
    assert "refs/heads/precious" in local.repo.references


def test_garbage_in_a_record_is_reported_and_left_alone(
    hub: Hub, local: LocalRepo, root: Path
) -> None:
    forge(local, "w-1-garbage", "{not json\x1b[2J")
    assert "not readable JSON" in kept_line(local, hub, "w-1-garbage")


def test_a_symlinked_root_is_not_swept_through(
    hub: Hub, local: LocalRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outside: Path
) -> None:
    link = tmp_path / "linked-root"
    link.symlink_to(outside.parent)
    monkeypatch.setenv("GNP_WORKTREES", str(link))
    forge(local, outside.name, dead(link / outside.name))
    assert "is not a folder of this user (a link?)" in kept_line(local, hub, outside.name)
    assert intact(outside)


def test_gnp_janitor_prints_the_line(
    hub: Hub, local: LocalRepo, root: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forge(local, outside.name, dead(outside))
    show.sweep(sweep(hub))
    printed = capsys.readouterr().out
    assert printed.startswith(f"kept ownership record {outside.name}: folder {outside}")


def test_a_dead_owners_record_whose_folder_is_gone_is_swept_wherever_it_was(
    hub: Hub, local: LocalRepo, root: Path, tmp_path: Path
) -> None:
    """Nothing of the folder is left to remove, so its place does not matter: the record
    (and its entry and branch) are swept as a dead owner's, as a frame run with a
    worktrees folder of its own leaves them."""
    forge(local, "w-1-gone", dead(tmp_path / "elsewhere" / "w-1-gone"))
    report = sweep(hub)
    assert report.kept == [] and report.removed == [
        f"worktree w-1-gone of dead pid {DEAD} at {tmp_path / 'elsewhere' / 'w-1-gone'}"
    ]
    assert not owners.record_path(local.path, "w-1-gone").exists()
