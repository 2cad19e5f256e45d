"""A whole frame with plain functions: roster workers, the boundary, merge, lineage.

The frame flow runs these same steps as Prefect tasks (tests/test_flows.py); here the
logic is tested without Prefect.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from gnp import frames, lineage, roster
from gnp.engine import boundary, run_frame
from gnp.hub import Hub
from gnp.local import LocalRepo
from gnp.replay import replay
from tests.hubtools import agent, incr, send
from tests.waiting import wait_until

TROUBLE = [
    agent("poster-1", "post"),
    agent("flaky", "crash"),
    agent("sleepy", "hang", timeout=1),
    agent("doomed", "killed"),
    agent("scout-lead", "scout_active", authority=2),
    agent("scout-new", "scout_resting", authority=1),
    {"id": "counter", "command": ["sh", "-c", "exit 3"]},
    {"id": "commenter", "command": ["no-such-agent-cli", "--go"]},
]


def test_a_frame_with_crashing_timing_out_killed_and_conflicting_workers(
    demo_hub: Hub, tmp_path: Path
) -> None:
    hub = demo_hub
    summary = frames.run(hub, roster.parse(TROUBLE), max_workers=8)

    outcomes = {w["worker"]: (w["status"], w["error"]) for w in summary["workers"]}
    assert outcomes == {
        "poster-1": ("ok", None),
        "flaky": (
            "fallback",
            "command exited with status 1: RuntimeError: the model returned no answer",
        ),
        "sleepy": ("fallback", "timed out after 1 s and was killed"),
        "doomed": ("fallback", "command was killed by SIGKILL"),
        "scout-lead": ("ok", None),
        "scout-new": ("ok", None),
        "counter": ("fallback", "command exited with status 3"),
        "commenter": ("fallback", "command not found: no-such-agent-cli"),
    }
    assert summary["frame"] == 1
    assert summary["counts"] == {
        "applied": 2,
        "rejected": 0,
        "conflict": 1,
        "fallback": 5,
        "duplicate": 0,
    }
    state = hub.state()
    # Only the poster's edit and the higher authority's status landed: none of the crashed,
    # killed or timed-out workers' half-done edits did.
    assert state.document("stats.json") == {"posts": 1, "comments": 0, "visits": 0}
    assert state.document("agents.json")["agents"]["scout"]["status"] == "active"

    rows = lineage.read(summary["lineage"].rsplit("/frame=", 1)[0])
    by_worker = {r.worker: r for r in rows.itertuples()}
    assert sorted(by_worker) == sorted(m["id"] for m in TROUBLE)
    assert {w: r.status for w, r in by_worker.items()} == {
        "poster-1": "applied",
        "scout-lead": "applied",
        "scout-new": "conflict",
        **{w: "fallback" for w in ("flaky", "sleepy", "doomed", "counter", "commenter")},
    }
    lead = next(w for w in summary["workers"] if w["worker"] == "scout-lead")
    assert by_worker["scout-new"].winner == lead["delta_id"]
    assert by_worker["flaky"].reason.endswith("RuntimeError: the model returned no answer")
    assert all(rows.signature_verified) and set(rows.frame) == {1}
    assert set(rows.result_commit) == {summary["commit"]}
    assert set(rows.base_commit) == {summary["base"]}
    assert by_worker["poster-1"].files.tolist() == ["posts.json", "stats.json"]

    assert replay(hub, 1).identical
    # Nothing is left behind: no worktree, no branch, nothing in the inbox.
    assert list((tmp_path / "worktrees").rglob("*.json")) == []
    local = LocalRepo.for_hub(hub)
    assert [b for b in local.repo.branches.local if b.startswith("gnp/")] == []
    assert boundary(hub) == []


def test_writing_a_frames_lineage_again_replaces_it(demo_hub: Hub) -> None:
    summary = frames.run(demo_hub, roster.parse([agent("poster-1", "post")]))
    root = frames.lineage_root(demo_hub)
    first = lineage.read(root)
    frames.record_lineage(demo_hub, 1, flow_run_id="again")
    again = lineage.read(root)
    assert len(again) == len(first) == 1
    assert again.flow_run_id.tolist() == ["again"]
    assert summary["lineage"].startswith(root)


def test_zero_workers_is_a_frame_of_the_inbox_alone(hub: Hub) -> None:
    send(hub, "alice", incr())
    summary = frames.run(hub)
    assert summary["frame"] == 1 and summary["counts"]["applied"] == 1
    assert summary["workers"] == []
    nothing = frames.run(hub)
    assert nothing["frame"] is None and nothing["lineage"] is None
    assert hub.state().frame == 1  # main did not move


def test_a_boundary_holds_later_deltas_for_the_next_frame(hub: Hub) -> None:
    send(hub, "alice", incr())
    taken = boundary(hub)
    late = send(hub, "bob", incr(value=10))
    report = run_frame(hub, within=taken)
    assert report.frame == 1 and [v["worker"] for v in report.verdicts] == ["alice"]
    assert hub.state().document("stats.json") == {"count": 1}
    assert run_frame(hub).verdicts[0]["delta"] == late.id  # not lost: the next frame
    assert hub.state().document("stats.json") == {"count": 11}


def test_sigterm_stops_running_workers_and_each_leaves_a_fallback(
    demo_hub: Hub, tmp_path: Path
) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys

    marker = tmp_path / "started"
    hang = f"touch {marker}.$GNP_WORKER && exec sleep 300"
    entries = [{"id": w, "command": ["sh", "-c", hang]} for w in ("poster-1", "poster-2")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.procs", "frame_of", str(demo_hub.path), json.dumps(entries)],
        env=os.environ.copy(),
        start_new_session=True,
    )
    try:
        wait_until(lambda: len(list(tmp_path.glob("started.*"))) == 2, "both workers started", 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    sleeping = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True)
    assert sleeping.stdout.strip() == ""  # the work was stopped, not left running
    assert list((tmp_path / "worktrees").glob("*")) == []
    report = run_frame(demo_hub)  # the frame was never merged; its fallbacks wait in the inbox
    assert sorted((v["worker"], v["outcome"], v["reason"]) for v in report.verdicts) == [
        (w, "fallback", "stopped: the process running it was told to stop")
        for w in ("poster-1", "poster-2")
    ]


def test_a_worker_whose_output_is_markup_is_shown_as_text(demo_hub: Hub) -> None:
    from rich.console import Console

    from flows.cli import _workers_table

    summary = frames.run(
        demo_hub,
        roster.parse([{"id": "flaky", "command": ["sh", "-c", "echo '[/oops] x'; exit 1"]}]),
    )
    console = Console(record=True, width=200)
    console.print(_workers_table(summary["workers"]))
    assert "[/oops] x" in console.export_text()


def test_lineage_missing_for_an_earlier_frame_is_caught_up(demo_hub: Hub) -> None:
    import shutil

    first = frames.run(demo_hub, roster.parse([agent("poster-1", "post")]))
    shutil.rmtree(Path(first["lineage"]).parent)  # stopped before its lineage was written
    frames.run(demo_hub, roster.parse([agent("poster-1", "post")]))
    rows = lineage.read(frames.lineage_root(demo_hub))
    assert sorted(set(rows.frame)) == [1, 2]
    assert rows[rows.frame == 1].result_commit.tolist() == [first["commit"]]
