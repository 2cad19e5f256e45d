"""The frame and replay flows, run for real against a Prefect server on loopback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.task_runners import ThreadPoolTaskRunner

from flows.frame import frame, gather
from flows.replay import replay
from gnp import lineage
from gnp.errors import UsageError
from gnp.hub import Hub
from gnp.roster import member
from tests.hubtools import agent, incr, send
from tests.test_cli import cli

pytestmark = pytest.mark.usefixtures("prefect_api")


def flow_run(run_id: str) -> Any:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)  # type: ignore[arg-type]


def test_the_frame_flow_with_a_crash_a_timeout_and_a_conflict(demo_hub: Hub) -> None:
    hub = str(demo_hub.path)
    send(demo_hub, "cron", incr("stats.json", "/visits", 10))  # from outside the flow
    roster = [
        agent("poster-1", "post"),
        agent("flaky", "crash"),
        agent("sleepy", "hang", timeout=1),
        agent("scout-lead", "scout_active", authority=2),
        agent("scout-new", "scout_resting", authority=1),
    ]
    summary = frame(hub, roster, max_workers=3)

    assert summary["frame"] == 1
    assert summary["counts"] == {
        "applied": 3,
        "rejected": 0,
        "conflict": 1,
        "fallback": 2,
        "duplicate": 0,
    }
    statuses = {w["worker"]: w["status"] for w in summary["workers"]}
    assert statuses == {
        "poster-1": "ok",
        "flaky": "fallback",
        "sleepy": "fallback",
        "scout-lead": "ok",
        "scout-new": "ok",
    }
    state = demo_hub.state()
    assert state.document("stats.json") == {"posts": 1, "comments": 0, "visits": 10}
    assert state.document("agents.json")["agents"]["scout"]["status"] == "active"

    run = flow_run(summary["flow_run_id"])
    assert run.name == "frame-1" and run.state.is_completed()
    rows = lineage.read(summary["lineage"].rsplit("/frame=", 1)[0], frame=1)
    assert len(rows) == 6 and set(rows.flow_run_id) == {summary["flow_run_id"]}
    assert sorted(rows.status) == sorted(["applied"] * 3 + ["conflict"] + ["fallback"] * 2)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
    mine = [
        a for a in artifacts if str(a.flow_run_id) == summary["flow_run_id"] and a.key
    ]  # a keyless one holds the persisted result
    assert len(mine) == 1 and mine[0].key == f"gnp-frame-{demo_hub.state().hub_id[:12]}"
    assert "| conflict | 1 |" in str(mine[0].data)

    reports = replay(hub)
    assert [(r["frame"], r["identical"]) for r in reports] == [(1, True)]


def test_a_frame_of_zero_workers_merges_the_inbox_and_an_empty_one_says_so(hub: Hub) -> None:
    send(hub, "alice", incr())
    summary = frame(str(hub.path))
    assert summary["frame"] == 1 and summary["counts"]["applied"] == 1
    empty = frame(str(hub.path))
    assert empty["frame"] is None and empty["lineage"] is None
    assert flow_run(empty["flow_run_id"]).name == "frame-2-empty"
    assert hub.state().frame == 1


def test_a_run_named_for_a_frame_another_engine_took_is_renamed(demo_hub: Hub) -> None:
    """The run is named when it starts, for the frame it expects; an engine elsewhere
    merges that frame meanwhile, so this run's merge makes the next one."""
    hub = str(demo_hub.path)
    send(demo_hub, "cron", incr("stats.json", "/visits", 10))
    elsewhere = (
        "import os; from gnp.engine import run_frame; from gnp.hub import Hub; "
        "run_frame(Hub.open(os.environ['GNP_HUB']))"
    )
    racer = {"id": "poster-2", "command": [sys.executable, "-c", elsewhere]}
    summary = frame(hub, [racer, agent("poster-1", "post")], max_workers=1)
    assert demo_hub.state().document("stats.json")["visits"] == 10  # merged by the racer
    assert summary["frame"] == 2 and summary["counts"]["applied"] == 1
    assert flow_run(summary["flow_run_id"]).name == "frame-2"


@task(cache_policy=NO_CACHE)
def explode(hub: str, entry: dict[str, Any], worktrees: str | None = None) -> dict[str, Any]:
    raise MemoryError("the worker task ran out of memory")


@flow
def one_crashing_task(hub: str) -> dict[str, Any]:
    who = member({"id": "alice", "command": ["true"]})
    with ThreadPoolTaskRunner(max_workers=1) as runner:
        future = runner.submit(explode, {"hub": hub, "entry": who.to_json()})
        return gather(hub, who, future).to_json()


