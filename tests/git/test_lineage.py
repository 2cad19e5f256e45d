from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from gnp import Op, fallback
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import submit
from gnp.git.registry import grant
from gnp.git.replay import frame_record
from gnp.host import clock
from gnp.lineage.read import read, summary, to_json
from gnp.lineage.store import SCHEMA, rows, write
from tests.helpers.hubs import incr, make, push_raw, send, worker_key


def three_frames(hub: Hub) -> dict[str, str]:
    ids = {}
    ids["post"] = send(hub, "poster", Op("append", "posts.json", "/items", "hi")).id
    for worker, authority in (("mod", 1), ("admin", 2)):  # the owner's grants
        worker_key(hub, worker)
        grant(hub, worker, authority=authority)
    ids["ban"] = send(hub, "mod", Op("add", "agents.json", "", {"a": "banned"}), authority=1).id
    ids["verify"] = send(hub, "admin", Op("add", "agents.json", "", {"a": "ok"}), authority=2).id
    submit(
        hub,
        worker_key(hub, "flaky").sign(
            fallback("flaky", "exit status 137", frame=0, stamp=clock.stamp())
        ),
    )
    forged = make(hub, "poster", incr())
    push_raw(hub, "poster", forged.id, forged.encode().replace(b'"value":1', b'"value":9'))
    ids["forged"] = forged.id
    run_frame(hub)
    ids["second"] = send(hub, "poster", incr()).id
    run_frame(hub)
    ids["third"] = send(hub, "mod", incr()).id
    run_frame(hub)
    return ids


def test_rows_say_what_became_of_every_delta(hub: Hub, tmp_path: Path) -> None:
    ids = three_frames(hub)
    root = str(tmp_path / "lineage")
    for frame in (1, 2, 3):
        write(root, rows(frame_record(hub, frame), flow_run_id="run-1", frame_seconds=0.5), frame)
    df = read(root)
    assert list(df["frame"]) == [1, 1, 1, 1, 1, 2, 3]
    by_worker = {(r.frame, r.worker): r for r in df.itertuples()}
    ban = by_worker[(1, "mod")]
    assert (ban.status, ban.winner, ban.authority) == ("conflict", ids["verify"], 1)
    assert by_worker[(1, "admin")].status == "applied"
    assert by_worker[(1, "admin")].files.tolist() == ["agents.json"]
    crash = by_worker[(1, "flaky")]
    assert (crash.status, crash.reason, crash.op_count) == ("fallback", "exit status 137", 0)
    forged = df[(df["frame"] == 1) & (df["status"] == "rejected")].iloc[0]
    assert forged["code"] == "bad-signature" and not forged["signature_verified"]
    assert all(df[df["status"] == "applied"]["signature_verified"])
    assert set(df["flow_run_id"]) == {"run-1"}
    commits = df.groupby("frame")["result_commit"].nunique()
    assert list(commits) == [1, 1, 1]


def test_reading_prunes_by_frame_range_and_worker(hub: Hub, tmp_path: Path) -> None:
    three_frames(hub)
    root = str(tmp_path / "lineage")
    for frame in (1, 2, 3):
        write(root, rows(frame_record(hub, frame)), frame)
    assert list(read(root, frame=2)["frame"]) == [2]
    assert sorted(set(read(root, frames=(2, 3))["frame"])) == [2, 3]
    assert set(read(root, worker="mod")["frame"]) == {1, 3}
    assert read(str(tmp_path / "none")).empty


def test_writing_a_frame_again_replaces_it_never_duplicates(hub: Hub, tmp_path: Path) -> None:
    three_frames(hub)
    root = str(tmp_path / "lineage")
    for _ in range(3):
        path = write(root, rows(frame_record(hub, 1)), 1)
    assert len(read(root, frame=1)) == 5
    folder = Path(path).parent
    assert [p.name for p in folder.iterdir()] == ["part.parquet"]  # no temporary left
    assert pq.read_schema(path).metadata[b"gnp.lineage.schema"] == b"2"
    assert pq.read_schema(path).names == SCHEMA.names


def test_json_output_has_the_contract_fields(hub: Hub, tmp_path: Path) -> None:
    three_frames(hub)
    root = str(tmp_path / "lineage")
    write(root, rows(frame_record(hub, 2)), 2)
    [row] = json.loads(to_json(read(root)))
    for field in ("frame", "delta_id", "worker", "author", "utc", "status", "reason"):
        assert field in row
    assert row["frame"] == 2 and row["status"] == "applied"


def test_the_per_frame_summary_counts_each_frames_verdicts(hub: Hub, tmp_path: Path) -> None:
    three_frames(hub)
    root = str(tmp_path / "lineage")
    for frame in (1, 2, 3):
        write(root, rows(frame_record(hub, frame), frame_seconds=0.25 * frame), frame)
    table = summary(read(root))
    assert list(table.columns[:7]) == [
        "frame",
        "deltas",
        "applied",
        "rejected",
        "conflict",
        "fallback",
        "duplicate",
    ]
    assert table[["frame", "deltas", "applied", "rejected", "conflict", "fallback"]].to_dict(
        orient="records"
    ) == [
        {"frame": 1, "deltas": 5, "applied": 2, "rejected": 1, "conflict": 1, "fallback": 1},
        {"frame": 2, "deltas": 1, "applied": 1, "rejected": 0, "conflict": 0, "fallback": 0},
        {"frame": 3, "deltas": 1, "applied": 1, "rejected": 0, "conflict": 0, "fallback": 0},
    ]
    assert list(table["frame_seconds"]) == [0.25, 0.5, 0.75]
    assert list(table["result_commit"]) == [
        str(frame_record(hub, n).result_commit) for n in (1, 2, 3)
    ]
    assert summary(read(str(tmp_path / "none"))).empty
    assert json.loads(to_json(table))[0]["deltas"] == 5


def test_lineage_filters_by_worker_status_and_frame_together(hub: Hub, tmp_path: Path) -> None:
    import pytest

    from gnp.core.errors import UsageError
    from tests.helpers.cli import cli

    ids = three_frames(hub)
    root = str(tmp_path / "lineage")
    for frame in (1, 2, 3):
        write(root, rows(frame_record(hub, frame)), frame)
    every = read(root)
    poster = read(root, worker="poster")
    assert set(poster["worker"]) == {"poster"} and len(poster) == len(
        every[every["worker"] == "poster"]
    )
    assert list(read(root, worker="poster", since=2)["delta_id"]) == [ids["second"]]
    rejected = read(root, status="rejected")
    assert ids["forged"] in set(rejected["delta_id"]) and set(rejected["status"]) == {"rejected"}
    assert read(root, worker="mod", status="applied", since=3)["delta_id"].tolist() == [
        ids["third"]
    ]
    with pytest.raises(UsageError, match="no status 'won'"):
        read(root, status="won")
    shown = cli("lineage", "--hub", str(hub.path), "--lineage", root, "--worker", "mod", "--json")
    assert shown.returncode == 0
    assert {row["delta_id"] for row in json.loads(shown.stdout)} == {ids["ban"], ids["third"]}
    table = cli("lineage", "--hub", str(hub.path), "--lineage", root, "--status", "fallback")
    assert table.returncode == 0 and "utc" in table.stdout and "flaky" in table.stdout
    assert "poster" not in table.stdout
    nothing = cli("lineage", "--hub", str(hub.path), "--lineage", root, "--worker", "nobody")
    assert "no lineage yet for worker nobody" in nothing.stdout
