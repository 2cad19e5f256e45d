"""`gnp demo`: the whole protocol end to end, and checks that would notice a lie."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gnp import demo
from gnp.core.archive import VerdictRecord
from gnp.core.verdict import Outcome
from gnp.frame.summary import FrameSummary
from gnp.git.connect import open_hub
from tests.helpers.cli import cli


@pytest.fixture(scope="module")
def demo_run(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("demo")
    done = cli("demo", env={"TMPDIR": str(tmp)})
    assert done.returncode == 0, done.stdout + done.stderr
    folder = re.search(r"gnp demo in (\S+)", done.stdout)
    assert folder is not None
    return done.stdout, Path(folder.group(1))


def test_the_demo_runs_three_frames_and_every_promise_holds(demo_run: tuple[str, Path]) -> None:
    shown, folder = demo_run
    for line in (
        "frame 1: 4 applied, 0 rejected, 0 conflict, 1 fallback, 0 duplicate",
        "frame 2: 4 applied, 1 rejected, 1 conflict, 1 fallback, 0 duplicate",
        "frame 3: 6 applied, 0 rejected, 0 conflict, 1 fallback, 0 duplicate",
        "counters exact: {'comments': 3, 'posts': 5, 'visits': 20}",
        "two agents commented on one post in frame 3, and both comments landed: critic, fan",
        "the scout is 'active'",
        "RuntimeError: the model returned no answer",
        "command was killed by SIGKILL",
        "timed out after 2 s and was killed",
        "does not verify against the key registered for 'mallory'",
        "frame 3: replays identically",
        f"lineage: {folder}/hub.git/gnp-lineage",
        f"gnp replay --hub {folder}/hub.git --frame 2",
        f"remove the demo's folder: rm -r {folder}\n",
    ):
        assert line in shown, line
    assert (folder / "hub.git" / "gnp-lineage" / "frame=3" / "part.parquet").exists()


def frame_summary(n: int, *outcomes: tuple[str | None, Outcome]) -> FrameSummary:
    """Frame ``n``'s summary with a verdict per (worker, outcome)."""
    verdicts = tuple(
        VerdictRecord(f"refs/gnp/inbox/{w}/{i}", "", str(i), w, o)
        for i, (w, o) in enumerate(outcomes)
    )
    return FrameSummary(n, "b" * 40, "c" * 40, verdicts, (), (), None, None, None)


def test_the_demo_checks_notice_a_broken_promise(
    demo_run: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, folder = demo_run
    monkeypatch.setenv("GNP_HOME", str(folder / "home"))
    hub = open_hub(folder / "hub.git")
    fell = {n: (w, Outcome.FALLBACK) for n, w in demo.FALLBACKS.items()}
    second = [("scout-new", Outcome.CONFLICT), ("mallory", Outcome.REJECTED)]
    summaries = [
        frame_summary(1, fell[1]),
        frame_summary(2, fell[2], *second),
        frame_summary(3, fell[3]),
    ]
    assert demo.check(hub, summaries) == []
    broken = [summaries[0], frame_summary(2, fell[2], second[1]), frame_summary(3)]
    assert demo.check(hub, broken) == [
        "frame 3 fallbacks: []",
        "the scouts' conflict was not recorded in frame 2",
    ]
