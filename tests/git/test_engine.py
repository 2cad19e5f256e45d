from __future__ import annotations

import json
import shutil
from pathlib import Path

import pygit2
import pytest

from gnp import Op, canonical
from gnp.core.layout import MAIN
from gnp.core.verdict import Outcome
from gnp.git import engine
from gnp.git.connect import open_hub
from gnp.git.engine import build_commit, run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot
from gnp.host import clock
from tests.helpers.hubs import amend_main, git, incr, make, push_raw, send, signed_raw, state


def verdicts_by_worker(report: engine.FrameReport) -> dict[str, dict[str, object]]:
    return {str(v.worker): v for v in report.verdicts}


def test_a_frame_is_one_commit_with_trailers_and_empties_the_inbox(hub: Hub) -> None:
    for worker in ("alice", "bob", "carol"):
        send(hub, worker, incr(), Op("append", "log.json", "/items", worker))
    base = hub.main().id
    report = run_frame(hub)
    assert hub.main().parents[0].id == base  # exactly one commit
    assert report.frame == 1 and report.count(Outcome.APPLIED) == 3
    main = hub.main()
    assert main.message.startswith("gnp frame 1: 3 applied")
    assert "Gnp-Frame: 1" in main.message and "Gnp-Applied: 3" in main.message
    assert state(hub, "stats.json") == {"count": 3}
    assert state(hub, "log.json") == {"items": ["alice", "bob", "carol"]}
    assert snapshot(hub) == []
    assert run_frame(hub).frame is None  # nothing new: main does not move
    assert hub.main().id == main.id
    assert git("-C", str(hub.path), "fsck", "--strict").returncode == 0


def test_state_files_are_pretty_sorted_json(hub: Hub) -> None:
    send(hub, "alice", Op("add", "cfg.json", "", {"b": 1, "a": [1, 2]}))
    run_frame(hub)
    data = hub.main().tree["cfg.json"].data
    assert data == b'{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'


def test_bad_pushes_are_refused_with_reasons_while_the_rest_applies(hub: Hub) -> None:
    good = send(hub, "alice", incr())
    # A tampered delta: a signed delta's value changed in transit.
    honest = make(hub, "bob", incr())
    tampered = json.loads(honest.encode())
    tampered["ops"][0]["value"] = 1000
    push_raw(hub, "bob", honest.id, canonical.encode(tampered))
    # An unregistered worker: signs with a key the hub does not know.
    from gnp import compose
    from gnp.host import clock, keys

    stranger = keys.generate().sign(compose("mallory", [incr()], frame=0, stamp=clock.stamp()))
    push_raw(hub, "mallory", stranger.id, stranger.encode())
    # A delta commit that also edits a state file.
    sneaky = make(hub, "carol", incr())
    push_raw(hub, "carol", sneaky.id, sneaky.encode(), extra={"stats.json": b'{"count": 99}'})
    # Deltas for .gnp/ and ../x.json, validly signed by a registered worker.
    body = json.loads(make(hub, "dave", incr()).encode())
    del body["sig"]
    for file in (".gnp/keyring.json", "../x.json"):
        body["ops"] = [{"op": "add", "file": file, "path": "", "value": {}}]
        delta_id, data = signed_raw(hub, "dave", body)
        push_raw(hub, "dave", delta_id, data)
    # A ref whose name does not match its delta.
    other = make(hub, "erin", incr())
    push_raw(hub, "erin", "0" * 64, other.encode())

    report = run_frame(hub)
    assert state(hub, "stats.json") == {"count": 1}
    outcome = {(v.worker, v.code): v.reason for v in report.verdicts}
    assert report.count(Outcome.APPLIED) == 1 and report.verdicts[0].delta == good.id
    assert "key registered for 'bob'" in str(outcome[("bob", "bad-signature")])
    assert "'mallory' has no key on the hub" in str(outcome[("mallory", "unknown-worker")])
    assert "change nothing else; it changes: " in str(outcome[("carol", "malformed")])
    reasons = [str(v.reason) for v in report.verdicts if v.worker == "dave"]
    assert any("belongs to the protocol" in r for r in reasons)
    assert any("'..' is not allowed" in r for r in reasons)
    assert "not the one its name claims" in str(outcome[("erin", "malformed")])
    assert snapshot(hub) == []  # every refused push is consumed and recorded
    assert "count" not in json.dumps(state(hub, ".gnp/keyring.json"))


