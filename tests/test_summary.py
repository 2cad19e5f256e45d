"""A frame's summary: the JSON document and its markdown (gnp.summary)."""

from __future__ import annotations

from gnp.engine import FrameReport
from gnp.summary import headline, markdown, summarize
from gnp.workers import WorkerOutcome


def test_a_summary_in_markdown_escapes_what_workers_wrote() -> None:
    report = FrameReport(
        3,
        "b" * 40,
        "c" * 40,
        [{"outcome": "fallback", "worker": "w", "delta": "d" * 64, "reason": "a | b\nc"}],
    )
    text = markdown(summarize(report, [WorkerOutcome("w", "fallback", None, 1, "x|y", 0.5)]))
    assert "# frame 3: 0 applied, 0 rejected, 0 conflict, 1 fallback, 0 duplicate" in text
    assert "| fallback | w | `dddddddddddd` | a \\| b c |" in text
    assert "| w | fallback | 0.50 | x\\|y |" in text


def test_a_frame_with_nothing_to_merge_says_so() -> None:
    summary = summarize(FrameReport(None, "b" * 40, None))
    assert summary["frame"] is None and summary["counts"]["applied"] == 0
    assert headline(summary) == "nothing to merge: the inbox holds no new deltas"
    assert markdown(summary).startswith("# nothing to merge")
