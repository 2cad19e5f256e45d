"""``gnp server``: one Prefect server left running in the background, used by every later
command that runs flows while PREFECT_API_URL is unset, stopped by ``gnp server stop``.

These tests run gnp with no Prefect setting of the suite's (its server's URL above all):
what they check is that the resident server, and no other, is used."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gnp.process.proc import process_start, running
from gnp_cli import resident
from gnp_cli.server import free_port
from tests.helpers.cli import GNP


@pytest.fixture
def env(tmp_path: Path, gnp_home: Path) -> Iterator[dict[str, str]]:
    """gnp's environment, with no Prefect server configured and Prefect's database in a
    folder of the test's own; whatever server a test leaves running is stopped after it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    clean.update(
        GNP_HOME=str(gnp_home),  # the test's own, as the test process has it
        GNP_WORKTREES=str(tmp_path / "worktrees"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_UI_ENABLED="false",  # a quicker start: no UI to build
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    yield clean
    resident.stop()  # GNP_HOME is the same here: the record the commands wrote


def gnp(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GNP, *args], env=env, input=stdin, capture_output=True, text=True, timeout=240
    )


def write_record(home: Path, record: dict[str, Any]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / resident.RECORD).write_text(json.dumps(record))


def flow_runs(api: str, name: str) -> list[dict[str, Any]]:
    """The flow runs called ``name`` on the server at ``api``, asked through its API."""
    body = json.dumps({"flow_runs": {"name": {"any_": [name]}}}).encode()
    asked = urllib.request.Request(
        f"{api}/flow_runs/filter", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(asked, timeout=30) as answer:
        runs: list[dict[str, Any]] = json.load(answer)
    return runs


def test_a_resident_server_runs_the_frames_of_later_commands_until_it_is_stopped(
    tmp_path: Path, env: dict[str, str], gnp_home: Path
) -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()  # its pid names no process now
    write_record(gnp_home, {"pid": ended.pid, "started": "1", "port": 1, "log": "x"})
    looked = gnp(env, "server", "status")
    assert looked.returncode == 3
    assert looked.stdout.startswith(f"not running (a stale record is left: pid {ended.pid} ")

    port = free_port()
    started = gnp(env, "server", "start", "--port", str(port))
    assert started.returncode == 0, started.stderr
    api = f"http://127.0.0.1:{port}/api"
    record = json.loads((gnp_home / resident.RECORD).read_text())
    pid = record["pid"]
    assert started.stdout.splitlines()[:3] == [
        f"started a Prefect server: {api} (pid {pid})",
        f"UI:  http://127.0.0.1:{port}",
        f"log: {gnp_home / resident.LOG}",
    ]
    assert f"replacing a stale record: pid {ended.pid} " in started.stderr
    assert stat.S_IMODE((gnp_home / resident.RECORD).stat().st_mode) == 0o600
    assert running(pid, record["started"])  # it outlived the command that started it

    again = gnp(env, "server", "start")  # the default port, which it is not on: no matter
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == f"a Prefect server already runs: {api} (pid {pid})"
    assert json.loads((gnp_home / resident.RECORD).read_text())["pid"] == pid
    looked = gnp(env, "server", "status")
    assert looked.returncode == 0
    assert looked.stdout.splitlines() == [
        f"running: {api} (pid {pid})",
        f"UI:  http://127.0.0.1:{port}",
        f"log: {gnp_home / resident.LOG}",
    ]
    assert (gnp_home / resident.LOG).read_text()  # the server's own output

    hub = str(tmp_path / "hub.git")
    for step in (["init", hub], ["keygen", "alice", "--hub", hub]):
        assert gnp(env, *step).returncode == 0
    op = '[{"op": "incr", "file": "stats.json", "path": "/n", "value": 1}]'
    assert gnp(env, "submit", "--hub", hub, "--worker", "alice", stdin=op).returncode == 0
    framed = gnp(env, "frame", "--hub", hub)
    assert framed.returncode == 0, framed.stderr
    assert framed.stdout.startswith("frame 1: 1 applied")
    assert "starting a Prefect server" not in framed.stderr  # none of its own
    [run] = [r for r in flow_runs(api, "frame-1") if r["parameters"]["hub"] == hub]
    assert run["state_type"] == "COMPLETED"

    # gnp serve too: its deployments are made on the resident server, which schedules.
    serving = subprocess.Popen(
        [GNP, "serve", "--hub", hub, "--name", "resident-hub", "--cron", "0 0 1 1 *"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        names: list[str] = []
        for _ in range(240):
            asked = urllib.request.Request(
                f"{api}/deployments/filter", b"{}", {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(asked, timeout=30) as answer:
                names = [d["name"] for d in json.load(answer)]
            if "resident-hub" in names or serving.poll() is not None:
                break
            time.sleep(0.5)
        assert "resident-hub" in names, (
            serving.stderr.read() if serving.poll() is not None else names
        )
    finally:
        serving.terminate()
        serving.wait(timeout=60)

    stopped = gnp(env, "server", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.splitlines() == [f"stopped the Prefect server at {api} (pid {pid})"]
    assert not running(pid, record["started"])
    assert not (gnp_home / resident.RECORD).exists()
    assert gnp(env, "server", "status").returncode == 3
    again = gnp(env, "server", "stop")
    assert (again.returncode, again.stdout) == (0, "not running: nothing to stop\n")


def test_a_record_naming_another_process_is_stale_and_that_process_is_left_alone(
    env: dict[str, str], gnp_home: Path
) -> None:
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        # Its own pid and start time: only what it runs tells it from the server.
        record = {"pid": other.pid, "started": process_start(other.pid), "port": 4200, "log": "x"}
        write_record(gnp_home, record)
        looked = gnp(env, "server", "status")
        assert looked.returncode == 3
        assert f"pid {other.pid} is not gnp's Prefect server any more" in looked.stdout
        stopped = gnp(env, "server", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.startswith("not running (removed a stale record: ")
        assert other.poll() is None  # no signal reached it
        assert not (gnp_home / resident.RECORD).exists()
    finally:
        other.kill()
        other.wait()


def test_a_record_that_is_not_one_is_stale(env: dict[str, str], gnp_home: Path) -> None:
    gnp_home.mkdir(parents=True, exist_ok=True)
    (gnp_home / resident.RECORD).write_text("{")
    looked = gnp(env, "server", "status")
    assert looked.returncode == 3
    assert "is not a record gnp wrote" in looked.stdout


def test_a_port_in_use_is_refused_in_one_line(env: dict[str, str], gnp_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = gnp(env, "server", "start", "--port", str(port))
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"gnp: port {port} on 127.0.0.1 is in use; "
        "choose another with --port N, or --port 0 for any free one"
    ]
    assert not (gnp_home / resident.RECORD).exists()
