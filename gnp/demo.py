"""An in-memory frame that shows the protocol's core at work, for ``gnp demo``.

Five workers act on one base state. Their deltas are signed, pushed as bytes, admitted
(one forged delta is refused), and reduced into one frame: counters combine, a
conflict is decided by authority and recorded, a crashed worker leaves a fallback, a
re-pushed delta is applied once. Nothing here touches git or the disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import canonical
from .admit import admit
from .delta import Delta, compose, fallback
from .document import ABSENT
from .errors import Refused
from .ops import Op
from .reduce import FrameResult, Outcome, reduce
from .signing import SigningKey

BASE: dict[str, Any] = {
    "stats.json": {"posts": 41, "comments": 7},
    "agents.json": {"agent-42": {"status": "new"}},
    "posts.json": {"items": []},
}


@dataclass(frozen=True, slots=True)
class DemoRun:
    base: dict[str, Any]
    pushed: list[tuple[str, bytes]]  # (what it is, the bytes a worker pushed)
    refused: list[tuple[str, str]]  # (what it is, why it was refused)
    result: FrameResult
    deltas: dict[str, Delta]


def run_demo() -> DemoRun:
    workers = ["poster", "commenter", "moderator", "admin", "flaky"]
    keys = {w: SigningKey.generate() for w in workers}
    keyring = {w: k.public_key for w, k in keys.items()}

    def signed(worker: str, *ops: Op, authority: int = 0) -> Delta:
        return keys[worker].sign(compose(worker, list(ops), frame=0, authority=authority))

    post = signed(
        "poster",
        Op("append", "posts.json", "/items", {"title": "Hello, neighbours"}),
        Op("incr", "stats.json", "/posts", 1),
    )
    comments = [signed("commenter", Op("incr", "stats.json", "/comments", 1)) for _ in range(3)]
    ban = signed(
        "moderator", Op("replace", "agents.json", "/agent-42/status", "banned"), authority=1
    )
    verify = signed(
        "admin", Op("replace", "agents.json", "/agent-42/status", "verified"), authority=2
    )
    crashed = keys["flaky"].sign(fallback("flaky", "exit status 137: killed", frame=0))
    forged = json.loads(comments[0].encode())
    forged["ops"][0]["value"] = 1000  # someone edits a signed delta in transit

    pushed = [
        ("poster: a post, +1 post", post.encode()),
        *[(f"commenter: +1 comment ({i + 1}/3)", c.encode()) for i, c in enumerate(comments)],
        ("commenter: the same delta pushed again", comments[0].encode()),
        ("moderator (authority 1): ban agent-42", ban.encode()),
        ("admin (authority 2): verify agent-42", verify.encode()),
        ("flaky: crashed, left a fallback", crashed.encode()),
        ("forged: a comment delta edited to +1000", canonical.encode(forged)),
    ]
    admitted: list[Delta] = []
    refused: list[tuple[str, str]] = []
    for what, data in pushed:
        try:
            admitted.append(admit(data, keyring))
        except Refused as exc:
            refused.append((what, f"{exc.code}: {exc}"))
    base = {f: canonical.copy(d) for f, d in BASE.items()}
    result = reduce(1, admitted, lambda f: canonical.copy(base.get(f, ABSENT)))
    return DemoRun(base, pushed, refused, result, {d.id: d for d in admitted})


def check(run: DemoRun) -> list[str]:
    """What the demo promises; an empty list means every promise held."""
    docs, broken = run.result.documents, []
    if docs["stats.json"] != {"posts": 42, "comments": 10}:
        broken.append(f"counters: {docs['stats.json']}")
    if docs["agents.json"]["agent-42"]["status"] != "verified":
        broken.append("the admin's higher authority did not win")
    outcomes = sorted(v.outcome.value for v in run.result.verdicts)
    expected = ["applied"] * 5 + ["conflict", "duplicate", "fallback"]
    if outcomes != sorted(expected):
        broken.append(f"verdicts: {outcomes}")
    if len(run.refused) != 1:
        broken.append(f"refused: {run.refused}")
    if run.result.count(Outcome.CONFLICT) != 1:
        broken.append("the conflict was not recorded")
    return broken
