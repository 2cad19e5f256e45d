"""A frame's summary: typed, its JSON document and its markdown (gnp.frame.summary)."""

from __future__ import annotations

import pickle

import pytest

from gnp.core.archive import VerdictRecord
from gnp.core.verdict import Outcome, WorkerStatus
from gnp.frame.summary import FrameFailed, FrameSummary
from gnp.frame.workers import WorkerOutcome
from gnp.git.engine import FrameReport

FELL = VerdictRecord(
    "refs/gnp/inbox/w/" + "d" * 64, "", "d" * 64, "w", Outcome.FALLBACK, None, "a | b\nc"
)


def test_a_summary_in_markdown_escapes_what_workers_wrote() -> None:
    report = FrameReport(3, "b" * 40, "c" * 40, (FELL,))
    worker = WorkerOutcome("w", WorkerStatus.FALLBACK, None, 1, "x|y", 0.5)
    text = FrameSummary.of(report, [worker]).markdown()
    assert "# frame 3: 0 applied, 0 rejected, 0 conflict, 1 fallback, 0 duplicate" in text
    assert "| fallback | w | `dddddddddddd` | a \\| b\\\\x0ac |" in text  # the newline shown
    assert "| w | fallback | 0.50 | x\\|y |" in text


def test_a_frame_with_nothing_to_merge_says_so() -> None:
    summary = FrameSummary.of(FrameReport(None, "b" * 40, None))
    assert summary.frame is None and summary.counts[Outcome.APPLIED] == 0
    assert summary.headline() == "nothing to merge: the inbox holds no new deltas"
    assert summary.markdown().startswith("# nothing to merge")


def test_the_summary_leaves_the_program_as_the_json_gnp_frame_prints() -> None:
    worker = WorkerOutcome("w", WorkerStatus.FAILED, None, None, "no key", 0.25, "x" * 5000)
    summary = FrameSummary.of(FrameReport(3, "b" * 40, "c" * 40, (FELL,)), [worker], seconds=1.5)
    data = summary.to_json()
    assert data["counts"] == {
        "applied": 0,
        "rejected": 0,
        "conflict": 0,
        "fallback": 1,
        "duplicate": 0,
    }
    assert data["verdicts"] == [FELL.to_json()]
    assert data["workers"][0]["status"] == "failed"
    assert len(data["workers"][0]["output"]) == 4096  # a summary keeps the tail
    assert summary.unreported == ["w"]


def outcomes(*statuses: WorkerStatus) -> list[WorkerOutcome]:
    return [
        WorkerOutcome(f"w{i}", s, None, None, None if s in QUIET else f"why {i}", 0.1)
        for i, s in enumerate(statuses)
    ]


QUIET = (WorkerStatus.OK, WorkerStatus.UNCHANGED)
OK, FALLBACK, UNCHANGED, FAILED = (
    WorkerStatus.OK,
    WorkerStatus.FALLBACK,
    WorkerStatus.UNCHANGED,
    WorkerStatus.FAILED,
)


@pytest.mark.parametrize(
    "statuses, failure, warning",
    [
        ((), None, None),  # a frame of the inbox alone
        ((OK, UNCHANGED), None, None),
        ((OK, FALLBACK), None, "1 of 2 roster workers fell back: w1 (why 1)"),
        ((UNCHANGED, FALLBACK), None, "1 of 2 roster workers fell back: w1 (why 1)"),
        ((FALLBACK,), "every roster worker fell back: w0 (why 0)", None),
        (
            (FALLBACK, FAILED),
            "every roster worker fell back or failed: w0 (why 0), w1 (why 1)",
            None,
        ),
        ((OK, FAILED), "1 worker(s) could not submit even a fallback: w1 (why 1)", None),
        (
            (FALLBACK,) * 5,
            "every roster worker fell back: w0 (why 0), w1 (why 1), w2 (why 2) and 2 more",
            None,
        ),
    ],
)
def test_a_frame_fails_when_its_roster_did_none_of_its_work(
    statuses: tuple[WorkerStatus, ...], failure: str | None, warning: str | None
) -> None:
    report = FrameReport(3, "b" * 40, "c" * 40, ())
    summary = FrameSummary.of(report, outcomes(*statuses))
    assert (summary.failure, summary.warning) == (failure, warning)
    assert summary.to_json()["failure"] == failure
    assert (f"**Failed:** {failure}" in summary.markdown()) is (failure is not None)


def test_a_failed_frame_carries_its_summary_wherever_it_is_kept() -> None:
    summary = FrameSummary.of(FrameReport(3, "b" * 40, "c" * 40, (FELL,)), outcomes(FALLBACK))
    failed = pickle.loads(pickle.dumps(FrameFailed(summary)))  # as Prefect keeps a result
    assert failed.summary == summary and str(failed) == summary.failure
