"""The roster: what a frame runs, checked before anything runs."""

from __future__ import annotations

import sys

import pytest

from gnp.core.errors import UsageError
from gnp.frame.call import command
from gnp.frame.roster import DEFAULT_TIMEOUT, Member, parse


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
