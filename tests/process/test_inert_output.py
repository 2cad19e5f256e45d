"""Inert output: a delta pushed straight to the inbox (plain git, no submit) whose field
name, pointer and reason hold a terminal escape, a bidi override and a newline, and a
worker that prints them, reach no person raw: not ``gnp frame``'s summary and tables,
not ``gnp lineage`` (table or JSON), not the frame's markdown artifact."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import pygit2
import pytest
from rich.console import Console

from gnp.core.delta import fallback
from gnp.core.inert import inert
from gnp.core.layout import delta_path, ref_name
from gnp.frame.pipeline import run_plain
from gnp.frame.roster import parse
from gnp.git import trees
from gnp.git.hub import Hub
from gnp.host import clock
from gnp_cli import show
from tests.helpers.cli import cli
from tests.helpers.hubs import incr, make, signed_raw, worker_key

EVIL = "\x1b[2J\u202eevil\nforged line\x07"
HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def hidden_in(text: str) -> list[str]:
    """The characters of ``text``, newlines aside, that a terminal would not show as
    themselves."""
    return [c for c in text if c != "\n" and unicodedata.category(c) in HIDDEN]


def git_push(hub: Hub, clone: Path, worker: str, delta_id: str, data: bytes) -> None:
    """Commit ``data`` as ``worker``'s delta in a clone and push it to the hub's inbox with
    plain git, as a worker that never ran ``gnp submit`` would."""
    if not clone.exists():
        pygit2.clone_repository(str(hub.path), str(clone), bare=True)
    repo = pygit2.Repository(str(clone))
    base = repo.revparse_single("refs/heads/main")
    assert isinstance(base, pygit2.Commit)
    tree = trees.edit(repo, base.tree, {delta_path(worker, delta_id): data})
    sig = pygit2.Signature(worker, f"{worker}@example.invalid")
    commit = repo.create_commit(None, sig, sig, "a delta", tree, [base.id])
    subprocess.run(
        ["git", "-C", str(clone), "push", "-q", "origin", f"{commit}:{ref_name(worker, delta_id)}"],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def frame_of_evil(hub: Hub, tmp_path: Path) -> Hub:
    key = worker_key(hub, "mallory")
    worker_key(hub, "loud")
    clone = tmp_path / "mallory.git"
    # a field name no delta has: refused, and the refusal names it
    body = {**make(hub, "mallory", incr()).body_json(), EVIL: 1}
    git_push(hub, clone, "mallory", *signed_raw(hub, "mallory", body))
    # a pointer that does not hold: refused, quoting it
    test = {"op": "test", "file": "stats.json", "path": "/" + EVIL, "value": 1}
    body = {**make(hub, "mallory", incr()).body_json(), "ops": [test]}
    git_push(hub, clone, "mallory", *signed_raw(hub, "mallory", body))
    # a fallback whose reason is whatever the worker said
    said = key.sign(fallback("mallory", EVIL, frame=hub.state().frame, stamp=clock.stamp()))
    git_push(hub, clone, "mallory", said.id, said.encode())
    return hub


def test_a_frame_of_hostile_text_is_shown_inert(frame_of_evil: Hub, tmp_path: Path) -> None:
    hub = frame_of_evil
    says = f"import sys; sys.stdout.write({EVIL!r}); sys.exit(3)"
    loud = {"id": "loud", "command": [sys.executable, "-c", says]}
    summary = run_plain(str(hub.path), parse([loud]), worktrees=str(tmp_path / "wt"))
    assert summary.frame == 1
    assert len(summary.notable()) == 4  # two refused, two fallbacks: none applied
    reasons = [v.reason or "" for v in summary.verdicts]
    assert any(inert(EVIL) in r for r in reasons), reasons  # inert already as recorded
    assert not any(EVIL in r for r in reasons)

    console = Console(record=True, width=300, force_terminal=False)
    shown_out, shown_err = show.out, show.err
    show.out = show.err = console
    try:
        show.frame(summary)
    finally:
        show.out, show.err = shown_out, shown_err
    printed = console.export_text()
    assert hidden_in(printed) == [], printed
    assert "\\x1b[2J\\u202eevil\\x0aforged line\\x07" in printed

    markdown = summary.markdown()
    assert hidden_in(markdown) == [], markdown
    for line in markdown.splitlines():
        assert "forged line" not in line or line.startswith(("|", "**")), line
    for table in markdown.split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        for row in rows:  # no cell broken out of
            assert row.replace("\\|", "").count("|") == rows[0].count("|"), row

    for args in ((), ("--json",), ("--summary",)):
        # Wide enough that the reason is one line of its cell (a narrow table wraps it).
        done = cli("lineage", "--hub", str(hub.path), *args, env={"COLUMNS": "400"})
        assert done.returncode == 0, done.stderr
        assert hidden_in(done.stdout) == [], done.stdout
        assert "forged line" in done.stdout or args == ("--summary",)
        if args == ("--json",):
            reasons = [row["reason"] or "" for row in json.loads(done.stdout)]
            assert any(inert(EVIL) in r for r in reasons)  # inert as recorded, JSON-escaped

    # the notebooks' tables: lineage as DataFrames, shown
    from gnp.lineage import read
    from gnp.lineage.frames import lineage_root

    rows = read.read(lineage_root(hub), frame=1)
    assert any(inert(EVIL) in r for r in rows["reason"].dropna())  # as recorded: inert
    table = read.shown(rows).to_string()
    assert hidden_in(table) == [] and "\\x1b[2J\\u202eevil" in table


def test_gnp_verify_json_escapes_hidden_characters_in_what_it_found(hub: Hub) -> None:
    """A ref planted past the hub's hook, its name holding a bidi override: `gnp verify`
    names it in a finding. Its JSON says the same name, written as a JSON escape."""
    target = hub.main().id
    planted = "refs/gnp/inbox/mallory\u202e/evil"
    hub.repo.references.create(planted, target)
    done = cli("verify", "--hub", str(hub.path), "--json")
    assert done.returncode == 1
    assert hidden_in(done.stdout) == [], done.stdout
    assert "mallory\\u202e" in done.stdout
    found = json.loads(done.stdout)
    inbox = next(check for check in found["checks"] if check["check"] == "inbox")
    assert any(finding["where"] == planted for finding in inbox["findings"]), inbox
    hub.repo.references.delete(planted)
