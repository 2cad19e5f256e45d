"""The deployments: built offline, described in prefect.yaml, and served for real once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, FlowRun
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments import run_deployment
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.flows import Flow, load_flow_from_entrypoint

from gnp import demo
from gnp.core.errors import UsageError
from gnp.core.verdict import Outcome
from gnp.frame.pipeline import run_plain
from gnp.frame.roster import parse
from gnp.git.engine import run_frame
from gnp.git.local import LocalRepo
from gnp.process import owners
from gnp.process.janitor import sweep
from gnp.process.proc import proc_stat
from gnp_cli.app import main
from gnp_deployments import FRAME_CRON, REPLAY_CRON, build
from gnp_deployments.schedules import default_name
from gnp_flows.frame import frame
from gnp_flows.replay import replay
from tests.helpers import ROOT
from tests.helpers.cli import GNP
from tests.helpers.waiting import stop_group, wait_until

POSTER = demo.ROSTERS[0][0]  # {"id": "poster-1", "call": "gnp.demo:post"}
NEVER = "0 0 1 1 *"  # midnight on New Year's Day: no scheduled run during a test


def crons(deployment: RunnerDeployment) -> list[tuple[str, str | None]]:
    schedules = [s.schedule for s in deployment.schedules or []]
    return [(s.cron, s.timezone) for s in schedules if isinstance(s, CronSchedule)]


def test_build_makes_a_frame_and_a_replay_deployment_offline(tmp_path: Path) -> None:
    hub = str(tmp_path / "social.git")
    scheduled, nightly = build(hub, [POSTER], lineage=str(tmp_path / "lineage"))

    assert (scheduled.name, nightly.name) == ("social", "social")
    assert scheduled.flow_name == frame.name == "gnp-frame"
    assert nightly.flow_name == replay.name == "gnp-replay"
    assert scheduled.entrypoint == "gnp_flows.frame.frame"
    assert nightly.entrypoint == "gnp_flows.replay.replay"
    assert crons(scheduled) == [(FRAME_CRON, "UTC")]
    assert crons(nightly) == [(REPLAY_CRON, "UTC")]
    assert scheduled.work_pool_name is None and nightly.work_pool_name is None
    assert FRAME_CRON == "*/5 * * * *"
    assert scheduled.parameters == {
        "hub": hub,
        "roster": [
            {
                "id": "poster-1",
                "call": "gnp.demo:post",
                "authority": 0,
                "timeout": 600.0,
                "cwd": os.getcwd(),  # a roster given as a list: from here, made absolute
            }
        ],
        "max_workers": 8,
        "lineage": str(tmp_path / "lineage"),
    }
    assert nightly.parameters == {"hub": hub}  # frame, first, last: None, so every frame
    assert scheduled.concurrency_limit == 1
    assert scheduled.concurrency_options is not None
    assert scheduled.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
    frame.validate_parameters(scheduled.parameters)
    replay.validate_parameters(nightly.parameters)


def test_build_takes_a_name_schedules_and_resolves_a_relative_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scheduled, nightly = build(
        "hub.git", None, name="ops-1", cron="0 * * * *", replay_cron="30 2 * * 0", max_workers=2
    )
    assert (scheduled.name, nightly.name) == ("ops-1", "ops-1")
    assert crons(scheduled) == [("0 * * * *", "UTC")]
    assert crons(nightly) == [("30 2 * * 0", "UTC")]
    assert scheduled.parameters == {
        "hub": str(tmp_path / "hub.git"),
        "roster": [],
        "max_workers": 2,
    }
    url = "ssh://git@example.com/org/social.git"
    assert build(url)[1].parameters == {"hub": url}


def test_build_passes_a_dask_scheduler_to_the_frames() -> None:
    scheduled, nightly = build("/srv/gnp/hub.git", dask="tcp://10.0.0.5:8786")
    assert scheduled.parameters["dask"] == "tcp://10.0.0.5:8786"
    assert nightly.parameters == {"hub": "/srv/gnp/hub.git"}
    frame.validate_parameters(scheduled.parameters)


@pytest.mark.usefixtures("prefect_api")
def test_a_scheduled_frame_resolves_its_rosters_paths_from_the_rosters_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `gnp serve --roster FILE` builds: a run of it starts in whatever folder
    Prefect's runner chooses, and its workers still run what the roster meant."""
    hub = demo.setup(tmp_path / "hub.git")
    monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "worktrees"))
    team = tmp_path / "team"
    (team / "sub").mkdir(parents=True)
    (team / "scout.sh").write_text(
        '#!/bin/sh\necho \'{"posts": 0, "comments": 0, "visits": 2}\' > stats.json\n'
    )
    (team / "scout.sh").chmod(0o755)
    (team / "roster.json").write_text(
        json.dumps(
            [
                {"id": "critic", "command": "./scout.sh"},
                {"id": "fan", "command": "../scout.sh", "cwd": "sub"},
            ]
        )
    )
    monkeypatch.chdir(tmp_path)
    [scheduled, _] = build(str(hub.path), "team/roster.json", cron=NEVER, replay_cron=NEVER)
    roster = scheduled.parameters["roster"]
    assert [(m["command"], m["cwd"]) for m in roster] == [
        (["./scout.sh"], str(team)),
        (["../scout.sh"], str(team / "sub")),
    ]
    elsewhere = tmp_path / "runner"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    summary = frame(**scheduled.parameters)  # as the runner calls it, from its folder
    assert [(w.worker, w.status) for w in summary.workers] == [
        ("critic", "ok"),
        ("fan", "ok"),
    ]
    assert hub.state().document("stats.json")["visits"] == 4


