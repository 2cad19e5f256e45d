"""The pieces of ``gnp demo``: a hub, simulated agents, three frames' rosters, checks.

The agents are ordinary roster callables (each runs in its own process, in its own
worktree, and edits state files like any agent would): posters and a commenter append
and count, two agents comment on one post in one frame (both comments land), a counter
adds visits, one crashes, one is killed mid-write, one hangs past its timeout, and two
scouts set one agent's status differently in the same frame, each with the authority the
hub's owner granted it (the lead more than the newcomer). A cron job outside the flow
submits a delta of its own, and someone pushes a forged one. The frames themselves are
run by the frame flow (``gnp demo``: ``gnp_cli/demo.py``).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from gnp.core import canonical
from gnp.core.delta import compose
from gnp.core.layout import ref_name
from gnp.core.ops import Op
from gnp.core.verdict import Outcome
from gnp.frame.summary import FrameSummary
from gnp.git.hub import Hub, State
from gnp.git.inbox import delta_commit, submit
from gnp.git.registry import declare, grant, register
from gnp.host import clock, keys

SEED: dict[str, Any] = {
    "stats.json": {"posts": 0, "comments": 0, "visits": 0},
    "posts.json": {"items": []},
    "comments.json": {"items": []},
    "agents.json": {"agents": {"scout": {"status": "new"}}},
}
TYPES = [
    ("stats.json", "/posts", "counter"),
    ("stats.json", "/comments", "counter"),
    ("stats.json", "/visits", "counter"),
    ("posts.json", "/items", "append"),
    ("comments.json", "/items", "append"),
]


def _who() -> str:
    return os.environ.get("GNP_WORKER", "someone")


def _edit(wt: Path, file: str, change: Any) -> None:
    path = wt / file
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2) + "\n")


# The agents ------------------------------------------------------------------------------


def post(wt: Path) -> None:
    """Write a post and count it."""
    new = {"by": _who(), "text": "hello", "comments": []}
    _edit(wt, "posts.json", lambda d: d["items"].append(new))
    _edit(wt, "stats.json", lambda d: d.update(posts=d["posts"] + 1))


def comment(wt: Path) -> None:
    _edit(wt, "comments.json", lambda d: d["items"].append({"by": _who(), "on": 0}))
    _edit(wt, "stats.json", lambda d: d.update(comments=d["comments"] + 1))


def reply(wt: Path) -> None:
    """Comment on the first post, in its own list of comments, which no one declared:
    the essay's question of two agents commenting on one post in one frame."""
    said = {"by": _who(), "text": f"a comment from {_who()}"}
    _edit(wt, "posts.json", lambda d: d["items"][0]["comments"].append(said))


def count_visits(wt: Path) -> None:
    _edit(wt, "stats.json", lambda d: d.update(visits=d["visits"] + 5))


def crash(wt: Path) -> None:
    _edit(wt, "stats.json", lambda d: d.update(posts=d["posts"] + 100))
    raise RuntimeError("the model returned no answer")


def killed(wt: Path) -> None:
    """Killed mid-write, as the OOM killer or an impatient operator would."""
    (wt / "stats.json").write_text('{"posts": 9')
    os.kill(os.getpid(), signal.SIGKILL)


def hang(wt: Path) -> None:
    _edit(wt, "stats.json", lambda d: d.update(visits=d["visits"] + 1000))
    time.sleep(3600)


def scout_active(wt: Path) -> None:
    _edit(wt, "agents.json", lambda d: d["agents"]["scout"].update(status="active"))


def scout_resting(wt: Path) -> None:
    _edit(wt, "agents.json", lambda d: d["agents"]["scout"].update(status="resting"))


def _member(worker: str, agent: str, **extra: Any) -> dict[str, Any]:
    return {"id": worker, "call": f"gnp.demo:{agent}", **extra}


# The owner's grants: the scouts may claim these authorities, and write agents.json only.
GRANTS = {"scout-lead": 2, "scout-new": 1}

