"""The janitor's fallbacks: a worker killed before it reported still gets a verdict.

Real processes killed with SIGKILL, real git; the janitor's other sweeps are tested
with the worktrees they clean up after (tests/process/test_worktree.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gnp.core.delta import Delta, decode
from gnp.core.errors import GnpError
from gnp.core.verdict import Outcome
from gnp.frame.pipeline import run_plain
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot, take
from gnp.git.local import LocalRepo
from gnp.host import keys
from gnp.lineage import read as lineage
from gnp.lineage.frames import lineage_root
from gnp.process import janitor, owners
from gnp.process.janitor import Sweep, sweep
from gnp.process.owners import Owner
from gnp.process.proc import session_members
from gnp.process.worktree import create, remove_worktree
from tests.helpers.cli import GNP, cli
from tests.helpers.hubs import incr, send, worker_key
from tests.helpers.waiting import wait_until
from tests.helpers.worktrees import killed_run, leftovers, proc, records

HOST = socket.gethostname()


@pytest.fixture
def sessions() -> Iterator[list[int]]:
    """Sessions of work that a killed harness left running: killed after the test, if
    the janitor did not (a failing test must not leave sleeps behind)."""
    found: list[int] = []
    yield found
    for sid in found:
        for pid in session_members(sid):
            os.kill(pid, signal.SIGKILL)


def waiting(hub: Hub) -> list[Delta]:
    """The deltas in the hub's inbox."""
    return [decode(take(hub, item)) for item in snapshot(hub)]


def died(owner: Owner) -> str:
    return f"worker process {owner.pid} on {HOST} died before it reported"


def test_a_worker_killed_before_it_reported_gets_one_fallback_from_the_janitor(
    hub: Hub, local: LocalRepo, tmp_path: Path, sessions: list[int]
) -> None:
    owner = killed_run(hub, local, tmp_path, sessions)
    send(hub, "v", incr())
    run_frame(hub)  # frame 1 merged meanwhile: the worker's base was frame 0
    report = sweep(hub)
    [line] = report.fallbacks
    assert line.endswith(
        f" for w: {died(owner)}, leaving no delta; the janitor stopped its work, left "
        f"running, and swept its worktree {owner.name}"
    )
    assert report.rescued == [] and report.unreported == []
    [delta] = waiting(hub)
    assert (delta.worker, delta.status, delta.ops, delta.frame) == ("w", "fallback", (), 1)
    assert line == f"fallback delta {delta.id[:12]} for w: {delta.error}"
    wait_until(lambda: not session_members(owner.session), "the work ended", 10)
    assert leftovers(local) == []
    assert sweep(hub).fallbacks == []  # run twice, the janitor submits one fallback
    assert [d.id for d in waiting(hub)] == [delta.id]
    summary = run_plain(str(hub.path))  # the next frame records it, in the merge and in lineage
    assert [(v.worker, v.outcome, v.reason) for v in summary.verdicts] == [
        ("w", "fallback", delta.error)
    ]
    rows = lineage.read(lineage_root(hub), frame=2)
    assert rows[["worker", "status", "reason"]].values.tolist() == [["w", "fallback", delta.error]]


