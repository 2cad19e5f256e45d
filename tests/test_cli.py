from __future__ import annotations

import subprocess
import sys

from gnp.demo import check, run_demo


def gnp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gnp", *args], capture_output=True, text=True, timeout=60
    )


def test_demo_runs_and_every_promise_holds() -> None:
    done = gnp("demo")
    assert done.returncode == 0, done.stderr
    assert "Every promise held" in done.stdout
    assert "bad-signature" in done.stdout  # the forged delta was refused, visibly


def test_demo_checks_are_real() -> None:
    run = run_demo()
    assert check(run) == []
    assert run.result.documents["stats.json"] == {"posts": 42, "comments": 10}
    # The check must notice a broken promise.
    run.result.documents["stats.json"]["comments"] = 9
    assert check(run) == ["counters: {'posts': 42, 'comments': 9}"]


def test_usage_errors_are_one_line_on_stderr() -> None:
    done = gnp("no-such-command")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gnp: No such command 'no-such-command'. (see 'gnp --help')"
    ]
    assert "Traceback" not in done.stderr
