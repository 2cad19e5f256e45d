"""One verdict per roster worker's run, however many times it is attempted
(gnp.git.attempts): a second attempt, or a fallback made for an attempt that ended
without reporting, finds the run's verdict by its token and adds none. And a cluster's
plain parts (gnp.frame.cluster): which resource a key is, and whose key is held."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnp.core.delta import Stamp, compose
from gnp.core.document import ABSENT
from gnp.core.verdict import Outcome, WorkerStatus
from gnp.frame import cluster, roster
from gnp.frame.workers import stand_in, work
from gnp.git import attempts
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot, submit
from gnp.git.local import LocalRepo
from gnp.host import clock, keys
from gnp.process.janitor import sweep
from gnp.process.proc import session_members
from tests.helpers.hubs import incr, worker_key
from tests.helpers.worktrees import killed_run, leftovers, proc


def _alice(tmp_path: Path) -> roster.Member:
    """alice, whose command notes each time it runs, and sets a count."""
    script = f"echo x >> {tmp_path / 'runs'}; echo '{{\"count\": 1}}' > stats.json"
    return roster.member({"id": "alice", "command": ["sh", "-c", script]})


def _runs(tmp_path: Path) -> int:
    path = tmp_path / "runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_run_attempted_again_after_it_delivered_is_not_run_again(
    hub: Hub, tmp_path: Path
) -> None:
    worker_key(hub, "alice")
    alice = _alice(tmp_path)
    run = attempts.token()
    first = work(hub, alice, root=tmp_path / "wt", token=run)
    assert first.status is WorkerStatus.OK and _runs(tmp_path) == 1
    # Its process died before it reported: the cluster runs it again, and the frame's
    # process makes a fallback for the attempt that reported nothing.
    again = work(hub, alice, root=tmp_path / "wt", token=run, recheck=True)
    fallback = stand_in(hub, "alice", "worker task ended without an outcome", token=run)
    assert (again.status, again.delta_id) == (WorkerStatus.OK, first.delta_id)
    assert (fallback.status, fallback.delta_id) == (WorkerStatus.OK, first.delta_id)
    assert "earlier attempt" in (again.error or "")
    assert _runs(tmp_path) == 1  # the command did not run again
    assert len(snapshot(hub)) == 1
    report = run_frame(hub)
    assert [v.outcome for v in report.verdicts] == [Outcome.APPLIED]
    assert hub.state().document("stats.json") == {"count": 1}


def test_another_run_of_the_same_worker_is_a_run_of_its_own(hub: Hub, tmp_path: Path) -> None:
    """One worker id may run many times at once: only the token ties attempts together."""
    worker_key(hub, "alice")
    alice = _alice(tmp_path)
    work(hub, alice, root=tmp_path / "wt", token=attempts.token())
    work(hub, alice, root=tmp_path / "wt", token=attempts.token())
    assert _runs(tmp_path) == 2 and len(snapshot(hub)) == 2
    run_frame(hub)


def test_a_fallback_delivered_is_the_runs_verdict_too(hub: Hub) -> None:
    worker_key(hub, "alice")
    run = attempts.token()
    first = stand_in(hub, "alice", "worker task crashed", token=run)
    second = stand_in(hub, "alice", "worker task crashed again", token=run)
    assert first.status is WorkerStatus.FALLBACK
    assert (second.status, second.delta_id, second.error) == (
        WorkerStatus.FALLBACK,
        first.delta_id,
        "worker task crashed",
    )
    assert [v.outcome for v in run_frame(hub).verdicts] == [Outcome.FALLBACK]


def test_a_delta_bearing_the_token_counts_only_if_the_worker_signed_it(
    hub: Hub, tmp_path: Path
) -> None:
    """Anyone who can push may push a delta naming alice and her run's token; it is not
    her verdict unless her key signed it, and her work still runs."""
    worker_key(hub, "alice")
    run = attempts.token()
    forged = keys.generate().sign(
        compose("alice", [incr()], frame=0, stamp=Stamp(clock.now(), run))
    )
    submit(hub, forged)
    assert attempts.delivered(hub, "alice", run) is None
    alice = _alice(tmp_path)
    outcome = work(hub, alice, root=tmp_path / "wt", token=run, recheck=True)
    assert outcome.status is WorkerStatus.OK and _runs(tmp_path) == 1
    delivered = attempts.delivered(hub, "alice", run)
    assert delivered is not None and delivered.id == outcome.delta_id
    assert sorted(v.outcome for v in run_frame(hub).verdicts) == [
        Outcome.APPLIED,
        Outcome.REJECTED,
    ]


def test_a_cluster_process_offers_the_keys_in_its_home(hub: Hub) -> None:
    hub_id = hub.state().hub_id
    assert cluster.offered() == {}
    worker_key(hub, "alice")
    worker_key(hub, "bob")
    assert cluster.offered() == {
        cluster.resource(hub_id, "alice"): cluster.RUNS_PER_KEY,
        cluster.resource(hub_id, "bob"): cluster.RUNS_PER_KEY,
    }
    assert cluster.resource(hub_id, "alice") == f"gnp-key:{hub_id}:alice"


def test_a_worker_whose_key_no_process_holds_is_named(hub: Hub) -> None:
    hub_id = hub.state().hub_id
    members = roster.parse([{"id": w, "command": ["true"]} for w in ("alice", "bob", "carol")])
    offers = [
        {cluster.resource(hub_id, "alice"): 1.0, "GPU": 2.0},
        {cluster.resource(hub_id, "bob"): 1.0, cluster.resource("another-hub", "carol"): 1.0},
    ]
    assert cluster.unheld(members, hub_id, offers) == ["carol"]
    assert cluster.unheld(members, hub_id, []) == ["alice", "bob", "carol"]


def test_a_member_sent_elsewhere_keeps_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    entry = cluster.shipped(roster.member({"id": "alice", "command": ["./agent.sh"]}))
    assert entry["cwd"] == str(tmp_path.resolve())
    assert roster.member(entry).argv() == [str(tmp_path.resolve() / "agent.sh")]


# The janitor, after a killed attempt ---------------------------------------------------


@pytest.fixture
def sessions() -> Iterator[list[int]]:
    """Sessions a killed harness left running: killed after the test, whatever it did."""
    found: list[int] = []
    yield found
    for sid in found:
        for pid in session_members(sid):
            os.kill(pid, signal.SIGKILL)


def test_the_janitor_gives_no_fallback_to_a_killed_attempt_whose_run_delivered(
    hub: Hub, local: LocalRepo, tmp_path: Path, sessions: list[int]
) -> None:
    """A cluster's process was killed running w's work; another attempt of the run
    delivered, and the frame merged it. Swept later, the killed attempt gets none."""
    run = attempts.token()
    owner = killed_run(hub, local, tmp_path, sessions, token=run)
    assert (owner.token, owner.frame) == (run, 0)
    edit = ["sh", "-c", "echo '{\"count\": 1}' > stats.json"]
    again = work(hub, roster.member({"id": "w", "command": edit}), token=run, recheck=True)
    found = stand_in(hub, "w", "worker task ended without an outcome", token=run)
    assert again.status is WorkerStatus.OK and found.delta_id == again.delta_id
    assert [v.outcome for v in run_frame(hub).verdicts] == [Outcome.APPLIED]
    report = sweep(hub)
    assert report.fallbacks == report.unreported == [] and leftovers(local) == []
    assert snapshot(hub) == []
    assert hub.state().document("stats.json") == {"count": 1}


def test_the_janitors_fallback_for_a_killed_attempt_bears_its_runs_token(
    hub: Hub, local: LocalRepo, tmp_path: Path, sessions: list[int]
) -> None:
    run = attempts.token()
    killed_run(hub, local, tmp_path, sessions, token=run)
    assert len(sweep(hub).fallbacks) == 1
    assert len(snapshot(hub)) == 1
    delivered = attempts.delivered(hub, "w", run)
    assert delivered is not None and delivered.status == "fallback"
    # and an attempt of the run that starts now finds it, and runs nothing
    late = work(hub, roster.member({"id": "w", "command": ["false"]}), token=run, recheck=True)
    assert (late.status, late.delta_id) == (WorkerStatus.FALLBACK, delivered.id)
    assert [v.outcome for v in run_frame(hub).verdicts] == [Outcome.FALLBACK]


@pytest.mark.parametrize("merged", [False, True], ids=["in-the-inbox", "merged"])
def test_the_janitor_does_not_push_a_killed_attempts_delta_when_its_run_delivered(
    hub: Hub, local: LocalRepo, merged: bool
) -> None:
    """Killed after it committed its delta, before it pushed it; meanwhile the run's
    fallback (or another attempt's delta) was delivered: the run has its verdict."""
    run = attempts.token()
    fallback = stand_in(hub, "w", "worker task ended without an outcome", token=run)
    if merged:
        run_frame(hub)
    p = proc("commit_then_die", str(hub.path), "w", run)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 9, err
    report = sweep(hub)
    assert report.rescued == [] and leftovers(local) == []
    assert any(
        f"delta {out.strip()[:12]} of w, not pushed: its run's verdict is delta "
        f"{(fallback.delta_id or '')[:12]}" in line
        for line in report.removed
    ), report.removed
    assert [r.ref for r in snapshot(hub)] == (
        [] if merged else [f"refs/gnp/inbox/w/{fallback.delta_id}"]
    )
    run_frame(hub)
    assert hub.state().document("stats.json") is ABSENT  # the killed attempt's incr never landed