def test_a_worker_task_that_fails_in_prefect_becomes_a_fallback_delta(hub: Hub) -> None:
    send(hub, "alice", incr())  # registers alice
    outcome = one_crashing_task(str(hub.path))
    assert outcome["status"] == "fallback"
    assert "worker task failed" in outcome["error"]
    assert "the worker task ran out of memory" in outcome["error"]
    summary = frame(str(hub.path))
    fallback = [v for v in summary["verdicts"] if v["outcome"] == "fallback"]
    assert [v["reason"] for v in fallback] == [outcome["error"]]


def test_the_replay_flow_fails_on_a_mismatch_and_names_the_paths(demo_hub: Hub) -> None:
    from tests.test_replay import doctor_frame

    frame(str(demo_hub.path), [agent("poster-1", "post")])
    doctor_frame(demo_hub)
    reports = replay(str(demo_hub.path), frame=1, fail_on_mismatch=False)
    assert reports[0]["paths"] == ["stats.json#/posts"]
    state = replay(str(demo_hub.path), frame=1, return_state=True)
    assert state.is_failed() and "do not replay: [1]" in str(state.message)


def test_the_command_line_runs_frames_and_replays_as_flows(demo_hub: Hub, tmp_path: Path) -> None:
    hub = str(demo_hub.path)
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps([agent("poster-1", "post"), agent("flaky", "crash")]))
    done = cli("frame", "--hub", hub, "--roster", str(roster), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["frame"] == 1 and summary["counts"]["fallback"] == 1
    progress = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert sorted(line.split()[0] for line in progress) == ["[1/2]", "[2/2]"]  # as each ended
    assert sorted(line.split()[1:3] for line in progress) == [
        ["flaky", "fallback"],
        ["poster-1", "ok"],
    ]
    shown = cli("frame", "--hub", hub, "--roster", str(roster))
    assert "frame 2: 1 applied" in shown.stdout and "RuntimeError" in shown.stdout
    replayed = cli("replay", "--hub", hub, "--json")
    assert [r["identical"] for r in json.loads(replayed.stdout)] == [True, True]
    assert "frame 2: replays identically" in cli("replay", "--hub", hub, "--first", "2").stdout
    roster.write_text('[{"id": "poster-1"}]')
    bad = cli("frame", "--hub", hub, "--roster", str(roster))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "needs exactly one of call (module:function) or command" in bad.stderr
    out_of_range = cli("replay", "--hub", hub, "--first", "2", "--last", "9")
    assert out_of_range.returncode == 1
    assert "frames run from 1 to 2; cannot replay 2 to 9" in out_of_range.stderr


def test_which_frames_a_replay_covers(hub: Hub) -> None:
    from gnp.replay import frames_to_replay

    where = str(hub.path)
    assert frames_to_replay(where, None, None, None) == []  # a new hub: nothing, not an error
    assert replay(where) == []
    send(hub, "alice", incr())
    frame(where)
    send(hub, "alice", incr())
    frame(where)
    assert frames_to_replay(where, None, None, None) == [1, 2]
    assert frames_to_replay(where, 2, None, None) == [2]
    assert frames_to_replay(where, None, 2, None) == [2]
    assert frames_to_replay(where, None, None, 1) == [1]
    for bad, message in [
        ((1, 1, None), "not both"),
        ((None, 0, None), "cannot replay 0 to 2"),
        ((None, 2, 1), "cannot replay 2 to 1"),
    ]:
        with pytest.raises(UsageError, match=message):
            frames_to_replay(where, *bad)


def test_runs_started_by_gnp_send_no_heartbeats_unless_chosen() -> None:
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_TASKS_DEFAULT_RETRIES,
        get_current_settings,
        temporary_settings,
    )

    from flows.runs import started_here

    @flow
    def heartbeat_seen() -> int | None:  # what the engine reads as a run starts
        return get_current_settings().flows.heartbeat_frequency

    default = heartbeat_seen()
    assert default is not None  # Prefect's default sends them
    with started_here():
        assert heartbeat_seen() is None
    from flows import runs

    built = runs._derived
    with started_here():  # built once, then reused
        assert heartbeat_seen() is None
    assert runs._derived is built
    assert heartbeat_seen() == default

    @flow
    def retries_seen() -> int:
        return get_current_settings().tasks.default_retries

    with temporary_settings(updates={PREFECT_TASKS_DEFAULT_RETRIES: 2}), started_here():
        assert heartbeat_seen() is None  # derived from the settings in force, not reused
        assert retries_seen() == 2
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 60}), started_here():
        assert heartbeat_seen() == 60  # chosen by the user: kept