def test_four_janitor_processes_at_once_submit_one_fallback_between_them(
    hub: Hub, local: LocalRepo, tmp_path: Path, sessions: list[int]
) -> None:
    killed_run(hub, local, tmp_path, sessions)
    janitors = [
        subprocess.Popen(
            [GNP, "janitor", "--hub", str(hub.path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    said = [j.communicate(timeout=60) for j in janitors]
    assert [j.returncode for j in janitors] == [0] * 4, said
    [delta] = waiting(hub)  # whichever made it and whichever pushed it, one fallback
    assert (delta.worker, delta.status) == ("w", "fallback")
    assert any(delta.id[:12] in out for out, _ in said)
    assert leftovers(local) == []


def test_without_the_workers_key_there_is_no_fallback_and_the_janitor_says_so(
    hub: Hub, local: LocalRepo, tmp_path: Path, sessions: list[int]
) -> None:
    owner = killed_run(hub, local, tmp_path, sessions)
    key = keys.key_path(hub.state().hub_id, "w")
    key.unlink()  # the worker ran on a machine that has its key no longer
    report = sweep(hub)
    assert report.unreported == [
        f"w, whose {died(owner)}: its key is not on this machine (no {key})"
    ]
    assert report.fallbacks == [] and snapshot(hub) == []
    assert leftovers(local) == []  # cleaned up all the same
    wait_until(lambda: not session_members(owner.session), "the work ended", 10)


def test_a_killed_frame_leaves_one_fallback_per_worker(
    hub: Hub, local: LocalRepo, tmp_path: Path, sessions: list[int]
) -> None:
    for worker in ("a", "b"):
        worker_key(hub, worker)
    hang = f"touch {tmp_path}/started.$GNP_WORKER && exec sleep 300"
    roster = [{"id": w, "command": ["sh", "-c", hang]} for w in ("a", "b")]
    frame = proc("frame_of", "plain", str(hub.path), json.dumps(roster))
    try:
        wait_until(
            lambda: (
                len([o for o in records(local) if o.session is not None]) == 2
                and len(list(tmp_path.glob("started.*"))) == 2
            ),
            "both workers' work started",
            60,
        )
        sessions.extend(o.session for o in records(local) if o.session is not None)
    finally:
        frame.kill()
        frame.wait(timeout=30)
    done = cli("janitor", "--hub", str(hub.path))
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stdout.splitlines() if line.startswith("submitted ")]
    died_here = f"worker process {frame.pid} on {HOST} died before it reported"
    assert sorted(line.split(" for ", 1)[1].split(":", 1)[0] for line in said) == ["a", "b"]
    assert all(died_here in line for line in said)
    assert sorted((d.worker, d.status) for d in waiting(hub)) == [
        ("a", "fallback"),
        ("b", "fallback"),
    ]
    assert leftovers(local) == []
    wait_until(lambda: not any(map(session_members, sessions)), "the work ended", 10)
    report = run_frame(hub)
    assert sorted((v.worker, v.outcome) for v in report.verdicts) == [
        ("a", "fallback"),
        ("b", "fallback"),
    ]
    assert all(v.reason.startswith(died_here) for v in report.verdicts)


def test_a_fallback_the_hub_refused_is_kept_and_pushed_once_by_the_next_janitor(
    hub: Hub, local: LocalRepo, tmp_path: Path, sessions: list[int]
) -> None:
    """The fallback is committed on the dead worker's branch before it is pushed: a
    janitor that cannot push it (or is killed first) leaves that one fallback for the
    next janitor to push, never a second."""
    owner = killed_run(hub, local, tmp_path, sessions)
    blocker = hub.path / "refs" / "gnp" / "inbox" / "w"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the worker's ref folder must go\n")  # pushes fail
    try:
        first = sweep(hub)
    finally:
        blocker.unlink()
    [kept] = first.kept
    assert "holds unpushed delta" in kept and first.fallbacks == []
    assert [o.name for o in records(local)] == [owner.name]  # kept, to try again
    second = sweep(hub)
    assert len(second.rescued) == 1 and second.fallbacks == second.unreported == []
    [delta] = waiting(hub)
    assert delta.status == "fallback" and (delta.error or "").startswith(died(owner))
    assert second.rescued == [f"delta {delta.id[:12]} of w (pushed to the inbox)"]
    assert leftovers(local) == []
    assert run_frame(hub).count(Outcome.FALLBACK) == 1


def test_two_janitors_at_once_submit_one_fallback(
    hub: Hub,
    local: LocalRepo,
    tmp_path: Path,
    sessions: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another janitor commits and pushes its fallback while this one makes its own: this
    one finds the branch moved, and submits none."""
    owner = killed_run(hub, local, tmp_path, sessions)
    other = Sweep()
    racing = [owner.branch]
    made = janitor.delta_commit

    def the_other_janitor_first(*args: Any) -> pygit2.Oid:
        if racing:
            branch = racing.pop()
            reason = janitor._fall_back(local, owner, branch, 0, other)
            janitor._rescue(local, branch, other, fallback_reason=reason)
        return made(*args)

    monkeypatch.setattr(janitor, "delta_commit", the_other_janitor_first)
    report = sweep(hub)
    assert racing == [] and len(other.fallbacks) == 1
    assert report.fallbacks == report.rescued == report.unreported == []
    [delta] = waiting(hub)
    assert other.fallbacks[0].startswith(f"fallback delta {delta.id[:12]} for w: ")
    assert leftovers(local) == []


def test_a_janitor_goes_on_when_another_delivers_the_branch_it_pushes(
    hub: Hub,
    local: LocalRepo,
    tmp_path: Path,
    sessions: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between this janitor's look at the hub and its push, another janitor pushes the
    same fallback and removes the branch: this one neither fails nor keeps anything."""
    owner = killed_run(hub, local, tmp_path, sessions)
    push = LocalRepo.push
    racing = [owner.name]

    def the_other_janitor_first(self: LocalRepo, source: str, target: str, **kw: Any) -> None:
        if racing:
            push(self, source, target)
            remove_worktree(self, racing.pop(), Path(str(owner.path)), source)
        push(self, source, target, **kw)

    monkeypatch.setattr(LocalRepo, "push", the_other_janitor_first)
    report = sweep(hub)
    assert racing == [] and report.kept == report.unreported == []
    assert len(waiting(hub)) == 1
    assert leftovers(local) == []


def test_a_janitor_whose_push_collides_with_another_janitors_keeps_nothing(
    hub: Hub,
    local: LocalRepo,
    tmp_path: Path,
    sessions: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another janitor's push of the same delta lands first and holds the ref's lock, so
    this one's fails: the delta is on the hub all the same, and nothing is kept."""
    killed_run(hub, local, tmp_path, sessions)
    push = LocalRepo.push

    def the_other_janitor_first(self: LocalRepo, source: str, target: str, **kw: Any) -> None:
        push(self, source, target, **kw)
        raise GnpError(f"failed to lock file '{target}.lock' for writing")

    monkeypatch.setattr(LocalRepo, "push", the_other_janitor_first)
    report = sweep(hub)
    assert report.kept == report.unreported == []
    assert len(waiting(hub)) == 1
    assert leftovers(local) == []


def test_no_fallback_for_a_worker_whose_delta_reached_the_hub(hub: Hub, local: LocalRepo) -> None:
    """Killed after it delivered, before it removed its branch: it did report."""
    p = proc("deliver_then_die", str(hub.path), "w")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 9, err
    assert leftovers(local)  # its worktree and branch are still there
    report = sweep(hub)
    assert report.fallbacks == report.rescued == report.unreported == []
    assert [d.id for d in waiting(hub)] == [out.strip()]
    assert leftovers(local) == []


def test_no_fallback_for_a_run_killed_as_it_removed_its_worktree_after_no_change(
    hub: Hub, local: LocalRepo
) -> None:
    """Killed after its work changed nothing: it had nothing to report, and did not die
    before it reported."""
    p = proc("unchanged_then_die", str(hub.path), "w")
    _, err = p.communicate(timeout=60)
    assert p.returncode == 9, err
    assert leftovers(local)  # its worktree and branch are still there
    report = sweep(hub)
    assert report.fallbacks == report.rescued == report.unreported == []
    assert waiting(hub) == []
    assert leftovers(local) == []


def test_no_fallback_for_a_live_owner_nor_for_one_on_another_host(local: LocalRepo) -> None:
    mine = create(local, "w")  # this process: alive
    theirs = create(local, "w")
    record = json.loads(owners.record_path(local.path, theirs.name).read_text())
    owners.record_path(local.path, theirs.name).write_text(
        json.dumps({**record, "host": "elsewhere.invalid", "pid": 1})
    )
    try:
        report = sweep(local.hub)
        assert report.fallbacks == report.unreported == report.removed == []
        assert mine.path.exists() and theirs.path.exists()
        assert snapshot(local.hub) == []
    finally:
        mine.remove()
        theirs.remove()
    assert leftovers(local) == []


def test_records_that_are_not_regular_files_are_not_read(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    """A record the janitor cannot read means nothing is known of it (gnp.process.owners):
    a FIFO among the records must not hang the sweep, nor a link to /dev/zero fill memory."""
    folder = owners.record_path(local.path, "x").parent
    folder.mkdir(exist_ok=True)
    os.mkfifo(folder / "fifo.json")
    (folder / "zero.json").symlink_to("/dev/zero")
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "from gnp.process import owners\n"
        "print(sorted(o.name for o in owners.read_all(Path(sys.argv[1]))))\n"
    )
    try:
        ran = subprocess.run(
            [sys.executable, "-c", script, str(local.path)],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading the ownership records hung on a FIFO")
    assert ran.stdout.strip() == "['fifo', 'zero']", ran.stderr[-300:]
    report = sweep(hub)  # neither is known to be dead: both are kept, as unreadable ones are
    assert not report.removed and sorted(p.name for p in folder.iterdir()) == [
        "fifo.json",
        "zero.json",
    ]


def test_a_record_of_a_dead_owner_removes_only_its_own_worktree_folder(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    """A worktree's folder is named as its record is (gnp.process.worktree.create): a
    record whose path names any other folder is damaged, and the janitor, which removes
    a dead owner's folder whole, must not take it at its word."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    folder = owners.record_path(local.path, "w-1-dead").parent
    folder.mkdir(exist_ok=True)
    owners.record_path(local.path, "w-1-dead").write_text(
        json.dumps({"pid": 2**22 + 1, "host": socket.gethostname(), "path": str(precious)})
    )
    assert Owner.parse("w-1-dead", {"path": str(precious)}).path is None
    report = sweep(hub)
    assert (precious / "notes.txt").read_text() == "mine"
    assert report.removed == []  # a record it cannot believe: reported, and left alone
    assert report.kept == [
        f"ownership record w-1-dead: folder {precious} is not named as the record is; left alone"
    ]
    assert owners.record_path(local.path, "w-1-dead").exists()
