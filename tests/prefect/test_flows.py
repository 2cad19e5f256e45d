"""What only the flows do, run for real against a Prefect server on loopback: naming runs,
a worker task that fails inside Prefect, the replay flow, and heartbeats. The frame
itself, run by either runner: tests/prefect/test_frame.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.task_runners import ThreadPoolTaskRunner

from gnp.core.verdict import Outcome, WorkerStatus
from gnp.frame.pipeline import outcome
from gnp.frame.roster import member
from gnp.frame.workers import WorkerOutcome
from gnp.git.connect import open_hub
from gnp.git.hub import Hub
from gnp_flows.frame import attempt, frame
from gnp_flows.replay import replay
from tests.helpers.hubs import agent, incr, send

pytestmark = pytest.mark.usefixtures("prefect_api")


def flow_run(run_id: str) -> Any:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)  # type: ignore[arg-type]


def test_a_run_named_for_a_frame_another_engine_took_is_renamed(demo_hub: Hub) -> None:
    """The run is named when it starts, for the frame it expects; an engine elsewhere
    merges that frame meanwhile, so this run's merge makes the next one."""
    hub = str(demo_hub.path)
    send(demo_hub, "cron", incr("stats.json", "/visits", 10))
    elsewhere = (
        "import os; from gnp.git.engine import run_frame; "
        "from gnp.git.connect import open_hub; run_frame(open_hub(os.environ['GNP_HUB']))"
    )
    racer = {"id": "poster-2", "command": [sys.executable, "-c", elsewhere]}
    summary = frame(hub, [racer, agent("poster-1", "post")], max_workers=1)
    assert demo_hub.state().document("stats.json")["visits"] == 10  # merged by the racer
    assert summary.frame == 2 and summary.counts[Outcome.APPLIED] == 1
    assert flow_run(str(summary.flow_run_id)).name == "frame-2"


def test_a_frame_run_after_a_cancelled_one_gets_a_name_of_its_own(hub: Hub, tmp_path: Path) -> None:
    """A frame whose run was cancelled is run again: two runs, two names, both starting
    with the frame's. Runs of another hub are another hub's frames."""
    from prefect.states import Cancelled

    path = str(hub.path)
    with get_client(sync_client=True) as client:
        cancelled = client.create_flow_run(
            frame, name="frame-1", parameters={"hub": path}, state=Cancelled()
        )
    send(hub, "alice", incr())
    again = frame(path)
    assert again.frame == 1
    assert flow_run(str(again.flow_run_id)).name == "frame-1-2"
    assert flow_run(str(cancelled.id)).name == "frame-1"
    empty = [frame(path).flow_run_id for _ in range(2)]
    assert [flow_run(str(r)).name for r in empty] == ["frame-2-empty", "frame-2-empty-2"]

    other = Hub.init(tmp_path / "other.git")
    send(other, "alice", incr())
    assert flow_run(str(frame(str(other.path)).flow_run_id)).name == "frame-1"


@task(cache_policy=NO_CACHE)
def explode(hub: str, entry: dict[str, Any], worktrees: str | None = None) -> WorkerOutcome:
    raise MemoryError("the worker task ran out of memory")


@flow
def one_crashing_task(hub: str) -> WorkerOutcome:
    who = member({"id": "alice", "command": ["true"]})
    with ThreadPoolTaskRunner(max_workers=1) as runner:
        future = runner.submit(explode, {"hub": hub, "entry": who.to_json()})
        return outcome(open_hub(hub), who, attempt(future))


def test_a_worker_task_that_fails_in_prefect_becomes_a_fallback_delta(hub: Hub) -> None:
    send(hub, "alice", incr())  # registers alice
    fell = one_crashing_task(str(hub.path))
    assert fell.status is WorkerStatus.FALLBACK and fell.error is not None
    assert "worker task failed" in fell.error
    assert "the worker task ran out of memory" in fell.error
    summary = frame(str(hub.path))
    fallback = [v for v in summary.verdicts if v.outcome is Outcome.FALLBACK]
    assert [v.reason for v in fallback] == [fell.error]


@pytest.mark.damages_hub
def test_the_replay_flow_fails_on_a_mismatch_and_names_the_paths(demo_hub: Hub) -> None:
    from tests.helpers.hubs import doctor_frame

    frame(str(demo_hub.path), [agent("poster-1", "post")])
    doctor_frame(demo_hub)
    reports = replay(str(demo_hub.path), frame=1, fail_on_mismatch=False)
    assert reports[0].paths == ["stats.json#/posts"]
    state = replay(str(demo_hub.path), frame=1, return_state=True)
    assert state.is_failed() and "do not replay: [1]" in str(state.message)


def test_the_replay_flow_of_a_new_hub_replays_nothing(hub: Hub) -> None:
    assert replay(str(hub.path)) == []
    send(hub, "alice", incr())
    frame(str(hub.path))
    assert [(r.frame, r.identical) for r in replay(str(hub.path))] == [(1, True)]


def test_runs_started_by_gnp_send_no_heartbeats_unless_chosen() -> None:
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_TASKS_DEFAULT_RETRIES,
        get_current_settings,
        temporary_settings,
    )

    from gnp_cli.runs import started_here

    @flow
    def heartbeat_seen() -> int | None:  # what the engine reads as a run starts
        return get_current_settings().flows.heartbeat_frequency

    default = heartbeat_seen()
    assert default is not None  # Prefect's default sends them
    with started_here():
        assert heartbeat_seen() is None
    from gnp_cli import runs

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
