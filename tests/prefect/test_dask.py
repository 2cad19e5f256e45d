"""A frame's workers on a Dask cluster of separate processes: a scheduler and three
workers on loopback, each worker with its own GNP_HOME holding some of the roster's
keys, reporting to the session's Prefect server. One of the cluster's processes is
killed while it runs a roster worker's command, and every roster worker still ends the
frame with exactly one verdict."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gnp.core.ops import Op
from gnp.core.verdict import Outcome, WorkerStatus
from gnp.frame.pipeline import run_plain
from gnp.frame.summary import FrameSummary
from gnp.git.hub import Hub
from gnp.host import keys
from gnp.lineage import read as lineage
from gnp_cli.server import free_port
from tests.helpers.cli import cli
from tests.helpers.hubs import send, worker_key
from tests.helpers.real import need

WORKERS = 3  # Dask worker processes
HOLDERS = 2  # of them hold each roster worker's key

AGENT = """\
import json, os, pathlib, sys, time

mode = sys.argv[1]
if mode == "fail":
    sys.exit("no answer from the model")
if mode == "victim":
    mark = pathlib.Path(sys.argv[2])
    if not mark.exists():  # the first attempt: say so, and wait to be killed with its process
        mark.write_text(str(os.getpid()))
        time.sleep(120)
        sys.exit("not killed")
log = pathlib.Path("log.json")
done = json.loads(log.read_text())
done["runs"].append(os.environ["GNP_WORKER"])
log.write_text(json.dumps(done))
"""


def test_the_runner_is_chosen_by_the_address() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask.task_runners import DaskTaskRunner

    from gnp_flows.cluster import runner_for

    threads = runner_for(None, 3)
    assert isinstance(threads, ThreadPoolTaskRunner)
    assert threads._max_workers == 3
    assert isinstance(runner_for("", 3), ThreadPoolTaskRunner)  # a form's empty field
    dask = runner_for(" tcp://127.0.0.1:8786 ", 3)
    assert isinstance(dask, DaskTaskRunner)
    assert dask.address == "tcp://127.0.0.1:8786"


@dataclass
class Cluster:
    address: str
    homes: list[Path]
    processes: list[subprocess.Popen[bytes]]
    logs: Path


def _dask() -> str:
    beside = Path(sys.executable).parent / "dask"  # the venv's, when its bin is not on PATH
    program = str(beside) if beside.exists() else "dask"
    return need(program)[program]


@contextlib.contextmanager
def cluster(tmp: Path, home: Path, allowed_failures: int) -> Iterator[Cluster]:
    """``dask scheduler`` and WORKERS ``dask worker`` processes (each under a nanny, which
    starts its worker again if it dies) on 127.0.0.1; stopped after."""
    dask = _dask()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp / "dask-logs"
    logs.mkdir()
    env = {
        **os.environ,
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures),
        "DASK_DISTRIBUTED__WORKER__DAEMON": "false",
    }
    processes: list[subprocess.Popen[bytes]] = []
    # Under the test's GNP_HOME, whose repositories the hub check passes over.
    homes = [home / "cluster" / f"w{i}" for i in range(WORKERS)]

    def start(name: str, argv: list[str], extra: dict[str, str]) -> None:
        out = (logs / f"{name}.log").open("wb")
        processes.append(
            subprocess.Popen(
                argv,
                env={**env, **extra},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp,
                start_new_session=True,
            )
        )

    try:
        start(
            "scheduler",
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            {},
        )
        for i, where in enumerate(homes):
            where.mkdir(parents=True, mode=0o700)
            argv = [dask, "worker", address, "--name", f"w{i}", "--nthreads", "6"]
            argv += ["--no-dashboard", "--preload", "gnp_tasks.cluster", "--death-timeout", "60"]
            start(
                f"w{i}",
                argv,
                {"GNP_HOME": str(where), "GNP_WORKTREES": str(tmp / f"worktrees-{i}")},
            )
        yield Cluster(address, homes, processes, logs)
    finally:
        for process in reversed(processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def place_keys(hub: Hub, workers: list[str], homes: list[Path]) -> None:
    """Each roster worker's key in HOLDERS of the cluster's homes, and no longer in this
    process's: whatever is signed, the cluster signs."""
    hub_id = hub.state().hub_id
    for i, worker in enumerate(workers):
        worker_key(hub, worker)
        path = keys.key_path(hub_id, worker)
        for home in (homes[(i + k) % len(homes)] for k in range(HOLDERS)):
            folder = home / "keys" / hub_id
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copy2(path, folder / path.name)
        path.unlink()


def ready(address: str, homes: list[Path]) -> None:
    """Every Dask worker has registered, offering its keys."""
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(len(homes), timeout=90)


