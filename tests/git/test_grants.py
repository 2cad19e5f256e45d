"""Grants and the clock on real hubs: `gnp grant`'s commit, submit's refusal, the engine's
rejection of what bypasses submit, replay's agreement, and hubs made before grants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gnp import canonical
from gnp.core.delta import Delta
from gnp.core.errors import OverGrant, UsageError
from gnp.core.grants import NO_GRANT, Grant, Grants
from gnp.core.layout import GRANTS_FILE, PROTOCOL_FILE, delta_path, ref_name
from gnp.core.limits import DEFAULT_LIMITS
from gnp.core.verdict import Outcome
from gnp.git import engine, trees
from gnp.git.engine import CLOCK_TRAILER, run_frame
from gnp.git.hub import Hub, State
from gnp.git.inbox import snapshot, submit
from gnp.git.registry import grant
from gnp.git.replay import recorded_clock, replay
from gnp.git.submit import submit_json
from gnp.host import clock
from tests.helpers.hubs import git, incr, make, push_raw, send, signed_raw, state, worker_key


def push_with_git(hub: Hub, delta: Delta, tmp_path: Path) -> None:
    """Push ``delta`` as anyone with git and the worker's key could: a clone of main, the
    delta file added and committed, pushed to its inbox ref. No gnp code on the way."""
    clone = tmp_path / f"clone-{delta.id[:8]}"
    assert git("clone", "-q", str(hub.path), str(clone)).returncode == 0
    path = clone / delta_path(delta.worker, delta.id)
    path.parent.mkdir(parents=True)
    path.write_bytes(delta.encode())
    who = ["-c", "user.name=x", "-c", "user.email=x@x", "-c", "commit.gpgsign=false"]
    assert git("-C", str(clone), "add", "--force", str(path)).returncode == 0
    assert git("-C", str(clone), *who, "commit", "-q", "-m", "raw").returncode == 0
    pushed = git(
        "-C", str(clone), "push", "-q", "origin", f"HEAD:{ref_name(delta.worker, delta.id)}"
    )
    assert pushed.returncode == 0, pushed.stderr


def verdicts(report: Any) -> dict[str, Any]:
    return {v.delta: v for v in report.verdicts}


# gnp grant -------------------------------------------------------------------------------


def test_a_grant_is_an_owners_commit_on_main_that_changes_only_grants_json(hub: Hub) -> None:
    worker_key(hub, "bob")
    before = hub.main()
    given = grant(hub, "bob", authority=3, files=["posts/*.json", "agents.json"])
    assert given == Grant(3, ("posts/*.json", "agents.json"))
    commit = hub.main()
    assert commit.parents[0].id == before.id
    assert commit.message.startswith("gnp grant: ")
    assert commit.message.splitlines()[-1] == "Gnp-Grant: bob"
    assert trees.changes(before.tree, commit.tree) == [("A", GRANTS_FILE)]
    assert canonical.decode(trees.read(commit.tree, GRANTS_FILE) or b"") == {
        "bob": {"authority": 3, "files": ["posts/*.json", "agents.json"]}
    }
    assert hub.state().grants.of("bob") == given
    assert hub.state().grants.of("carol") == NO_GRANT


def test_a_new_grant_replaces_the_last_and_leaves_the_others(hub: Hub) -> None:
    for worker in ("bob", "carol"):
        worker_key(hub, worker)
        grant(hub, worker, authority=5, files=["a.json"])
    before = hub.main()
    grant(hub, "bob")  # authority 0, every file
    assert trees.changes(before.tree, hub.main().tree) == [("M", GRANTS_FILE)]
    grants = hub.state().grants
    assert grants.of("bob") == Grant(0, ("**",)) == NO_GRANT
    assert grants.of("carol") == Grant(5, ("a.json",))


def test_granting_a_worker_without_a_key_says_what_to_run_first(hub: Hub) -> None:
    before = hub.main().id
    with pytest.raises(UsageError, match=r"bob has no key on this hub; run 'gnp keygen bob"):
        grant(hub, "bob", authority=1)
    assert hub.main().id == before


@pytest.mark.parametrize(
    "authority, files, message",
    [
        (-1, [], "granted authority is a whole number"),
        (10**9 + 1, [], "granted authority is a whole number"),
        (0, [".gnp/keyring.json"], "not state"),
        (0, ["/abs.json"], "absolute"),
        (0, ["a/../b.json"], "'..'"),
    ],
)
def test_a_bad_grant_is_a_usage_error_and_changes_nothing(
    hub: Hub, authority: int, files: list[str], message: str
) -> None:
    worker_key(hub, "bob")
    before = hub.main().id
    with pytest.raises(UsageError, match=message):
        grant(hub, "bob", authority=authority, files=files)
    assert hub.main().id == before


# Submit ----------------------------------------------------------------------------------


def test_submit_refuses_a_delta_over_its_grant_in_one_line(hub: Hub) -> None:
    worker_key(hub, "bob")
    grant(hub, "bob", authority=2, files=["posts/**"])
    ops = [{"op": "incr", "file": "posts/n.json", "path": "/n", "value": 1}]
    high = canonical.encode({"ops": ops, "authority": 3})
    with pytest.raises(OverGrant, match="claims authority 3, but its grant allows at most 2"):
        submit_json(hub, "bob", high)
    elsewhere = canonical.encode([{**ops[0], "file": "stats.json"}])
    with pytest.raises(OverGrant, match=r"may not write 'stats\.json'"):
        submit_json(hub, "bob", elsewhere)
    assert snapshot(hub) == []
    submit_json(hub, "bob", canonical.encode({"ops": ops, "authority": 2}))
    assert run_frame(hub).count(Outcome.APPLIED) == 1


# The engine ------------------------------------------------------------------------------


def test_the_engine_rejects_a_delta_over_its_grant_whatever_submit_checked(
    hub: Hub, tmp_path: Path
) -> None:
    """Deltas signed with the worker's own key and pushed with plain git, never through
    gnp submit: the engine holds each to the grant on the frame's base."""
    worker_key(hub, "bob")
    grant(hub, "bob", authority=1, files=["posts/*.json"])
    honest = make(hub, "bob", incr("posts/a.json"), authority=1)
    greedy = make(hub, "bob", incr("posts/b.json"), authority=7)
    stray = make(hub, "bob", incr("stats.json"))
    ungranted = make(hub, "alice", incr("c.json"), authority=1)  # no grant: authority 0
    for delta in (honest, greedy, stray, ungranted):
        push_with_git(hub, delta, tmp_path)
    report = run_frame(hub)
    got = verdicts(report)
    assert got[honest.id].outcome is Outcome.APPLIED
    for refused, why in [
        (greedy, "'bob' claims authority 7, but its grant allows at most 1"),
        (stray, "'bob' may not write 'stats.json': its grant covers posts/*.json"),
        (ungranted, "'alice' claims authority 1, but its grant allows at most 0"),
    ]:
        assert (got[refused.id].outcome, got[refused.id].code) == (Outcome.REJECTED, "over-grant")
        assert (got[refused.id].reason or "").startswith(why)
        archived = f".gnp/frames/000001/deltas/{refused.worker}/{refused.id}.json"
        assert trees.read(hub.main().tree, archived) == refused.encode()
        assert hub.state().settled(refused.id)
    assert state(hub, "posts/a.json") == {"count": 1}
    for file in ("posts/b.json", "stats.json", "c.json"):
        assert trees.read(hub.main().tree, file) is None
    assert snapshot(hub) == []
    assert replay(hub, 1).identical


