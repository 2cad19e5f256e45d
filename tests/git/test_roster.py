"""The roster: what a frame runs, checked before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gnp.core.errors import UsageError
from gnp.frame.call import command
from gnp.frame.roster import DEFAULT_TIMEOUT, Member, check, load, parse

MAX_ROSTER_BYTES = 16 * 1024 * 1024  # gnp.frame.roster's limit


def test_a_call_and_a_command() -> None:
    members = parse(
        [
            {"id": "poster", "call": "agents.social:post", "authority": 2, "timeout": 5},
            {"id": "claude", "command": "claude -p 'tidy the stats'"},
            {"id": "cron", "command": ["sh", "-c", "date"]},
        ]
    )
    assert members[0] == Member("poster", "agents.social:post", (), 2, 5.0, os.getcwd())
    assert members[0].argv() == command("agents.social:post")
    assert command("a:b")[:2] == [sys.executable, "-P"] and command("a:b")[2].endswith("call.py")
    assert members[1].argv() == ["claude", "-p", "tidy the stats"]  # split, never a shell
    assert members[1].timeout == DEFAULT_TIMEOUT and members[1].authority == 0
    assert [parse([m.to_json()])[0] for m in members] == members  # round trip


def test_no_roster_is_an_empty_one() -> None:
    assert parse(None) == [] and parse([]) == []


@pytest.mark.parametrize(
    "entries, message",
    [
        ({"id": "a"}, "a roster is a JSON list"),
        (["a"], "roster entry 1 must be an object"),
        ([{"id": "A!", "call": "m:f"}], "roster entry 1: worker id 'A!' is invalid"),
        ([{"id": "a"}], "needs exactly one of call"),
        ([{"id": "a", "call": "m:f", "command": ["x"]}], "needs exactly one of call"),
        ([{"id": "a", "call": "not a path"}], "call must look like package.module:function"),
        ([{"id": "a", "command": []}], "non-empty list"),
        ([{"id": "a", "command": ["ok", ""]}], "non-empty list"),
        ([{"id": "a", "command": 'echo "unclosed'}], "cannot split command"),
        ([{"id": "a", "command": ["x"], "authority": -1}], "authority must be"),
        ([{"id": "a", "command": ["x"], "authority": True}], "authority must be"),
        ([{"id": "a", "command": ["x"], "timeout": 0}], "timeout must be"),
        ([{"id": "a", "command": ["x"], "timeout": float("inf")}], "timeout must be"),
        ([{"id": "a", "command": ["x"], "retries": 3}], "unknown keys ['retries']"),
        ([{"id": "a", "command": ["x"]}, {"id": "a", "call": "m:f"}], "on the roster twice"),
    ],
)
def test_bad_rosters_are_refused_with_the_reason(entries: object, message: str) -> None:
    with pytest.raises(UsageError, match=None) as caught:
        parse(entries)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_roster_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    """A FIFO would block `gnp frame` and `gnp serve` before Prefect is asked, with nothing
    said; a symlink to /dev/zero would read until memory runs out."""
    fifo = tmp_path / "roster.json"
    os.mkfifo(fifo)
    done: list[BaseException | None] = []

    def load_it() -> None:
        try:
            load(str(fifo))
        except BaseException as exc:
            done.append(exc)
        else:
            done.append(None)

    reader = threading.Thread(target=load_it, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # let the blocked open() return before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
    assert done and isinstance(done[0], UsageError), "a FIFO roster blocked the command"
    assert "not a regular file" in str(done[0])


def test_a_roster_that_is_a_device_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "from gnp.core.errors import UsageError\n"
        "from gnp.frame.roster import load\n"
        "try:\n"
        "    load(sys.argv[1])\n"
        "except UsageError as exc:\n"
        "    print(exc)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "zero.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "not a regular file" in ran.stdout, ran.stderr[-300:]


def test_a_roster_that_is_a_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"cannot read roster {tmp_path}: Is a directory"):
        load(str(tmp_path))


def test_a_roster_over_the_size_limit_is_refused_unparsed(tmp_path: Path) -> None:
    big = tmp_path / "roster.json"
    big.write_bytes(b"[" + b" " * MAX_ROSTER_BYTES + b"]")
    with pytest.raises(UsageError, match="over"):
        load(str(big))


def test_a_roster_files_paths_resolve_from_its_folder_wherever_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = tmp_path / "team"
    (team / "agents").mkdir(parents=True)
    (team / "agents" / "x.py").write_text("")
    roster = team / "roster.json"
    roster.write_text(
        json.dumps(
            [
                {"id": "a", "command": "./agents/scout.sh --fast"},
                {"id": "b", "command": ["python", "agents/x.py", "stats.json", "sub/x.json"]},
                {"id": "c", "command": ["python", "agents/none.py"]},  # no such file: as written
                {"id": "d", "command": ["claude", "-p", "tidy"]},
                {"id": "e", "command": "../bin/run", "cwd": "agents"},
                {"id": "f", "command": "bin/run", "cwd": "/opt/team"},
                {"id": "g", "call": "agents.x:main"},
            ]
        )
    )
    monkeypatch.chdir(tmp_path)
    members = load("team/roster.json")  # relative, too
    monkeypatch.chdir("/")  # where a served frame's process might be
    argv = {m.id: m.argv() for m in members}
    assert argv["a"] == [f"{team}/agents/scout.sh", "--fast"]
    assert argv["b"] == ["python", f"{team}/agents/x.py", "stats.json", "sub/x.json"]
    assert argv["c"] == ["python", "agents/none.py"]
    assert argv["d"] == ["claude", "-p", "tidy"]
    assert argv["e"] == [f"{team}/bin/run"]
    assert argv["f"] == ["/opt/team/bin/run"]
    assert {m.id: m.cwd for m in members} == {
        **{w: str(team) for w in "abcdg"},
        "e": f"{team}/agents",
        "f": "/opt/team",
    }
    # Passed on as JSON (a flow's or a deployment's parameter), it means the same.
    assert parse([m.to_json() for m in members]) == members


def test_a_roster_given_as_a_list_resolves_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    [here, there] = parse(
        [{"id": "a", "command": "./go.sh"}, {"id": "b", "command": "./go.sh", "cwd": "sub"}]
    )
    monkeypatch.chdir("/")
    assert here.argv() == [f"{tmp_path}/go.sh"]
    assert there.argv() == [f"{tmp_path}/sub/go.sh"]
    unparsed = Member("c", command=("./go.sh",))  # made in Python: resolves when it runs
    assert unparsed.argv() == ["/go.sh"] and "cwd" not in unparsed.to_json()


def test_a_cwd_must_be_a_path() -> None:
    for bad in ("", 3, ["a"]):
        with pytest.raises(UsageError, match="cwd must be a folder's path"):
            parse([{"id": "a", "command": "x", "cwd": bad}])


def test_check_refuses_a_roster_that_cannot_run_saying_what_to_fix(tmp_path: Path) -> None:
    (tmp_path / "plain.sh").write_text("#!/bin/sh\n")
    (tmp_path / "ok.sh").write_text("#!/bin/sh\n")
    (tmp_path / "ok.sh").chmod(0o755)
    (tmp_path / "here_agents.py").write_text("def run(wt): pass\n")
    good = parse(
        [
            {"id": "a", "command": "./ok.sh"},
            {"id": "b", "command": ["sh", "-c", "true"]},
            {"id": "c", "call": "here_agents:run"},  # found in the roster's folder
            {"id": "d", "call": "gnp.demo:post"},  # found where this process imports
        ],
        base=tmp_path,
    )
    check(good, {"a", "b", "c", "d"}, "hub.git")  # nothing to refuse
    bad = parse(
        [
            {"id": "a", "command": "./missing.sh"},
            {"id": "b", "command": "./plain.sh"},
            {"id": "c", "command": "no-such-agent-cli"},
            {"id": "d", "call": "no_such_agents.x:run"},
            {"id": "e", "command": "./ok.sh", "cwd": "gone"},
            {"id": "f", "command": "./ok.sh"},
        ],
        base=tmp_path,
    )
    with pytest.raises(UsageError) as refused:
        check(bad, {"a", "b", "c", "d", "e"}, "hub.git")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("roster refused: ")
    for expected in (
        f"worker 'a': command {tmp_path}/missing.sh does not exist (fix its path or cwd)",
        f"worker 'b': command {tmp_path}/plain.sh is not executable (chmod +x it)",
        "worker 'c': command 'no-such-agent-cli' is not on PATH",
        "worker 'd': no module 'no_such_agents' for call no_such_agents.x:run",
        f"worker 'e': its folder {tmp_path}/gone is not a folder",
        "worker 'f' has no key on the hub's keyring (gnp keygen f --hub hub.git)",
    ):
        assert expected in message
