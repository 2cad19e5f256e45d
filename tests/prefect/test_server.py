"""The Prefect server a gnp command starts for itself when none is configured: out of
reach of the terminal's Ctrl-C, stopped when the command ends, gone if gnp is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gnp.git.connect import open_hub
from gnp.git.engine import boundary, run_frame
from gnp.git.hub import Hub
from tests.helpers.cli import GNP
from tests.helpers.hubs import incr, send
from tests.helpers.waiting import wait_until


def own_server_env(tmp_path: Path) -> dict[str, str]:
    """No server configured, and Prefect's database in a folder of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        GNP_HOME=str(tmp_path / "home"),
        GNP_WORKTREES=str(tmp_path / "wt"),
        PREFECT_HOME=str(tmp_path / "prefect"),
    )
    return env


def processes_of(prefect_home: Path) -> list[str]:
    """Command lines of the processes whose environment names ``prefect_home``."""
    found = []
    needle = f"PREFECT_HOME={prefect_home}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
        except OSError:
            pass
    return found


def test_ctrl_c_during_a_frame_stops_its_workers_and_leaves_no_server(tmp_path: Path) -> None:
    env = own_server_env(tmp_path)
    hub = str(tmp_path / "hub.git")
    subprocess.run([GNP, "init", hub], env=env, capture_output=True, check=True)
    started = tmp_path / "started"
    roster = [
        {"id": "slow", "command": ["sh", "-c", f"touch {started}; sleep 100"], "timeout": 90},
        {"id": "fast", "command": ["sh", "-c", "echo '{\"n\": 1}' > n.json"]},
    ]
    for entry in roster:
        subprocess.run([GNP, "keygen", entry["id"], "--hub", hub], env=env, check=True)
    (tmp_path / "roster.json").write_text(json.dumps(roster))
    command = [GNP, "frame", "--hub", hub, "--roster", str(tmp_path / "roster.json")]
    frame = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(started.exists, "the slow worker started")
        os.killpg(frame.pid, signal.SIGINT)  # as a terminal's Ctrl-C: its whole group
        _, err = frame.communicate(timeout=120)  # Prefect's own server died here, and it
    finally:  # took minutes of retries to notice
        if frame.poll() is None:
            os.killpg(frame.pid, signal.SIGKILL)
    assert frame.returncode == 130
    lines = err.strip().splitlines()
    assert lines[-1] == "gnp: interrupted"
    assert not any("was merged" in line for line in lines)
    assert any("slow fallback" in line and "told to stop" in line for line in lines)
    assert processes_of(tmp_path / "prefect") == []
    # Nothing lost: both deltas wait in the inbox for the next frame.
    assert len(boundary(open_hub(hub))) == 2


def test_the_server_ends_when_the_command_that_started_it_is_killed(tmp_path: Path) -> None:
    env = own_server_env(tmp_path)
    ready = tmp_path / "ready"
    parent = (
        "import pathlib, time, sys\n"
        "from gnp_cli.server import local_server\n"
        "with local_server({}, 120) as url:\n"
        f"    pathlib.Path({str(ready)!r}).write_text(url)\n"
        "    time.sleep(300)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", parent], env=env, start_new_session=True)
    try:
        wait_until(ready.exists, "the server is up")
        assert processes_of(tmp_path / "prefect")  # the parent and its server
        os.kill(process.pid, signal.SIGKILL)  # no cleanup of its own can run
        process.wait(timeout=30)
        wait_until(lambda: not processes_of(tmp_path / "prefect"), "the server ended", 60)
        assert processes_of(tmp_path / "prefect") == []
    finally:
        if process.poll() is None:
            process.kill()


def test_an_interrupt_after_the_merge_says_the_frame_was_merged(
    hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    from gnp_cli.app import _merged_before

    before = hub.state().frame
    _merged_before(str(hub.path), before)
    assert capsys.readouterr().err == ""  # nothing merged: the interrupt says it all
    send(hub, "alice", incr())
    run_frame(hub)
    _merged_before(str(hub.path), before)
    said = capsys.readouterr().err
    assert said.startswith(f"gnp: frame {before + 1} was merged before the interrupt")
    # Only a frame that merges writes lineage, missing earlier rows included.
    assert "the next frame that merges a delta writes it" in said