def parent(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no parent of {pid}")


def kill_when_started(mark: Path, killed: list[int], env: dict[str, str]) -> threading.Thread:
    """Once the victim's first attempt has started its command: SIGKILL the Dask worker
    process running it, then the command it leaves behind. ``env`` gets the killed
    process's GNP_HOME and GNP_WORKTREES, for its janitor."""

    def go() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                pid = int(mark.read_text())
                break
            time.sleep(0.1)
        else:
            return
        dask_worker = parent(pid)  # the harness runs the command from the task's process
        environ = Path(f"/proc/{dask_worker}/environ").read_bytes().split(b"\0")
        for pair in (e.decode() for e in environ if b"=" in e):
            name, _, value = pair.partition("=")
            if name in ("GNP_HOME", "GNP_WORKTREES"):
                env[name] = value
        os.kill(dask_worker, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)  # left running, unsupervised: gnp janitor's, there
        killed.extend([dask_worker, pid])

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def roster(agent: Path, mark: Path) -> list[dict[str, Any]]:
    py = sys.executable
    members = [{"id": f"agent-{i:02d}", "command": [py, str(agent), "ok"]} for i in range(13)]
    members += [{"id": f"flaky-{i}", "command": [py, str(agent), "fail"]} for i in range(2)]
    members.append(
        {"id": "victim", "command": [py, str(agent), "victim", str(mark)], "timeout": 120}
    )
    return members


@pytest.mark.parametrize(
    ("allowed_failures", "victim"),
    [
        # Dask runs the task again where the key is; the second attempt delivers.
        (3, WorkerStatus.OK),
        # Dask gives the task up at once; its stand-in, where the key is, leaves a fallback.
        (0, WorkerStatus.FALLBACK),
    ],
    ids=["run-again", "stand-in"],
)
def test_a_frame_on_a_dask_cluster_gives_each_worker_one_verdict_when_a_process_dies(
    hub: Hub,
    tmp_path: Path,
    gnp_home: Path,
    prefect_api: str,
    allowed_failures: int,
    victim: WorkerStatus,
) -> None:
    from gnp_flows.frame import frame

    send(hub, "owner", Op("add", "log.json", "", {"runs": []}))
    run_plain(str(hub.path))  # frame 1: the log the agents append to
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    mark = tmp_path / "victim-started"
    members = roster(agent, mark)
    ids = [m["id"] for m in members]

    with cluster(tmp_path, gnp_home, allowed_failures) as dask:
        place_keys(hub, ids, dask.homes)
        ready(dask.address, dask.homes)
        killed: list[int] = []
        where: dict[str, str] = {}
        killer = kill_when_started(mark, killed, where)
        summary: FrameSummary = frame(str(hub.path), members, dask=dask.address)
        killer.join(timeout=5)
        assert len(killed) == 2, f"the victim never started; see {dask.logs}"
        runs = hub.state().document("log.json")["runs"]
        # The killed process left the victim's first worktree, whose owner died before it
        # reported: its janitor finds the run's verdict merged, and adds none.
        swept = cli("janitor", "--hub", str(hub.path), env=where)
        assert swept.returncode == 0, swept.stderr
        assert "victim" in swept.stdout and "fallback" not in swept.stdout, swept.stdout
        assert not [r for r in hub.repo.references if r.startswith("refs/gnp/inbox/")]
        if victim is WorkerStatus.OK:
            next_frame = by_the_command_line(hub, tmp_path, members[:2], dask.address)

    # What Prefect shows: no task of the frame left Running by a process that died.
    assert [f"{n}: {s}" for n, s in task_states(summary.flow_run_id) if s in UNENDED] == []
    outcomes = {w.worker: w for w in summary.workers}
    assert sorted(outcomes) == sorted(ids)
    assert outcomes["victim"].status is victim
    assert [outcomes[f"flaky-{i}"].status for i in range(2)] == [WorkerStatus.FALLBACK] * 2
    for i in ids[:13]:
        # Tasks that shared the killed process died with it: run again, they deliver;
        # given up, their stand-ins leave fallbacks.
        assert outcomes[i].status is WorkerStatus.OK or (
            victim is WorkerStatus.FALLBACK and "KilledWorker" in (outcomes[i].error or "")
        ), outcomes[i]
    delivered = sorted(i for i, w in outcomes.items() if w.status is WorkerStatus.OK)
    assert summary.frame == 2
    assert summary.counts == {
        Outcome.APPLIED: len(delivered),
        Outcome.REJECTED: 0,
        Outcome.CONFLICT: 0,
        Outcome.FALLBACK: len(ids) - len(delivered),
        Outcome.DUPLICATE: 0,
    }
    # Exactly once: each delivered run appended its worker's id once, the victim's too
    # although its command started twice; a run that fell back appended nothing.
    assert sorted(runs) == delivered
    # One lineage row per roster worker in the frame, and nothing left in the inbox.
    assert summary.lineage is not None
    rows = lineage.read(summary.lineage.rsplit("/frame=", 1)[0])
    frame2 = sorted(r.worker for r in rows.itertuples() if r.frame == 2)
    assert frame2 == sorted(ids)
    assert not [r for r in hub.repo.references if r.startswith("refs/gnp/inbox/")]
    if victim is WorkerStatus.OK:  # and the command line runs a frame on the cluster too
        assert next_frame["frame"] == 3
        assert [w["status"] for w in next_frame["workers"]] == ["ok", "ok"]
        assert sorted(hub.state().document("log.json")["runs"][-2:]) == ids[:2]


UNENDED = ("SCHEDULED", "PENDING", "RUNNING")


def task_states(flow_run: str | None) -> list[tuple[str, str]]:
    """(name, state type) of every task run of ``flow_run``, as Prefect's server has them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    assert flow_run is not None
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run]))  # type: ignore[arg-type]
        )
    return [(r.name, r.state.type.value if r.state else "NONE") for r in runs]


def by_the_command_line(
    hub: Hub, tmp_path: Path, members: list[dict[str, Any]], address: str
) -> Any:
    """``gnp frame --dask ADDRESS``: one more frame on the same cluster; its summary."""
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps(members))
    ran = cli("frame", "--hub", str(hub.path), "--roster", str(roster), "--dask", address, "--json")
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)
