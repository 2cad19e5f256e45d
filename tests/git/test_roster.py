"""The roster: what a frame runs, checked before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gnp.core.errors import UsageError
from gnp.frame.call import command
from gnp.frame.roster import DEFAULT_TIMEOUT, Member, load, parse

MAX_ROSTER_BYTES = 16 * 1024 * 1024  # gnp.frame.roster's limit


def test_a_call_and_a_command() -> None:
    members = parse(
        [
            {"id": "poster", "call": "agents.social:post", "authority": 2, "timeout": 5},
            {"id": "claude", "command": "claude -p 'tidy the stats'"},
            {"id": "cron", "command": ["sh", "-c", "date"]},
        ]
    )
    assert members[0] == Member("poster", "agents.social:post", (), 2, 5.0)
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
