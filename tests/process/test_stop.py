"""Stopping a frame's workers: through the frame's own token, passed down."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

from gnp.core.verdict import WorkerStatus
from gnp.frame.pipeline import PlainSteps, Submit, run, run_plain
from gnp.frame.roster import parse
from gnp.git.hub import Hub
from gnp.process.stop import StopToken


class Stopped(PlainSteps):
    """Workers whose frame is told to stop as they start."""

    def workers(
        self, hub: str, max_workers: int, worktrees: str | None, stop: StopToken
    ) -> AbstractContextManager[Submit]:
        stop.stop()
        return super().workers(hub, max_workers, worktrees, stop)


def test_two_frames_in_one_process_stop_apart(demo_hub: Hub) -> None:
    """A frame that is stopped stops its own workers only: each frame has its own token."""
    slow = [{"id": "poster-1", "command": ["sh", "-c", "sleep 1; echo '{}' > a.json"]}]
    hub = str(demo_hub.path)
    with ThreadPoolExecutor(2) as pool:
        stopped = pool.submit(run, hub, parse([{**slow[0], "id": "poster-2"}]), Stopped())
        going = pool.submit(run_plain, hub, parse(slow))
        first, second = stopped.result(), going.result()
    assert [(w.worker, w.status) for w in first.workers + second.workers] == [
        ("poster-2", WorkerStatus.FALLBACK),
        ("poster-1", WorkerStatus.OK),
    ]
