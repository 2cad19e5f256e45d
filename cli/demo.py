"""``gnp demo``: three frames of simulated agents on a new hub, each frame a flow run,
then every frame replayed, and what it all showed.

The agents, the hub and the checks are :mod:`gnp.demo`'s; this runs them through the
frame and replay flows, as ``gnp frame`` and ``gnp replay`` would.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gnp import demo
from gnp.core.verdict import Outcome
from gnp.frame.summary import FrameSummary
from gnp.git.connect import open_hub
from gnp.git.replay import ReplayReport
from gnp.lineage.frames import lineage_root
from gnp_cli import show
from gnp_flows.frame import frame
from gnp_flows.replay import replay


@dataclass
class DemoRun:
    hub: Path
    summaries: list[FrameSummary] = field(default_factory=list)
    replays: list[ReplayReport] = field(default_factory=list)
    lineage: str = ""
    problems: list[str] = field(default_factory=list)


def run(folder: Path, *, progress: Callable[[str], object] = print) -> DemoRun:
    """Run the demo in ``folder`` (keys must already point there: ``GNP_HOME``)."""
    progress("creating a hub, registering 11 workers, granting the scouts authority, seeding state")
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
    result.lineage = lineage_root(open_hub(hub.path))
    result.problems = demo.check(open_hub(hub.path), result.summaries)
    result.problems += [
        f"frame {r.frame} does not replay" for r in result.replays if not r.identical
    ]
    return result


def closing(result: DemoRun) -> None:
    """What the demo showed, and where to look further."""
    state = open_hub(result.hub).state()
    stats = state.document("stats.json")
    status = state.document("agents.json")["agents"]["scout"]["status"]
    verdicts = [(s.frame, v) for s in result.summaries for v in s.verdicts]
    conflict = next(v for _, v in verdicts if v.outcome is Outcome.CONFLICT)
    inert = show.inert
    fallbacks = [
        f"{inert(v.worker or '?')} (frame {n}: {inert(v.reason or '')})"
        for n, v in verdicts
        if v.outcome is Outcome.FALLBACK
    ]
    forged = next(v for _, v in verdicts if v.outcome is Outcome.REJECTED)
    show.out.print("\n[bold]Summary[/]")
    show.say(f"  counters exact: {stats} (5 posts, 3 comments, 5 + 10 + 5 visits)")
    replies = state.document("posts.json")["items"][0]["comments"]
    show.say(
        "  two agents commented on one post in frame 3, and both comments landed: "
        + ", ".join(sorted(str(c.get("by")) for c in replies))
    )
    who, why = inert(conflict.worker or "?"), inert(conflict.reason or "")
    show.say(f"  conflict: {who}'s delta {why}; the scout is {inert(repr(status))}")
    show.say("  fallbacks, nothing of their edits applied: " + "; ".join(fallbacks))
    show.say(f"  forged delta: rejected, {inert(forged.reason or '')}")
    show.say(f"  lineage: {result.lineage}")
    for r in result.replays:
        show.say("  " + show.replay_line(r))
    where = str(result.hub)
    gnp = "gnp" if shutil.which("gnp") else sys.argv[0]  # as it was run: .venv/bin/gnp
    show.out.print("\n[bold]Look further[/]")
    for line in (
        f"{gnp} lineage --hub {where}",
        f"{gnp} lineage --hub {where} --summary",
        f"{gnp} replay --hub {where} --frame 2",
        f"git --git-dir {where} log --format='%h %s' main",
        f"git --git-dir {where} show main:stats.json",
    ):
        show.say(f"  {line}")
    # Left behind on purpose, for the commands above; say so, or it piles up unnoticed.
    show.say(f"\nWhen done, remove the demo's folder: rm -r {shlex.quote(str(result.hub.parent))}")