@pytest.mark.parametrize(
    "hub, name",
    [
        ("/srv/gnp/social.git", "social"),
        ("/srv/gnp/social.git/", "social"),
        ("git@example.com:org/team hub.git", "team-hub"),
        ("https://example.com/org/social", "social"),
        ("/", "gnp"),
    ],
)
def test_default_name_is_the_hubs_name(hub: str, name: str) -> None:
    assert default_name(hub) == name


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cron": "every 5 minutes"}, "not a cron schedule"),
        ({"replay_cron": "H 3 * * *"}, "not a cron schedule"),
        ({"name": "a/b"}, "deployment name"),
        ({"max_workers": 0}, "at least 1"),
        ({"roster": [{"id": "x"}]}, "exactly one of call"),
    ],
)
def test_build_refuses_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build("/srv/gnp/hub.git", **kwargs)


def serve_exits(argv: list[str]) -> int:
    """``gnp serve ARGV`` in this process, up to its exit status (it fails before serving)."""
    with pytest.raises(SystemExit) as exited:
        main(["serve", *argv])
    return int(exited.value.code or 0)


@pytest.mark.parametrize(
    "roster, extra, message",
    [
        (None, ["--cron", "*/5 * *"], "not a cron schedule"),
        ("[{", [], "not JSON"),
        ('{"id": "x"}', [], "a roster is a JSON list"),
        ('[{"id": "x", "call": "m:f", "color": 1}]', [], "roster entry 1 has unknown keys"),
        ('[{"id": "x", "call": "m:f"}, {"id": "x", "call": "m:g"}]', [], "on the roster twice"),
    ],
)
def test_serve_refuses_bad_input_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    roster: str | None,
    extra: list[str],
    message: str,
) -> None:
    hub = demo.setup(tmp_path / "hub.git")
    argv = ["--hub", str(hub.path), *extra]
    if roster is not None:
        (tmp_path / "roster.json").write_text(roster)
        argv += ["--roster", str(tmp_path / "roster.json")]
    assert serve_exits(argv) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("gnp: ") and message in line


