"""The demo: three frames of simulated agents on a new hub, each frame a flow run,
then every frame replayed. ``gnp demo`` prints what this returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.frame import frame
from flows.replay import replay
from gnp import demo
from gnp.frames import lineage_root
from gnp.hub import Hub


@dataclass
class DemoRun:
    hub: Path
    summaries: list[dict[str, Any]] = field(default_factory=list)
    replays: list[dict[str, Any]] = field(default_factory=list)
    lineage: str = ""
    problems: list[str] = field(default_factory=list)


def run(folder: Path, *, progress: Any = print) -> DemoRun:
    """Run the demo in ``folder`` (keys must already point there: ``GNP_HOME``)."""
    progress("creating a hub, registering 11 workers, seeding state")
    hub = demo.setup(folder / "hub.git")
    result = DemoRun(hub.path)
    for number, roster in enumerate(demo.ROSTERS, start=1):
        if number == 2:
            progress(
                "a cron job submits +10 visits from outside the flow; mallory, another "
                "registered worker, pushes a copy of it edited to say +1000"
            )
            demo.outside_deltas(hub)
        names = ", ".join(m["id"] for m in roster)
        progress(f"frame {number}: running {names}")
        result.summaries.append(frame(str(hub.path), roster))
    progress("replaying every frame from its parent and its archive")
    result.replays = replay(str(hub.path), fail_on_mismatch=False)
    result.lineage = lineage_root(Hub.open(hub.path))
    result.problems = demo.check(Hub.open(hub.path), result.summaries)
    result.problems += [
        f"frame {r['frame']} does not replay" for r in result.replays if not r["identical"]
    ]
    return result
