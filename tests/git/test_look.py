"""What a person asks of a hub (gnp.git.look): the inbox described as the next frame
will find it, one delta's story, the hub at a glance."""

from __future__ import annotations

import json
import time

import pytest

from gnp.core.errors import UsageError
from gnp.core.grants import Grant
from gnp.core.verdict import Outcome
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.look import status, story, waiting
from gnp.git.registry import grant, register
from tests.helpers.cli import cli
from tests.helpers.hubs import incr, push_raw, send


def test_the_inbox_lists_every_waiting_delta_in_the_order_the_frame_takes_them(hub: Hub) -> None:
    later = send(hub, "bob", incr(value=2))
    time.sleep(0.002)
    first_by_utc = send(hub, "alice", incr(file="other.json"))
    # bob's delta was made first: it comes first whatever the worker's name
    assert [w.delta for w in waiting(hub)] == [later.id, first_by_utc.id]
    alice = next(w for w in waiting(hub) if w.worker == "alice")
    assert alice.files == ("other.json",) and alice.ops == 1 and alice.base_frame == 0
    assert alice.signed and alice.problem is None
    run_frame(hub)
    assert waiting(hub) == []


def test_the_inbox_says_why_the_next_frame_will_refuse_an_item(hub: Hub) -> None:
    register(hub, "mallory")
    send(hub, "alice", incr())
    push_raw(hub, "mallory", "ab" * 32, b"not json")
    items = waiting(hub)
    assert [w.worker for w in items] == ["alice", "mallory"]  # unreadable last
    bad = items[1]
    assert not bad.signed and bad.problem and "json" in bad.problem.lower()
    report = run_frame(hub)  # the frame agrees: refused, and the honest one applied
    assert report.count(Outcome.APPLIED) == 1 and report.count(Outcome.REJECTED) == 1
    with pytest.raises(UsageError, match="refused before admission and its bytes were not kept"):
        story(hub, "abab")  # its verdict is on record, its bytes are not (not archived)


def test_a_delta_is_found_by_a_prefix_while_waiting_and_after_its_frame(hub: Hub) -> None:
    delta = send(hub, "alice", incr())
    waiting_story = story(hub, delta.id[:6])
    assert waiting_story.delta.id == delta.id and waiting_story.signed == "valid"
    assert waiting_story.waiting is not None and waiting_story.verdicts == ()
    run_frame(hub)
    told = story(hub, delta.id[:8].upper())
    assert told.waiting is None
    assert [(f, v.outcome) for f, v in told.verdicts] == [(1, Outcome.APPLIED)]
    assert told.delta.ops[0].path == "/count"


def test_a_prefix_that_names_no_delta_or_two_is_one_line_saying_so(hub: Hub) -> None:
    with pytest.raises(UsageError, match="no delta"):
        story(hub, "abcdef")
    with pytest.raises(UsageError, match="not a delta id"):
        story(hub, "xyz")
    seen: dict[str, str] = {}
    for n in range(1, 5000):  # ~320 deltas, on average, before two ids share 4 digits
        delta_id = send(hub, "alice", incr(value=n)).id
        if delta_id[:4] in seen:
            break
        seen[delta_id[:4]] = delta_id
    with pytest.raises(UsageError, match="ambiguous: 2 deltas"):
        story(hub, delta_id[:4])
    assert story(hub, delta_id[:12]).delta.id == delta_id  # a longer prefix settles it


def test_status_counts_the_last_frame_and_names_each_workers_grant(hub: Hub) -> None:
    send(hub, "alice", incr())
    send(hub, "bob", incr())
    grant(hub, "alice", authority=3, files=["stats.json"])
    run_frame(hub)
    send(hub, "bob", incr())
    seen = status(hub, str(hub.path))
    assert seen.frame == 1 and seen.waiting == 1 and seen.main == str(hub.main().id)
    assert seen.last_frame == {"applied": 2}
    assert dict(seen.workers) == {"alice": Grant(3, ("stats.json",)), "bob": Grant()}


def test_the_commands_print_tables_and_json(hub: Hub) -> None:
    delta = send(hub, "alice", incr())
    shown = cli("inbox", "--hub", str(hub.path))
    assert shown.returncode == 0 and delta.id[:12] in shown.stdout
    as_json = json.loads(cli("inbox", "--hub", str(hub.path), "--json").stdout)
    assert [w["delta"] for w in as_json] == [delta.id]
    told = cli("show", "--hub", str(hub.path), delta.id[:10])
    assert told.returncode == 0 and "incr stats.json:/count 1" in told.stdout
    assert "signature: valid" in told.stdout
    missing = cli("show", "--hub", str(hub.path), "0000")
    assert missing.returncode != 0 and missing.stderr.count("\n") == 1
    at_a_glance = json.loads(cli("status", "--hub", str(hub.path), "--json").stdout)
    assert at_a_glance["waiting"] == 1 and at_a_glance["frame"] == 0
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("gnp ")