@pytest.mark.parametrize("option", ["--cron", "--replay-cron"])
def test_serve_refuses_an_empty_schedule_rather_than_serving_the_default(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: str,
) -> None:
    """``--cron ''`` is a mistake (an unset variable in a unit file, say): it is refused, as
    ``python -m deployments.serve`` refused it, not taken for the default schedule."""
    import gnp_deployments.serve

    def served(deployments: object) -> None:
        pytest.fail(f"gnp serve {option} '' served the default schedule")

    monkeypatch.setattr(gnp_deployments.serve, "serve", served)
    hub = demo.setup(tmp_path / "hub.git")
    assert serve_exits(["--hub", str(hub.path), option, ""]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert (
        line == "gnp: '' is not a cron schedule Prefect accepts (five fields, e.g. '*/5 * * * *')"
    )


def test_serve_refuses_a_missing_hub_or_roster_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.git")
    assert serve_exits(["--hub", missing]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"gnp: {missing} is not a hub; create one with 'gnp init {missing}'"
    ]
    hub = str(demo.setup(tmp_path / "hub.git").path)
    assert serve_exits(["--hub", hub, "--roster", str(tmp_path / "none.json")]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("gnp: cannot read roster")
    assert serve_exits([]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "gnp: Missing option '--hub'. (see 'gnp serve --help')"
    ]


def test_serve_without_a_prefect_server_that_schedules_says_so(tmp_path: Path) -> None:
    """Prefect's temporary server runs no scheduler: served there, frames would never run."""
    hub = str(demo.setup(tmp_path / "hub.git").path)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")  # no profile names a server either
    done = subprocess.run(
        [GNP, "serve", "--hub", hub], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "gnp: gnp serve needs a Prefect server that schedules runs: start one with "
        "'gnp server start', or set PREFECT_API_URL to the API of one of yours"
    ]


def test_the_old_way_to_serve_says_what_replaced_it() -> None:
    """``python -m deployments.serve``, run where it always was (a checkout, where the
    folder still imports by its short name), must not exit 0 having served nothing: a
    unit file written for it would look healthy and schedule no frame."""
    ran = subprocess.run(
        [sys.executable, "-m", "deployments.serve", "--hub", "hub.git"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 2
    assert ran.stderr.splitlines()[-1] == (
        "gnp: 'python -m deployments.serve' is now 'gnp serve' (with the same options)"
    )


# prefect.yaml ------------------------------------------------------------------------------


@pytest.fixture
def prefect_yaml() -> dict[str, Any]:
    text = (ROOT / "prefect.yaml").read_text()
    return cast(dict[str, Any], yaml.safe_load(text))


def test_prefect_yaml_is_what_prefect_deploy_reads(prefect_yaml: dict[str, Any]) -> None:
    model = PrefectYamlModel.model_validate(prefect_yaml)  # what `prefect deploy` validates
    assert [(d.flow_name, d.name) for d in model.deployments] == [
        ("gnp-frame", "hub"),
        ("gnp-replay", "hub"),
    ]
    assert all(d.work_pool and d.work_pool.name == "gnp-pool" for d in model.deployments)
    [step] = model.pull or []
    assert "prefect.deployments.steps.set_working_directory" in step
    assert [d.entrypoint for d in model.deployments] == [
        "gnp_flows.frame.frame",
        "gnp_flows.replay.replay",
    ]


def test_prefect_yaml_entrypoints_schedules_and_parameters(
    prefect_yaml: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")  # module paths of the installed gnp: any folder will do
    found = {}
    for entry in prefect_yaml["deployments"]:
        loaded: Flow[..., Any] = load_flow_from_entrypoint(entry["entrypoint"], False)
        assert loaded.name == entry["flow_name"]
        loaded.validate_parameters(entry["parameters"])  # names and types the flow takes
        [schedule] = entry["schedules"]
        CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
        found[entry["flow_name"]] = schedule["cron"]
    assert found == {"gnp-frame": FRAME_CRON, "gnp-replay": REPLAY_CRON}
    roster = prefect_yaml["deployments"][0]["parameters"]["roster"]
    assert [m.id for m in parse(roster)] == ["poster"]


def test_prefect_yaml_says_how_to_run_the_workers_on_a_dask_cluster(
    prefect_yaml: dict[str, Any],
) -> None:
    """The commented parameter, once uncommented, is one the flow takes."""
    text = (ROOT / "prefect.yaml").read_text()
    [line] = [line for line in text.splitlines() if line.strip().startswith("# dask:")]
    value = yaml.safe_load(line.strip().removeprefix("#"))
    assert value == {"dask": "tcp://dask-scheduler:8786"}
    parameters = {**prefect_yaml["deployments"][0]["parameters"], **value}
    frame.validate_parameters(parameters)


# A round trip through a served deployment ---------------------------------------------------


class Served:
    """``gnp serve`` in a process group of its own, so that stopping it also stops any flow
    run it started."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.log = folder / "serve.log"
        env = {
            **os.environ,  # PREFECT_API_URL of the test server, GNP_HOME of the test
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",  # pick up a new run within a second
            "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",  # so the test can read the result
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [GNP, "serve", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=folder,  # module-path entrypoints import from anywhere
                start_new_session=True,
            )

    def wait_for(self, deployment: str, seconds: float = 90) -> None:
        """Until ``deployment`` is registered; fail early if the server exited."""
        deadline = time.monotonic() + seconds
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    pytest.fail(f"serve exited with {self.process.returncode}:\n{self.output()}")
                try:
                    client.read_deployment_by_name(deployment)
                    return
                except ObjectNotFound:
                    time.sleep(0.5)
        pytest.fail(f"{deployment} was not registered in {seconds} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop_group(self.process)  # on SIGTERM, serve pauses its schedules


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*args: str) -> Served:
        started.append(Served(tmp_path, *args))
        return started[-1]

    yield start
    for served in started:
        served.stop()


def test_a_served_replay_deployment_replays_every_frame(
    tmp_path: Path,
    prefect_api: str,
    serve: Callable[..., Served],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "worktrees"))
    hub = demo.setup(tmp_path / "hub.git")
    for entry in (POSTER, demo.ROSTERS[0][3]):  # two frames: a poster, then a counter
        summary = run_plain(str(hub.path), parse([entry]))
        assert summary.counts[Outcome.APPLIED] == 1, summary
    name = f"test-{uuid.uuid4().hex[:8]}"
    served = serve("--hub", str(hub.path), "--name", name, "--cron", NEVER, "--replay-cron", NEVER)
    served.wait_for(f"gnp-replay/{name}")

    run: FlowRun = run_deployment(  # type: ignore[assignment]  # a FlowRun, called from sync code
        name=f"gnp-replay/{name}", parameters={"hub": str(hub.path)}, timeout=120
    )

    assert run.state is not None
    assert run.state.is_completed(), f"{run.state!r}\n{served.output()}"
    reports = run.state.result()
    assert [(r.frame, r.identical) for r in reports] == [(1, True), (2, True)]


def test_ctrl_c_stops_a_served_frame_and_its_workers_leave_fallbacks(
    tmp_path: Path,
    prefect_api: str,
    serve: Callable[..., Served],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C in serve's terminal while a frame's worker runs: in seconds, not at the
    worker's timeout, serve exits, the work is stopped and leaves a fallback, the flow run
    is over and the deployment's one-frame slot is free for the next serve."""
    monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "worktrees"))
    hub = demo.setup(tmp_path / "hub.git")
    pid = tmp_path / "work.pid"
    hang = f"echo $$ > {pid}.tmp && mv {pid}.tmp {pid} && exec sleep 600"
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps([{"id": "poster-1", "command": ["sh", "-c", hang]}]))
    name = f"test-{uuid.uuid4().hex[:8]}"
    never = ["--cron", NEVER, "--replay-cron", NEVER]
    served = serve("--hub", str(hub.path), "--roster", str(roster), "--name", name, *never)
    served.wait_for(f"gnp-frame/{name}")
    run: FlowRun = run_deployment(name=f"gnp-frame/{name}", timeout=0)  # type: ignore[assignment]
    try:
        wait_until(pid.exists, "the worker's command running")
        work = int(pid.read_text())
        os.killpg(served.process.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
        wait_until(lambda: served.process.poll() is not None, "serve's exit after Ctrl-C", 30)
        assert "Ctrl-C again stops at once" in served.output()

        with get_client(sync_client=True) as client:
            state = client.read_flow_run(run.id).state
            assert state is not None and state.is_final(), f"{state!r}\n{served.output()}"
            assert run.deployment_id is not None
            limit = client.read_deployment(run.deployment_id).global_concurrency_limit
            assert limit is not None and limit.active_slots == 0
        left = proc_stat(work)
        assert left is None or left[0] in "ZX", "the worker's command still runs"
        assert owners.read_all(LocalRepo.for_hub(hub).path) == []
        assert list((tmp_path / "worktrees").glob("*")) == []
        report = run_frame(hub)  # the frame was not merged; its fallback waits in the inbox
        assert [(v.worker, v.outcome, v.reason) for v in report.verdicts] == [
            ("poster-1", "fallback", "stopped: the process running it was told to stop")
        ]
    finally:
        served.stop()
        sweep(hub)  # what a failure of this test left running