ROSTERS: list[list[dict[str, Any]]] = [
    [
        _member("poster-1", "post"),
        _member("poster-2", "post"),
        _member("commenter", "comment"),
        _member("counter", "count_visits"),
        _member("flaky", "crash"),
    ],
    [
        _member("poster-1", "post"),
        _member("commenter", "comment"),
        _member("scout-lead", "scout_active", authority=GRANTS["scout-lead"]),
        _member("scout-new", "scout_resting", authority=GRANTS["scout-new"]),
        _member("doomed", "killed"),
    ],
    [
        _member("poster-1", "post"),
        _member("poster-2", "post"),
        _member("commenter", "comment"),
        _member("counter", "count_visits"),
        _member("sleepy", "hang", timeout=2),
        _member("critic", "reply"),
        _member("fan", "reply"),
    ],
]
OUTSIDE = "cron"  # a worker outside the flow: a cron job using `gnp submit`
FORGER = "mallory"
EXPECTED = {"posts": 5, "comments": 3, "visits": 20}  # 5 + 10 (cron) + 5
FALLBACKS = {1: "flaky", 2: "doomed", 3: "sleepy"}
REPLIERS = ("critic", "fan")  # both comment on the first post in frame 3


def setup(path: Path) -> Hub:
    """A new hub with the demo's workers registered, the scouts granted their authority,
    merge types declared, state seeded."""
    hub = Hub.init(path)
    workers = sorted({m["id"] for roster in ROSTERS for m in roster} | {OUTSIDE, FORGER})
    for worker in workers:
        register(hub, worker)
    for worker, authority in GRANTS.items():
        grant(hub, worker, authority=authority, files=["agents.json"])
    for file, pointer, kind in TYPES:
        declare(hub, file, pointer, kind)

    def seed(state: State) -> dict[str, Any]:
        return {file: canonical.encode_pretty(doc) for file, doc in SEED.items()}

    hub.commit_on_main(seed, "gnp seed: the hub's owner seeds the demo's state\n")
    return hub


def outside_deltas(hub: Hub) -> str:
    """Before frame 2: a cron job submits +10 visits, and someone pushes a copy of it
    edited to say +1000. Returns the cron delta's id."""
    state = hub.state()
    key = keys.load(state.hub_id, OUTSIDE)
    visits = [Op("incr", "stats.json", "/visits", 10)]
    cron = key.sign(compose(OUTSIDE, visits, frame=state.frame, stamp=clock.stamp()))
    submit(hub, cron)
    body = json.loads(cron.encode())
    body["ops"][0]["value"] = 1000  # edited in transit; the signature no longer holds
    body["worker"] = FORGER
    forged = canonical.encode(body)
    commit = delta_commit(hub.repo, hub.main(), FORGER, cron.id, forged)
    hub.create_inbox_ref(ref_name(FORGER, cron.id), commit)
    return cron.id


def check(hub: Hub, summaries: list[FrameSummary]) -> list[str]:
    """What the demo promises; an empty list means every promise held."""
    broken = []
    state = hub.state()
    stats = state.document("stats.json")
    if stats != EXPECTED:
        broken.append(f"counters are {stats}, expected {EXPECTED}")
    posts = state.document("posts.json")["items"]
    if len(posts) != EXPECTED["posts"]:
        broken.append(f"{len(posts)} posts, expected {EXPECTED['posts']}")
    said = sorted(c["by"] for c in posts[0].get("comments", []) if isinstance(c, dict))
    if said != sorted(REPLIERS):
        broken.append(f"the first post's comments are by {said}, expected {list(REPLIERS)}")
    status = state.document("agents.json")["agents"]["scout"]["status"]
    if status != "active":
        broken.append(f"the scout's status is {status!r}: higher authority did not win")
    if [s.frame for s in summaries] != [1, 2, 3]:
        broken.append(f"frames: {[s.frame for s in summaries]}")
    for summary in summaries:
        fell = [v.worker for v in summary.verdicts if v.outcome is Outcome.FALLBACK]
        if summary.frame is None or fell != [FALLBACKS.get(summary.frame)]:
            broken.append(f"frame {summary.frame} fallbacks: {fell}")
    if len(summaries) > 1 and summaries[1].counts[Outcome.CONFLICT] != 1:
        broken.append("the scouts' conflict was not recorded in frame 2")
    if len(summaries) > 1 and summaries[1].counts[Outcome.REJECTED] != 1:
        broken.append("the forged delta was not rejected in frame 2")
    return broken