def test_the_engine_holds_a_delta_to_the_grant_of_the_frames_base(hub: Hub) -> None:
    worker_key(hub, "bob")
    grant(hub, "bob", authority=4)
    early = send(hub, "bob", incr(), authority=4)  # submit saw the grant of then
    grant(hub, "bob", authority=1)  # the owner lowers it before the frame
    report = run_frame(hub)
    assert verdicts(report)[early.id].code == "over-grant"
    assert replay(hub, 1).identical


def test_a_delta_outside_the_window_around_the_engines_clock_is_rejected(hub: Hub) -> None:
    send(hub, "alice", incr())  # registers alice
    run_frame(hub)
    body: dict[str, Any] = {
        "v": 1,
        "worker": "alice",
        "author": "alice",
        "authority": 0,
        "frame": hub.state().frame,
        "status": "ok",
        "error": None,
        "ops": [{"op": "incr", "file": "stats.json", "path": "/count", "value": 1}],
    }
    pushed = {}
    for name, utc in [
        ("year one", "0001-01-01T00:00:00.000000Z"),
        ("tomorrow", "2099-01-01T00:00:00.000000Z"),
        ("now", clock.now()),
    ]:
        delta_id, data = signed_raw(hub, "alice", {**body, "utc": utc, "nonce": "0" * 32})
        push_raw(hub, "alice", delta_id, data)
        pushed[name] = delta_id
    report = run_frame(hub)
    got = verdicts(report)
    assert got[pushed["now"]].outcome is Outcome.APPLIED
    assert got[pushed["year one"]].code == "clock"
    assert "behind the engine's clock" in (got[pushed["year one"]].reason or "")
    assert got[pushed["tomorrow"]].code == "clock"
    assert "ahead of the engine's clock" in (got[pushed["tomorrow"]].reason or "")
    assert state(hub, "stats.json") == {"count": 2}
    assert recorded_clock(hub.main()) is not None
    assert f"\n{CLOCK_TRAILER}: " in hub.main().message
    assert replay(hub, 2).identical


