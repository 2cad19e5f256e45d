"""The command line's commands that run flows (frame, replay), with a Prefect server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gnp.git.connect import open_hub
from gnp.git.hub import Hub
from tests.helpers.cli import cli
from tests.helpers.hubs import agent

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_the_command_line_contract_end_to_end(tmp_path: Path) -> None:
    hub = str(tmp_path / "hub.git")
    env = {"GNP_WORKTREES": str(tmp_path / "wt")}
    assert cli("init", hub).returncode == 0
    assert cli("init", hub).returncode == 1  # not empty any more
    for worker in ("alice", "bob"):
        done = cli("keygen", worker, "--hub", hub)
        assert done.returncode == 0, done.stderr
    ops = '[{"op": "incr", "file": "stats.json", "path": "/posts", "value": 1}]'
    first = cli("submit", "--hub", hub, "--worker", "alice", stdin=ops)
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.strip()) == 64  # the delta id
    request = tmp_path / "req.json"
    request.write_text(
        '{"ops": [{"op": "add", "file": "agents.json", "path": "", '
        '"value": {"a": 1}}], "authority": 2, "author": "bob@example"}'
    )
    assert cli("grant", "--hub", hub, "bob", "--authority", "2").returncode == 0
    assert cli("submit", "--hub", hub, "--worker", "bob", str(request)).returncode == 0
    edit = "echo '{\"posts\": 5}' > stats.json"
    ran = cli("run", "--hub", hub, "--worker", "bob", "--", "sh", "-c", edit, env=env)
    assert ran.returncode == 0, ran.stderr
    frame = cli("frame", "--hub", hub)
    assert frame.returncode == 0
    assert "frame 1: 2 applied" in frame.stdout and "conflict" in frame.stdout
    assert cli("replay", "--hub", hub, "--frame", "1").returncode == 0
    rows = json.loads(cli("lineage", "--hub", hub, "--json").stdout)
    assert sorted(r["status"] for r in rows) == ["applied", "applied", "conflict"]
    assert {r["frame"] for r in rows} == {1}
    assert "conflict" in cli("lineage", "--hub", hub, "--frame", "1").stdout
    [frame_one] = json.loads(cli("lineage", "--hub", hub, "--summary", "--json").stdout)
    assert (frame_one["frame"], frame_one["deltas"], frame_one["applied"]) == (1, 3, 2)
    assert frame_one["conflict"] == 1 and frame_one["flow_run_id"]
    shown = cli("lineage", "--hub", hub, "--summary").stdout.splitlines()
    assert shown[0].split()[:4] == ["frame", "deltas", "applied", "rejected"]
    assert shown[1].split()[:4] == ["1", "3", "2", "0"]
    assert cli("replay", "--hub", hub, "--frame", "7").returncode == 1
    assert cli("janitor", "--hub", hub).stdout.strip() == "nothing to clean"


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


def test_the_command_line_takes_a_url(tmp_path: Path) -> None:
    path = tmp_path / "hub.git"
    url = f"file://{path}"

    assert cli("init", str(path)).returncode == 0
    assert cli("keygen", "alice", "--hub", url).returncode == 0
    ops = '[{"op": "add", "file": "a.json", "path": "", "value": {"x": 1}}]'
    assert cli("submit", "--hub", url, "--worker", "alice", stdin=ops).returncode == 0
    done = cli("frame", "--hub", url)
    assert done.returncode == 0 and "frame 1: 1 applied" in done.stdout
    assert open_hub(path).state().document("a.json") == {"x": 1}
    missing = cli("frame", "--hub", f"file://{tmp_path}/nowhere.git")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1


def test_gnp_frame_runs_a_rosters_workers_from_its_folder_wherever_it_is_started(
    demo_hub: Hub, tmp_path: Path
) -> None:
    hub = str(demo_hub.path)
    team = tmp_path / "team"
    (team / "agents").mkdir(parents=True)
    scout = team / "agents" / "scout.sh"
    scout.write_text('#!/bin/sh\necho \'{"posts": 0, "comments": 0, "visits": 3}\' > stats.json\n')
    scout.chmod(0o755)
    (team / "agents" / "count.py").write_text(
        "import json\nd = json.load(open('stats.json'))\nd['comments'] += 1\n"
        "json.dump(d, open('stats.json', 'w'))\n"
    )
    roster = team / "roster.json"
    roster.write_text(
        json.dumps(
            [
                {"id": "critic", "command": "./agents/scout.sh"},
                {"id": "counter", "command": "python3 agents/count.py"},
            ]
        )
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = cli("frame", "--hub", hub, "--roster", "../team/roster.json", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert "frame 1: 2 applied" in done.stdout
    assert demo_hub.state().document("stats.json") == {"posts": 0, "comments": 1, "visits": 3}

    # A roster that cannot run is refused in one line, before anything runs or merges.
    roster.write_text(json.dumps([{"id": "stranger", "command": "./agents/scout.sh"}]))
    unknown = cli("frame", "--hub", hub, "--roster", str(roster), cwd=elsewhere)
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert unknown.stderr == (
        "gnp: roster refused: worker 'stranger' has no key on the hub's keyring "
        f"(gnp keygen stranger --hub {hub})\n"
    )
    roster.write_text(json.dumps([{"id": "scout-lead", "command": "./agents/gone.sh"}]))
    missing = cli("frame", "--hub", hub, "--roster", str(roster), cwd=elsewhere)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert f"command {team}/agents/gone.sh does not exist" in missing.stderr
    assert demo_hub.state().frame == 1

    # Every worker fell back: the frame still merges, and says it failed.
    roster.write_text(json.dumps([{"id": "scout-lead", "command": ["sh", "-c", "exit 4"]}]))
    down = cli("frame", "--hub", hub, "--roster", str(roster))
    assert down.returncode == 1
    why = "every roster worker fell back: scout-lead (command exited with status 4)"
    assert down.stderr.splitlines()[-1] == f"gnp: {why}"
    assert "frame 2: 0 applied" in down.stdout and f"failed: {why}" in down.stdout
    assert demo_hub.state().frame == 2
