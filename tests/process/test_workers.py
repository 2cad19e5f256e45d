"""One roster worker's outcome: a delta, a fallback, nothing, or a report (gnp.frame.workers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnp.frame import roster
from gnp.frame.workers import SUMMARY_OUTPUT, stand_in, work
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.process.worktree import Worktree
from tests.helpers.hubs import incr, send


def test_a_worker_without_a_key_is_reported_not_silent(hub: Hub) -> None:
    outcome = work(hub, roster.member({"id": "ghost", "command": ["true"]}))
    assert outcome.status == "failed" and outcome.delta_id is None
    assert f"gnp keygen ghost --hub {hub.named}" in (outcome.error or "")  # the real hub
    assert outcome.error.count("no key") == 1  # type: ignore[union-attr]


def test_a_stand_in_fallback_changes_nothing_and_says_why(hub: Hub) -> None:
    send(hub, "alice", incr())
    run_frame(hub)
    outcome = stand_in(hub, "alice", "worker task crashed: out of memory")
    assert outcome.status == "fallback"
    report = run_frame(hub)
    assert [(v.outcome, v.reason) for v in report.verdicts] == [
        ("fallback", "worker task crashed: out of memory")
    ]
    assert hub.state().document("stats.json") == {"count": 1}


def test_a_callable_imports_from_where_the_frame_runs(
    demo_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = tmp_path / "my_agents"
    agents.mkdir()
    (agents / "__init__.py").write_text("")
    (agents / "bump.py").write_text(
        "import json\n"
        "def visits(wt):\n"
        "    p = wt / 'stats.json'\n"
        "    d = json.loads(p.read_text())\n"
        "    d['visits'] += 7\n"
        "    p.write_text(json.dumps(d))\n"
        "    print('bumped')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    outcome = work(demo_hub, roster.member({"id": "counter", "call": "my_agents.bump:visits"}))
    assert (outcome.status, outcome.output.strip()) == ("ok", "bumped")
    run_frame(demo_hub)
    assert demo_hub.state().document("stats.json")["visits"] == 7


def test_a_json_module_where_the_frame_runs_does_not_shadow_the_standard_library(
    demo_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "json.py").write_text("raise ImportError('this is not the json module')\n")
    monkeypatch.chdir(tmp_path)
    outcome = work(demo_hub, roster.member({"id": "poster-1", "call": "gnp.demo:post"}))
    assert (outcome.status, outcome.error) == ("ok", None)


def test_a_summary_keeps_only_the_tail_of_what_a_worker_printed(hub: Hub) -> None:
    send(hub, "alice", incr())
    noisy = "x" * (SUMMARY_OUTPUT * 3) + "the end"
    command = ["sh", "-c", f"printf '{noisy}'; exit 1"]
    outcome = work(hub, roster.member({"id": "alice", "command": command}))
    assert outcome.status == "fallback" and outcome.output.endswith("the end")
    kept = outcome.to_json()["output"]
    assert len(kept) == SUMMARY_OUTPUT and kept.endswith("the end")


def test_a_worktree_that_cannot_be_removed_after_delivery_does_not_fail_the_work(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reported as failed, the work would be run again and its delta submitted twice."""
    send(hub, "alice", incr())
    run_frame(hub)
    remove = Worktree.remove
    left: list[Worktree] = []

    def refuse_once(wt: Worktree) -> None:
        if not left:
            left.append(wt)
            raise OSError("device busy")
        remove(wt)

    monkeypatch.setattr(Worktree, "remove", refuse_once)
    command = ["sh", "-c", "echo '{\"count\": 5}' > stats.json"]
    outcome = work(hub, roster.member({"id": "alice", "command": command}))
    assert outcome.status == "ok" and outcome.delta_id is not None
    assert "was not removed (OSError: device busy)" in (outcome.error or "")
    assert "gnp janitor" in (outcome.error or "")
    report = run_frame(hub)
    assert [(v.worker, v.outcome) for v in report.verdicts] == [("alice", "applied")]
    assert hub.state().document("stats.json") == {"count": 5}
    remove(left[0])  # what the janitor would do once the process has exited
