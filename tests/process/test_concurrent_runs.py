"""One worker id run many times at once, and two workers commenting on one post, through
the real ``gnp run``: every appended item lands once, and a replaced value whose base
moved is a reported lost update, never silent."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from gnp.core.verdict import Outcome
from gnp.git.connect import open_hub
from gnp.git.engine import run_frame
from gnp.git.inbox import snapshot
from tests.helpers.cli import GNP, cli

APPEND = (
    "import json, os, sys, time; w = os.environ['GNP_WORKTREE']; p = w + '/posts.json'; "
    "d = json.load(open(p)); d['p1']['comments'].append({'run': sys.argv[1]}); "
    "time.sleep(0.3); open(p, 'w').write(json.dumps(d, indent=4))"
)


def _hub(tmp_path: Path, *workers: str) -> tuple[str, dict[str, str]]:
    env = {"GNP_WORKTREES": str(tmp_path / "wt")}
    hub = str(tmp_path / "hub.git")
    assert cli("init", hub).returncode == 0
    for worker in workers:
        assert cli("keygen", worker, "--hub", hub).returncode == 0
    seed = json.dumps({"p1": {"title": "hello", "comments": []}})
    done = cli(
        "run", "--hub", hub, "--worker", workers[0], "--", "sh", "-c",
        f"echo '{seed}' > posts.json", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert run_frame(open_hub(hub)).frame == 1
    return hub, env


def _runs(hub: str, env: dict[str, str], jobs: list[tuple[str, str]]) -> None:
    procs = [
        subprocess.Popen(
            [GNP, "run", "--hub", hub, "--worker", worker, "--", "python3", "-c", code, str(n)],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, (worker, code) in enumerate(jobs)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err


def test_six_runs_of_one_worker_at_once_append_six_items(tmp_path: Path) -> None:
    """A cron job fired six times at once, each appending to a list nobody declared."""
    hub, env = _hub(tmp_path, "cron")
    _runs(hub, env, [("cron", APPEND)] * 6)
    report = run_frame(open_hub(hub))
    assert report.count(Outcome.APPLIED) == 6, [v.reason for v in report.verdicts]
    comments = open_hub(hub).state().document("posts.json")["p1"]["comments"]
    assert sorted(c["run"] for c in comments) == [str(i) for i in range(6)]


def test_two_agents_comment_on_one_post_in_one_frame(tmp_path: Path) -> None:
    """The essay's question, answered: both comments land."""
    hub, env = _hub(tmp_path, "scout", "critic")
    _runs(hub, env, [("scout", APPEND), ("critic", APPEND)])
    report = run_frame(open_hub(hub))
    assert report.count(Outcome.APPLIED) == 2
    assert len(open_hub(hub).state().document("posts.json")["p1"]["comments"]) == 2


def test_runs_of_one_worker_replacing_one_value_lose_nothing_silently(tmp_path: Path) -> None:
    """Three runs at once each rewrite the title and add a comment: one applies, and the
    others are rejected whole (a delta is all or nothing) as lost updates that name the
    value, never written over the first."""
    hub, env = _hub(tmp_path, "cron")
    retitle = APPEND.replace(
        "d['p1']['comments']", "d['p1'].update(title='t' + sys.argv[1]); d['p1']['comments']"
    )
    _runs(hub, env, [("cron", retitle)] * 3)
    report = run_frame(open_hub(hub))
    outcomes = sorted(v.outcome.value for v in report.verdicts)
    assert outcomes == ["applied", "rejected", "rejected"]
    for v in report.verdicts:
        if v.outcome is Outcome.REJECTED:
            assert v.code == "lost-update"
            assert "posts.json:/p1/title changed after frame 1" in str(v.reason)
    post = open_hub(hub).state().document("posts.json")["p1"]
    assert post["title"] in ("t0", "t1", "t2") and len(post["comments"]) == 1
    assert snapshot(open_hub(hub)) == []