def test_refs_outside_the_inbox_are_ignored(hub: Hub) -> None:
    sneaky = make(hub, "alice", incr())
    name = push_raw(hub, "alice", sneaky.id, sneaky.encode())
    hub.repo.references.create("refs/heads/feature", hub.repo.lookup_reference(name).target)
    hub.repo.references.delete(name)
    assert run_frame(hub).frame is None
    assert "refs/heads/feature" in hub.repo.references


def _copy(hub: Hub, to: Path) -> Hub:
    shutil.copytree(hub.path, to)
    return open_hub(to)


def _clean_twin(hub: Hub, tmp_path: Path) -> Hub:
    twin = _copy(hub, tmp_path / "twin.git")
    run_frame(twin)
    return twin


def _commit_as_a_crashing_engine_would(hub: Hub) -> tuple[pygit2.Oid, pygit2.Oid]:
    """Steps 1-4 of a frame, stopping before the swap: (base, the frame's commit)."""
    st = hub.state()
    taken = engine.arrivals(hub, snapshot(hub), st.limits.max_bytes)
    s = engine.settle_on(st, st.frame + 1, taken, clock.now())
    return st.commit.id, build_commit(hub, st.commit, s)


def test_crash_between_commit_and_swap_then_rerun_is_exact(hub: Hub, tmp_path: Path) -> None:
    for w in ("alice", "bob"):
        send(hub, w, incr())
    twin = _clean_twin(hub, tmp_path)
    _commit_as_a_crashing_engine_would(hub)  # the commit was made; main never moved
    report = run_frame(hub)
    assert report.frame == 1
    assert hub.main().tree.id == twin.main().tree.id
    assert snapshot(hub) == snapshot(twin) == []


def test_crash_between_swap_and_inbox_cleanup_then_rerun_is_exact(hub: Hub, tmp_path: Path) -> None:
    for w in ("alice", "bob"):
        send(hub, w, incr())
    twin = _clean_twin(hub, tmp_path)
    assert hub.advance_main(*_commit_as_a_crashing_engine_would(hub), "crashed")
    assert len(snapshot(hub)) == 2  # the crash left the consumed refs behind
    report = run_frame(hub)
    assert report.frame is None and len(report.swept) == 2  # no second frame, no doubles
    assert hub.main().tree.id == twin.main().tree.id
    assert state(hub, "stats.json") == {"count": 2}
    assert snapshot(hub) == []


def test_a_resubmitted_merged_delta_is_swept_not_applied_twice(hub: Hub) -> None:
    from gnp.git.inbox import submit

    delta = send(hub, "alice", incr())
    run_frame(hub)
    submit(hub, delta)  # the same bytes again, e.g. a worker retrying a push
    report = run_frame(hub)
    assert report.frame is None and report.swept
    assert state(hub, "stats.json") == {"count": 1}


def test_main_moved_during_the_frame_recomputes_on_the_new_main(hub: Hub) -> None:
    send(hub, "alice", incr())
    send(hub, "bob", incr())
    original = hub.advance_main
    moved = []

    def advance(base, new, message):  # type: ignore[no-untyped-def]
        if not moved:  # an owner's commit lands between our read and our swap
            moved.append(True)
            from gnp.git.registry import register

            register(hub, "carol")
        return original(base, new, message)

    hub.advance_main = advance  # type: ignore[method-assign]
    report = run_frame(hub)
    assert report.attempts == 2 and report.frame == 1
    assert state(hub, "stats.json") == {"count": 2}
    assert "carol" in hub.state().keyring_text  # the owner's commit was kept
    assert hub.repo.lookup_reference(MAIN).target == hub.main().id


def test_a_push_whose_objects_are_missing_is_refused_not_fatal(hub: Hub) -> None:
    good = send(hub, "alice", incr())
    ref = hub.path / "refs" / "gnp" / "inbox" / "bob" / ("b" * 64)
    ref.parent.mkdir(parents=True)
    ref.write_text("c" * 40 + "\n")  # a ref to an object the hub does not have
    report = run_frame(hub)
    assert report.count(Outcome.APPLIED) == 1 and report.verdicts[0].delta == good.id
    [refused] = [v for v in report.verdicts if v.worker == "bob"]
    assert refused.outcome is Outcome.REJECTED and "must point at a commit" in str(refused.reason)
    assert snapshot(hub) == []


