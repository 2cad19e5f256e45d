"""The repository's prefect.yaml, for real: deployed with ``prefect deploy`` to a process
work pool, its frame and its replay run by a ``prefect worker`` started here, as a team
would run them (the flow runs in a process the worker starts, with the keys of the
worker's GNP_HOME, from the folder the pull step names)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import FlowRun

from gnp import demo
from gnp.core.verdict import Outcome
from gnp.git.hub import Hub
from gnp.lineage import read
from gnp.lineage.frames import lineage_root
from tests.helpers import ROOT
from tests.helpers.waiting import stop_group

POSTER = demo.ROSTERS[0][0]  # {"id": "poster-1", "call": "gnp.demo:post"}


def deployable(hub: str, pool: str, name: str) -> dict[str, Any]:
    """The repository's prefect.yaml with this test's hub, roster, pool and name, and its
    schedules inactive (deployed as they are, but nothing runs unless asked)."""
    spec: dict[str, Any] = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    for deployment in spec["deployments"]:
        deployment["name"] = name
        deployment["parameters"]["hub"] = hub
        deployment["work_pool"]["name"] = pool
        for schedule in deployment["schedules"]:
            schedule["active"] = False
        if deployment["flow_name"] == "gnp-frame":
            deployment["parameters"]["roster"] = [POSTER]
    return spec


class Worker:
    """``prefect worker start --pool POOL``, in a process group of its own: stopping the
    group stops any flow run it started as well."""

    def __init__(self, folder: Path, pool: str) -> None:
        self.log = folder / "worker.log"
        env = {**os.environ, "PREFECT_WORKER_QUERY_SECONDS": "1"}  # a new run within 1 s
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,  # PREFECT_API_URL of the test server, GNP_HOME of the test
                cwd=folder,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop_group(self.process)


@pytest.fixture
def pool(prefect_api: str) -> Iterator[str]:
    """A process work pool of this test's own, deleted after it with its deployments."""
    from prefect.client.schemas.actions import WorkPoolCreate

    name = f"gnp-test-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=name, type="process"))
    yield name
    with get_client(sync_client=True) as client:
        for deployment in client.read_deployments():
            if deployment.work_pool_name == name:
                client.delete_deployment(deployment.id)
        client.delete_work_pool(name)


def run_to_the_end(client: SyncPrefectClient, deployment: str, worker: Worker) -> FlowRun:
    """A run of ``deployment`` (flow/name), made now and waited for until it is over."""
    made = client.create_flow_run_from_deployment(client.read_deployment_by_name(deployment).id)
    deadline = time.monotonic() + 120
    while True:
        run = client.read_flow_run(made.id)
        if run.state is not None and run.state.is_final():
            return run
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited with {worker.process.returncode}:\n{worker.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{deployment} did not end in 120 s: {run.state!r}\n{worker.output()}")
        time.sleep(0.5)


def test_prefect_yaml_deployed_to_a_work_pool_runs_a_frame_on_a_prefect_worker(
    tmp_path: Path, pool: str, demo_hub: Hub
) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "project"
    folder.mkdir()
    spec = deployable(str(demo_hub.path), pool, name)
    (folder / "prefect.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    deployed = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    with get_client(sync_client=True) as client:
        scheduled = client.read_deployment_by_name(f"gnp-frame/{name}")
        assert scheduled.work_pool_name == pool
        assert scheduled.parameters["roster"] == [POSTER]
        assert [s.active for s in scheduled.schedules] == [False]

    worker = Worker(folder, pool)
    try:
        with get_client(sync_client=True) as client:
            run = run_to_the_end(client, f"gnp-frame/{name}", worker)
            assert run.state is not None
            assert run.state.is_completed(), f"{run.state!r}\n{worker.output()}"
            assert run.work_pool_name == pool
            assert run.name == "frame-1"

            state = demo_hub.state()
            assert state.frame == 1
            [post] = state.document("posts.json")["items"]
            assert post["by"] == "poster-1"
            assert state.document("stats.json")["posts"] == 1
            rows = read.read(lineage_root(demo_hub), frame=1)
            assert list(zip(rows["worker"], rows["status"], rows["flow_run_id"], strict=True)) == [
                ("poster-1", Outcome.APPLIED.value, str(run.id))
            ]

            replayed = run_to_the_end(client, f"gnp-replay/{name}", worker)
            assert replayed.state is not None
            assert replayed.state.is_completed(), f"{replayed.state!r}\n{worker.output()}"
    finally:
        worker.stop()