def test_replay_holds_a_frame_to_the_clock_it_recorded_not_to_todays(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame whose engine read 2026-01-01: a delta of the hour before applies, one of
    two days before is rejected. Replayed now, months later, both verdicts stand: with
    today's clock both would be rejected, and with no clock both would apply."""
    reading = "2026-01-01T12:00:00.000000Z"
    hour_before, days_before = "2026-01-01T11:00:00.000000Z", "2025-12-30T12:00:00.000000Z"
    worker_key(hub, "alice")
    body: dict[str, Any] = {
        "v": 1,
        "worker": "alice",
        "author": "alice",
        "authority": 0,
        "frame": 0,
        "nonce": "1" * 32,
        "status": "ok",
        "error": None,
        "ops": [{"op": "incr", "file": "stats.json", "path": "/count", "value": 1}],
    }
    ids = []
    for utc in (hour_before, days_before):
        delta_id, data = signed_raw(hub, "alice", {**body, "utc": utc})
        push_raw(hub, "alice", delta_id, data)
        ids.append(delta_id)
    monkeypatch.setattr(clock, "now", lambda: reading)
    report = run_frame(hub)
    monkeypatch.undo()
    got = verdicts(report)
    assert [got[i].outcome for i in ids] == [Outcome.APPLIED, Outcome.REJECTED]
    assert got[ids[1]].code == "clock"
    assert recorded_clock(hub.main()) == reading
    assert replay(hub, 1).identical


@pytest.mark.damages_hub
def test_a_damaged_clock_trailer_is_a_usage_error_naming_it(hub: Hub) -> None:
    send(hub, "alice", incr())
    run_frame(hub)
    recorded = hub.main()
    message = recorded.message.replace(f"{CLOCK_TRAILER}: 20", f"{CLOCK_TRAILER}: 2x")
    doctored = hub.repo.create_commit(
        None, recorded.author, recorded.committer, message, recorded.tree.id,
        [recorded.parents[0].id],
    )  # fmt: skip
    hub.repo.references["refs/heads/main"].set_target(doctored)
    with pytest.raises(UsageError, match=f"the {CLOCK_TRAILER} trailer of commit .* is damaged"):
        replay(hub, 1)


# Hubs and frames made before grants -------------------------------------------------------


@pytest.mark.damages_hub  # built by hand, as an older gnp or a hand edit left it
def test_a_hub_made_before_grants_keeps_working(hub: Hub) -> None:
    """No grants.json, and limits without the clock window: every worker has authority 0
    and every file, and the window has its defaults."""

    def as_before(base: State) -> dict[str, bytes | None]:
        protocol = canonical.decode(trees.read(base.tree, PROTOCOL_FILE) or b"")
        for name in ("max_utc_behind", "max_utc_ahead"):
            del protocol["limits"][name]
        return {PROTOCOL_FILE: canonical.encode_pretty(protocol)}

    hub.commit_on_main(as_before, "a hub as gnp wrote it before grants\n")
    assert trees.read(hub.main().tree, GRANTS_FILE) is None
    st = hub.state()
    assert st.grants == Grants() and st.limits == DEFAULT_LIMITS
    applied = send(hub, "alice", incr("deep/in/any.json"))
    assert verdicts(run_frame(hub))[applied.id].outcome is Outcome.APPLIED
    assert replay(hub, 1).identical


@pytest.mark.damages_hub  # built by hand, as an older gnp or a hand edit left it
def test_a_frame_merged_before_grants_replays_without_the_checks(hub: Hub) -> None:
    """An engine before grants admitted any authority and any utc, and recorded no
    clock reading; its frames replay as they were merged."""
    worker_key(hub, "bob")
    old = make(hub, "bob", incr(), authority=9)  # no grant: over it today
    body = {**canonical.decode(old.encode()), "utc": "2020-01-01T00:00:00.000000Z"}
    del body["sig"]
    stale_id, stale = signed_raw(hub, "bob", {**body, "nonce": "2" * 32, "authority": 0})
    submit(hub, old)
    push_raw(hub, "bob", stale_id, stale)
    base = hub.state()
    taken = engine.arrivals(hub, snapshot(hub), base.limits.max_bytes)
    settled = engine.settle_on(base, 1, taken, None)  # as the engine before grants did
    commit = engine.build_commit(hub, base.commit, settled)
    assert hub.advance_main(base.commit.id, commit, "gnp frame 1")
    assert CLOCK_TRAILER not in hub.main().message and recorded_clock(hub.main()) is None
    assert settled.count(Outcome.APPLIED) == 2
    assert replay(hub, 1).identical


@pytest.mark.damages_hub  # built by hand, as an older gnp or a hand edit left it
def test_damaged_grants_are_a_usage_error_naming_the_file(hub: Hub) -> None:
    hub.commit_on_main(
        lambda base: {GRANTS_FILE: b'{"bob": {"authority": -3}}\n'}, "a hand-edited grant\n"
    )
    with pytest.raises(UsageError, match=r"\.gnp/ on commit .* is damaged: the grant of 'bob'"):
        hub.state()


def test_the_demos_scouts_have_their_authority_by_grant(demo_hub: Hub) -> None:
    grants = demo_hub.state().grants
    assert grants.of("scout-lead") == Grant(2, ("agents.json",))
    assert grants.of("scout-new") == Grant(1, ("agents.json",))
    assert grants.of("poster-1") == NO_GRANT
