"""The invariants of docs/design.md, one named test each, on a real hub (the table
there names the other tests that hold each one)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from gnp import Op, canonical
from gnp.core.verdict import Outcome
from gnp.git.connect import open_hub
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot, submit
from gnp.git.local import LocalRepo
from gnp.git.registry import grant
from gnp.git.replay import replay
from gnp.host import keys
from gnp.process.janitor import sweep
from gnp.process.run import run
from tests.helpers import ROOT
from tests.helpers.hubs import git, incr, make, send, worker_key
from tests.helpers.worktrees import leftovers


def main_files(hub: Hub) -> dict[str, bytes]:
    out: dict[str, bytes] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            if isinstance(entry, pygit2.Tree):
                walk(entry, f"{prefix}{entry.name}/")
            elif isinstance(entry, pygit2.Blob):
                out[f"{prefix}{entry.name}"] = entry.data

    walk(hub.main().tree, "")
    return out


def test_invariant_1_nothing_lost(hub: Hub) -> None:
    submitted = []
    for round_ in range(4):
        for w in ("a", "b", "c"):
            submitted.append(send(hub, w, incr(), Op("append", "log.json", "/ids", f"{w}{round_}")))
        if round_ % 2:
            run_frame(hub)  # frames interleave with submissions
    while run_frame(hub).frame is not None:
        pass
    state = hub.state()
    assert state.document("stats.json") == {"count": len(submitted)}
    assert sorted(state.document("log.json")["ids"]) == sorted(
        f"{w}{r}" for r in range(4) for w in "abc"
    )
    assert all(state.settled(d.id) for d in submitted)
    applied = [
        v["delta"]
        for n in range(1, state.frame + 1)
        for v in canonical.decode(main_files(hub)[f".gnp/frames/{n:06d}/verdicts.json"])
        if v["outcome"] == "applied"
    ]
    assert sorted(applied) == sorted(d.id for d in submitted)  # each exactly once


def test_invariant_2_nothing_invented(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "wt"))
    send(hub, "a", incr())
    run_frame(hub)
    before = {k: v for k, v in main_files(hub).items() if not k.startswith(".gnp/")}
    worker_key(hub, "b")
    # A worker that edits state and then fails changes nothing.
    failed = run(hub, "b", ["sh", "-c", "echo '{\"count\": 999}' > stats.json; exit 1"])
    assert failed.status == "fallback"
    # A forged delta changes nothing.

    forged = keys.generate().sign(make(hub, "a", incr(value=500)))
    from tests.helpers.hubs import push_raw

    push_raw(hub, "a", forged.id, forged.encode())
    report = run_frame(hub)
    assert sorted(v.outcome for v in report.verdicts) == ["fallback", "rejected"]
    after = {k: v for k, v in main_files(hub).items() if not k.startswith(".gnp/")}
    assert after == before


def test_invariant_3_only_the_engine_moves_main(hub: Hub, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    assert git("clone", "-q", str(hub.path), str(clone)).returncode == 0
    (clone / "stats.json").write_text('{"count": 1000}')
    git("-C", str(clone), "add", "stats.json")
    git("-C", str(clone), "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "sneak")
    main_before = hub.main().id
    pushed = git("-C", str(clone), "push", "origin", "HEAD:main")
    assert pushed.returncode != 0 and "only the merge engine moves" in pushed.stderr
    pushed = git("-C", str(clone), "push", "origin", "HEAD:refs/heads/other")
    assert pushed.returncode != 0
    assert hub.main().id == main_before
    # A worker's own inbox ref is accepted; anything it pushes elsewhere is ignored.
    assert (
        git(
            "-C", str(clone), "push", "-q", "origin", "HEAD:refs/gnp/inbox/x/" + "0" * 64
        ).returncode
        == 0
    )
    inbox_ref = "refs/gnp/inbox/x/" + "0" * 64
    # Nobody can delete, rewrite or shadow an inbox ref, another worker's least of all.
    git(
        "-C",
        str(clone),
        "-c",
        "user.name=x",
        "-c",
        "user.email=x@x",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "other",
    )
    for refspec in (f"+HEAD:{inbox_ref}", f":{inbox_ref}", "HEAD:refs/gnp/inbox/x"):
        assert git("-C", str(clone), "push", "origin", refspec).returncode != 0, refspec
    report = run_frame(hub)
    assert report.count(Outcome.REJECTED) == 1  # the clone's commit edits state: refused
    assert "1000" not in str(hub.state().document("stats.json"))


def test_invariant_4_deterministic(hub: Hub, tmp_path: Path) -> None:
    deltas = [
        make(
            hub,
            w,
            incr(),
            Op("append", "log.json", "/l", w),
            Op("replace", "cfg.json", "", {"by": w}) if w == "b" else incr("x.json"),
        )
        for w in ("a", "b", "c", "d")
    ]
    worker_key(hub, "e")
    grant(hub, "e", authority=5)  # the owner's grant: e's authority comes from the hub
    deltas.append(make(hub, "e", Op("add", "cfg.json", "", {"by": "e"}), authority=5))
    twin = open_hub(shutil.copytree(hub.path, tmp_path / "twin.git"))
    for d in deltas:
        submit(hub, d)
    for d in reversed(deltas):  # another arrival order
        submit(twin, d)
    run_frame(hub)
    run_frame(twin)
    assert hub.main().tree.id == twin.main().tree.id  # byte for byte
    send(hub, "a", incr())
    run_frame(hub)
    for frame in (1, 2):
        assert replay(hub, frame).identical


def test_invariant_5_clean(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "wt"))
    worker_key(hub, "a")
    run(hub, "a", ["sh", "-c", "echo '{\"n\": 1}' > s.json"])
    run(hub, "a", ["false"])
    run(hub, "a", ["sleep", "5"], timeout=0.2)
    env = {**os.environ, "GNP_WORKTREES": str(tmp_path / "wt")}
    killed = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.procs", "hold_worktree", str(hub.path), "a"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
    )
    assert killed.stdout is not None
    killed.stdout.readline()
    killed.kill()
    killed.wait(timeout=30)
    run_frame(hub)
    # The killed worker gets its fallback from the janitor: the next frame's to merge.
    assert len(sweep(hub).fallbacks) == 1
    assert run_frame(hub).count(Outcome.FALLBACK) == 1
    sweep(hub)
    assert snapshot(hub) == []
    assert leftovers(LocalRepo.for_hub(hub)) == []
    assert not any((tmp_path / "wt").iterdir())


def test_invariant_6_state_files_are_always_valid_json(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "wt"))
    send(hub, "a", Op("add", "s.json", "", {"v": 1}))
    run_frame(hub)
    worker_key(hub, "b")
    markers = '<<<<<<< HEAD\n{"v": 2}\n=======\n{"v": 3}\n>>>>>>> theirs\n'
    result = run(hub, "b", ["sh", "-c", f"printf '{markers}' > s.json"])
    assert result.status == "fallback" and "not valid JSON" in (result.error or "")
    send(hub, "a", Op("replace", "s.json", "/v", 2))
    send(hub, "c", Op("replace", "s.json", "/v", 3))
    run_frame(hub)
    for path, data in main_files(hub).items():
        if path.endswith(".json"):
            canonical.decode(data)  # raises on anything that is not strict JSON
            assert b"<<<<<<<" not in data