def test_crash_before_cleanup_with_a_refused_push_makes_no_extra_frame(
    hub: Hub, tmp_path: Path
) -> None:
    send(hub, "alice", incr())
    bad = make(hub, "bob", incr())
    push_raw(hub, "bob", bad.id, bad.encode(), extra={"stats.json": b"{}"})  # refused
    twin = _clean_twin(hub, tmp_path)
    assert hub.advance_main(*_commit_as_a_crashing_engine_would(hub), "crashed")
    report = run_frame(hub)
    assert report.frame is None and len(report.swept) == 2
    assert hub.main().tree.id == twin.main().tree.id


def test_a_stale_main_lock_is_named_in_the_error(hub: Hub) -> None:
    from gnp import GnpError

    send(hub, "alice", incr())
    (hub.path / "refs" / "heads" / "main.lock").write_text("")
    with pytest.raises(GnpError, match=r"main is locked by .*main\.lock"):
        run_frame(hub, max_attempts=2)


def test_a_boundary_holds_later_deltas_for_the_next_frame(hub: Hub) -> None:
    from gnp.git.engine import boundary

    send(hub, "alice", incr())
    taken = boundary(hub)
    late = send(hub, "bob", incr(value=10))
    report = run_frame(hub, within=taken)
    assert report.frame == 1 and [v.worker for v in report.verdicts] == ["alice"]
    assert hub.state().document("stats.json") == {"count": 1}
    assert run_frame(hub).verdicts[0].delta == late.id  # not lost: the next frame
    assert hub.state().document("stats.json") == {"count": 11}


@pytest.mark.damages_hub  # frame 1's archive is not what frame 1 wrote: it does not replay
@pytest.mark.parametrize(
    "archived",
    [
        b"{}",  # not an array
        b'[{"source": "refs/gnp/inbox/x/y", "outcome": "expired"}]',  # an outcome unknown here
        b'[{"source": 5, "commit": "c", "outcome": "applied"}]',  # a field of the wrong type
        b"[1]",  # not an object
    ],
)
def test_an_archive_the_engine_cannot_fully_read_does_not_stop_later_frames(
    hub: Hub, archived: bytes
) -> None:
    """The engine reads the last frame's verdicts for one thing, the (ref, commit) of each
    push it consumed; a hand-edited frame or a later version's archive must not stop
    every later frame (invariant 7), as the first three never did before the core's
    archive records were typed."""
    send(hub, "alice", incr())
    last = run_frame(hub).frame
    amend_main(hub, {f".gnp/frames/{last:06d}/verdicts.json": archived})
    send(hub, "alice", incr())
    assert run_frame(hub).frame == 2
    assert state(hub, "stats.json") == {"count": 2}


@pytest.mark.damages_hub
def test_an_archive_that_is_not_json_stops_the_engine_with_its_name(hub: Hub) -> None:
    from gnp import GnpError, Refused

    send(hub, "alice", incr())
    run_frame(hub)
    where = ".gnp/frames/000001/verdicts.json"
    amend_main(hub, {where: b"garbage"})
    send(hub, "alice", incr())
    with pytest.raises(GnpError, match=f"{where} on main is not JSON") as caught:
        run_frame(hub)
    assert not isinstance(caught.value, Refused)  # no delta was refused


def test_a_frames_commit_names_who_contributed_and_what_changed(hub: Hub) -> None:
    from gnp.core.history import Recognised, trailers
    from gnp.git.history import judged

    send(hub, "alice", incr())
    send(hub, "bob", incr(file="other.json"))
    send(hub, "bob", incr(file="other.json", value=2))
    forged = make(hub, "mallory", incr())
    push_raw(hub, "mallory", forged.id, forged.encode().replace(b'"value":1', b'"value":9'))
    run_frame(hub)
    message = hub.main().message
    body = message.split("\n\n")[1]
    assert body == "Applied deltas of: alice, bob\nChanged: other.json, stats.json\n".strip("\n")
    coauthors = [line for line in message.splitlines() if line.startswith("Co-authored-by:")]
    assert coauthors == [  # once each, whoever applied; never the rejected mallory
        "Co-authored-by: alice <alice@gnp.invalid>",
        "Co-authored-by: bob <bob@gnp.invalid>",
    ]
    assert trailers(message)["Gnp-Applied"] == "3"  # still trailers, in the last paragraph
    assert isinstance(judged(hub.main()), Recognised)
