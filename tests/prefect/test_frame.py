"""A whole frame, run both ways: by gnp's plain functions and by the frame flow, against a
Prefect server on loopback. The steps are written once (gnp.frame.pipeline); each test
here runs over both runners, and what only a flow run has (its name, its artifact) is
checked where the runner is the flow."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gnp.core.errors import UsageError
from gnp.core.verdict import Outcome, WorkerStatus
from gnp.frame.pipeline import run_plain
from gnp.frame.roster import load, parse
from gnp.frame.summary import FrameFailed, FrameSummary
from gnp.git.engine import boundary, run_frame
from gnp.git.hub import Hub
from gnp.git.local import LocalRepo
from gnp.git.replay import replay
from gnp.lineage import read as lineage
from gnp.lineage.frames import lineage_root, record_lineage
from tests.helpers import ROOT
from tests.helpers.hubs import agent, incr, send
from tests.helpers.waiting import wait_until

Runner = Callable[..., FrameSummary]  # (hub path, roster entries, **options) -> summary


@pytest.fixture(params=["plain", "flow"])
def runner(request: pytest.FixtureRequest) -> str:
    if request.param == "flow":
        request.getfixturevalue("prefect_api")
    return str(request.param)


@pytest.fixture
def run(runner: str) -> Runner:
    """One frame, by the runner under test."""

    def plain(hub: str, roster: list[dict[str, Any]] | None = None, **kw: Any) -> FrameSummary:
        return run_plain(hub, parse(roster), **kw)

    if runner == "plain":
        return plain
    from gnp_flows.frame import frame

    def flow(hub: str, roster: list[dict[str, Any]] | None = None, **kw: Any) -> FrameSummary:
        try:
            return frame(hub, roster, **kw)
        except FrameFailed as failed:  # a frame that failed: merged, and its run Failed
            return failed.summary

    return flow


def flow_run(run_id: str | None) -> Any:
    from prefect.client.orchestration import get_client

    assert run_id is not None
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)  # type: ignore[arg-type]


TROUBLE = [
    agent("poster-1", "post"),
    agent("flaky", "crash"),
    agent("sleepy", "hang", timeout=1),
    agent("doomed", "killed"),
    agent("scout-lead", "scout_active", authority=2),
    agent("scout-new", "scout_resting", authority=1),
    {"id": "counter", "command": ["sh", "-c", "exit 3"]},
    # A missing program refuses the roster (test_a_roster_that_cannot_run...); one that
    # goes missing once the frame runs is a fallback like any other.
    {"id": "commenter", "command": ["sh", "-c", "exec no-such-agent-cli --go"]},
]


def test_a_frame_with_crashing_timing_out_killed_and_conflicting_workers(
    demo_hub: Hub, tmp_path: Path, run: Runner, runner: str
) -> None:
    hub = demo_hub
    cron = send(hub, "cron", incr("stats.json", "/visits", 10))  # from outside the frame
    summary = run(str(hub.path), TROUBLE, max_workers=4)

    outcomes = {w.worker: (w.status, w.error) for w in summary.workers}
    assert outcomes == {
        "poster-1": (WorkerStatus.OK, None),
        "flaky": (
            WorkerStatus.FALLBACK,
            "command exited with status 1: RuntimeError: the model returned no answer",
        ),
        "sleepy": (WorkerStatus.FALLBACK, "timed out after 1 s and was killed"),
        "doomed": (WorkerStatus.FALLBACK, "command was killed by SIGKILL"),
        "scout-lead": (WorkerStatus.OK, None),
        "scout-new": (WorkerStatus.OK, None),
        "counter": (WorkerStatus.FALLBACK, "command exited with status 3"),
        "commenter": (
            WorkerStatus.FALLBACK,
            "command exited with status 127: sh: 1: exec: no-such-agent-cli: not found",
        ),
    }
    assert summary.frame == 1
    assert summary.counts == {
        Outcome.APPLIED: 3,
        Outcome.REJECTED: 0,
        Outcome.CONFLICT: 1,
        Outcome.FALLBACK: 5,
        Outcome.DUPLICATE: 0,
    }
    state = hub.state()
    # Only the poster's edit, the cron job's and the higher authority's status landed:
    # none of the crashed, killed or timed-out workers' half-done edits did.
    assert state.document("stats.json") == {"posts": 1, "comments": 0, "visits": 10}
    assert state.document("agents.json")["agents"]["scout"]["status"] == "active"

    assert summary.lineage is not None
    rows = lineage.read(summary.lineage.rsplit("/frame=", 1)[0])
    by_worker = {r.worker: r for r in rows.itertuples()}
    assert sorted(by_worker) == sorted([*(m["id"] for m in TROUBLE), "cron"])
    assert {w: r.status for w, r in by_worker.items()} == {
        "poster-1": "applied",
        "scout-lead": "applied",
        "cron": "applied",
        "scout-new": "conflict",
        **{w: "fallback" for w in ("flaky", "sleepy", "doomed", "counter", "commenter")},
    }
    lead = next(w for w in summary.workers if w.worker == "scout-lead")
    assert by_worker["scout-new"].winner == lead.delta_id
    assert by_worker["cron"].delta_id == cron.id
    assert by_worker["flaky"].reason.endswith("RuntimeError: the model returned no answer")
    assert all(rows.signature_verified) and set(rows.frame) == {1}
    assert set(rows.result_commit) == {summary.commit}
    assert set(rows.base_commit) == {summary.base}
    assert by_worker["poster-1"].files.tolist() == ["posts.json", "stats.json"]
    if summary.flow_run_id is None:  # pandas reads a missing string as NaN
        assert rows.flow_run_id.isna().all()
    else:
        assert set(rows.flow_run_id) == {summary.flow_run_id}

    assert summary.failure is None
    assert summary.warning is not None
    assert summary.warning.startswith("5 of 8 roster workers fell back: flaky (command exited")
    assert replay(hub, 1).identical
    # Nothing is left behind: no worktree, no branch, nothing in the inbox.
    assert list((tmp_path / "worktrees").rglob("*.json")) == []
    local = LocalRepo.for_hub(hub)
    assert [b for b in local.repo.branches.local if b.startswith("gnp/")] == []
    assert boundary(hub) == []

    if runner == "flow":  # the run is named for its frame, and its artifact says it all
        from prefect.client.orchestration import get_client

        made = flow_run(summary.flow_run_id)
        assert made.name == "frame-1" and made.state.is_completed()  # some fell back
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts()
        mine = [
            a for a in artifacts if str(a.flow_run_id) == summary.flow_run_id and a.key
        ]  # a keyless one holds the persisted result
        assert len(mine) == 1 and mine[0].key == f"gnp-frame-{hub.state().hub_id[:12]}"
        assert "| conflict | 1 |" in str(mine[0].data)
    else:
        assert summary.flow_run_id is None


def test_zero_workers_is_a_frame_of_the_inbox_alone(hub: Hub, run: Runner, runner: str) -> None:
    send(hub, "alice", incr())
    summary = run(str(hub.path))
    assert summary.frame == 1 and summary.counts[Outcome.APPLIED] == 1
    assert summary.workers == ()
    nothing = run(str(hub.path))
    assert nothing.frame is None and nothing.lineage is None
    assert hub.state().frame == 1  # main did not move
    if runner == "flow":
        assert flow_run(nothing.flow_run_id).name == "frame-2-empty"


def test_writing_a_frames_lineage_again_replaces_it(demo_hub: Hub, run: Runner) -> None:
    summary = run(str(demo_hub.path), [agent("poster-1", "post")])
    root = lineage_root(demo_hub)
    first = lineage.read(root)
    record_lineage(demo_hub, 1, flow_run_id="again")
    again = lineage.read(root)
    assert len(again) == len(first) == 1
    assert again.flow_run_id.tolist() == ["again"]
    assert summary.lineage is not None and summary.lineage.startswith(root)


def test_lineage_missing_for_an_earlier_frame_is_caught_up(demo_hub: Hub, run: Runner) -> None:
    first = run(str(demo_hub.path), [agent("poster-1", "post")])
    assert first.lineage is not None
    shutil.rmtree(Path(first.lineage).parent)  # stopped before its lineage was written
    run(str(demo_hub.path), [agent("poster-1", "post")])
    rows = lineage.read(lineage_root(demo_hub))
    assert sorted(set(rows.frame)) == [1, 2]
    assert rows[rows.frame == 1].result_commit.tolist() == [first.commit]


def test_sigterm_stops_running_workers_and_each_leaves_a_fallback(
    demo_hub: Hub, tmp_path: Path, runner: str
) -> None:
    marker = tmp_path / "started"
    hang = f"touch {marker}.$GNP_WORKER && exec sleep 300"
    entries = [{"id": w, "command": ["sh", "-c", hang]} for w in ("poster-1", "poster-2")]
    proc = subprocess.Popen(
        [
            sys.executable,
            *("-m", "tests.helpers.procs", "frame_of", runner),
            *(str(demo_hub.path), json.dumps(entries)),
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        start_new_session=True,
    )
    try:
        wait_until(lambda: len(list(tmp_path.glob("started.*"))) == 2, "both workers started", 60)
        proc.send_signal(signal.SIGTERM)
        # the flow engine re-raises the signal once its run is marked Crashed
        assert proc.wait(timeout=60) == (
            128 + signal.SIGTERM if runner == "plain" else -signal.SIGTERM
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    sleeping = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True)
    assert sleeping.stdout.strip() == ""  # the work was stopped, not left running
    assert list((tmp_path / "worktrees").glob("*")) == []
    report = run_frame(demo_hub)  # the frame was never merged; its fallbacks wait in the inbox
    assert sorted((v.worker, v.outcome, v.reason) for v in report.verdicts) == [
        (w, "fallback", "stopped: the process running it was told to stop")
        for w in ("poster-1", "poster-2")
    ]


def test_a_frame_whose_every_worker_fell_back_is_merged_and_fails(
    demo_hub: Hub, run: Runner, runner: str
) -> None:
    """The inbox still merges and everything is recorded, but the frame says it failed,
    and its flow run ends Failed (a frame of nothing but fallbacks is no frame's job)."""
    cron = send(demo_hub, "cron", incr("stats.json", "/visits", 10))
    down = [
        agent("flaky", "crash"),
        {"id": "counter", "command": ["sh", "-c", "exit 3"]},
    ]
    summary = run(str(demo_hub.path), down)

    assert summary.failure == (
        "every roster worker fell back: flaky (command exited with status 1: RuntimeError: "
        "the model returned no answer), counter (command exited with status 3)"
    )
    assert summary.warning is None
    assert summary.frame == 1 and summary.commit == str(demo_hub.main().id)
    assert summary.counts[Outcome.APPLIED] == 1 and summary.counts[Outcome.FALLBACK] == 2
    assert demo_hub.state().document("stats.json")["visits"] == 10  # the cron job's
    assert summary.lineage is not None
    rows = lineage.read(lineage_root(demo_hub))
    assert sorted(rows.worker) == ["counter", "cron", "flaky"]
    assert cron.id in set(rows.delta_id)
    assert summary.to_json()["failure"] == summary.failure
    assert f"**Failed:** {summary.failure}" in summary.markdown()
    if runner == "flow":
        from prefect.client.orchestration import get_client

        made = flow_run(summary.flow_run_id)
        assert made.state.is_failed() and made.state.message == summary.failure
        assert made.name == "frame-1"
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts()
        [mine] = [a for a in artifacts if str(a.flow_run_id) == summary.flow_run_id and a.key]
        assert "every roster worker fell back: flaky" in str(mine.data)


def test_a_roster_that_cannot_run_is_refused_before_anything_runs(
    demo_hub: Hub, tmp_path: Path, run: Runner
) -> None:
    send(demo_hub, "cron", incr("stats.json", "/visits", 10))
    marker = tmp_path / "ran"
    ran = {"id": "poster-1", "command": ["sh", "-c", f"touch {marker}"]}
    stranger = {"id": "stranger", "command": ["true"]}
    (tmp_path / "agent.sh").write_text("#!/bin/sh\n")  # not executable
    cases = {
        "worker 'stranger' has no key on the hub's keyring (gnp keygen stranger --hub": stranger,
        f"worker 'counter': command {tmp_path}/nowhere/agent.sh does not exist": {
            "id": "counter",
            "command": ["./nowhere/agent.sh"],
            "cwd": str(tmp_path),
        },
        f"worker 'counter': command {tmp_path}/agent.sh is not executable (chmod +x it)": {
            "id": "counter",
            "command": ["./agent.sh"],
            "cwd": str(tmp_path),
        },
        "worker 'counter': command 'no-such-agent-cli' is not on PATH": {
            "id": "counter",
            "command": ["no-such-agent-cli"],
        },
    }
    for message, bad in cases.items():
        with pytest.raises(UsageError) as refused:
            run(str(demo_hub.path), [ran, bad])
        assert str(refused.value).startswith("roster refused: ")
        assert message in str(refused.value) and "\n" not in str(refused.value)
    assert not marker.exists()  # nothing ran
    assert demo_hub.state().frame == 0 and len(boundary(demo_hub)) == 1  # nothing merged


def test_a_rosters_paths_resolve_from_its_folder_not_from_where_the_frame_runs(
    demo_hub: Hub, tmp_path: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = tmp_path / "team" / "agents"
    agents.mkdir(parents=True)
    script = agents / "scout.sh"
    script.write_text('#!/bin/sh\necho \'{"posts": 1, "comments": 0, "visits": 4}\' > stats.json\n')
    script.chmod(0o755)
    (agents / "count.py").write_text(
        "import json, sys\n"
        "d = json.load(open('stats.json'))\n"
        "d['visits'] += 2\n"
        "json.dump(d, open('stats.json', 'w'))\n"
    )
    (tmp_path / "team" / "team_agents.py").write_text(
        "import json\n"
        "def post(wt):\n"
        "    p = wt / 'posts.json'\n"
        "    d = json.loads(p.read_text())\n"
        "    d['items'].append({'by': 'team'})\n"
        "    p.write_text(json.dumps(d))\n"
    )
    roster = tmp_path / "team" / "roster.json"
    roster.write_text(
        json.dumps(
            [
                {"id": "critic", "command": "./agents/scout.sh"},
                {"id": "counter", "command": [sys.executable, "agents/count.py"]},
                {"id": "poster-1", "call": "team_agents:post"},
                {"id": "poster-2", "command": "./scout.sh", "cwd": "agents"},
            ]
        )
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # where a served frame's process might be
    entries = [m.to_json() for m in load(str(roster))]  # as gnp frame and gnp serve pass it
    summary = run(str(demo_hub.path), entries)
    assert {w.worker: (w.status, w.error) for w in summary.workers} == {
        "critic": (WorkerStatus.OK, None),
        "counter": (WorkerStatus.OK, None),
        "poster-1": (WorkerStatus.OK, None),
        "poster-2": (WorkerStatus.OK, None),
    }
    assert summary.failure is None and summary.warning is None
    assert demo_hub.state().document("posts.json")["items"] == [{"by": "team"}]
    # visits and posts are counters: both scouts' edits are +4 and +1, the counter's +2
    assert demo_hub.state().document("stats.json") == {"posts": 2, "comments": 0, "visits": 10}
