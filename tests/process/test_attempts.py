"""One verdict per roster worker's run, however many times it is attempted
(gnp.git.attempts): a second attempt, or a fallback made for an attempt that ended
without reporting, finds the run's verdict by its token and adds none. And a cluster's
plain parts (gnp.frame.cluster): which resource a key is, and whose key is held."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnp.core.delta import Stamp, compose
from gnp.core.verdict import Outcome, WorkerStatus
from gnp.frame import cluster, roster
from gnp.frame.workers import stand_in, work
from gnp.git import attempts
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot, submit
from gnp.host import clock, keys
from tests.helpers.hubs import incr, worker_key


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
    again = work(hub, alice, root=tmp_path / "wt", token=run)
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
    outcome = work(hub, alice, root=tmp_path / "wt", token=run)
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
