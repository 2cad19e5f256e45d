"""The soak's independent model: what the state must be, worked out from what each soak
worker was told to do and which deltas the archive on main says were applied.

Theory of operation: every worker's work carries a token of its own, in every item it
appends and in the key it adds. The model keeps, per token, the effect the work was
told to have (:class:`Effect`). After a frame it reads the archive with plain ``json``
(``.gnp/frames/N/verdicts.json`` and the archived delta files), finds the tokens each
applied delta carries by searching its bytes, and adds up the effects of those tokens
itself: no gnp merge, diff or settle code takes part, so a bug there cannot hide in
both the state and its check.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pygit2

TOKEN = re.compile(r"tok[0-9]{5}[ws][0-9]{2}r[0-9]")


@dataclass(frozen=True, slots=True)
class Effect:
    """What one piece of work was told to do."""

    token: str
    inc: int
    items: int
    must_apply: bool  # its delta was delivered (a run that said ok, a submit that printed)
    may_apply: bool  # False: it failed, and must change nothing
    killed: bool = False  # its gnp run was SIGKILLed: applied or not, both are right


@dataclass
class Model:
    effects: dict[str, Effect] = field(default_factory=dict)
    # token -> (frame, delta id) of each applied delta that carries it
    applied: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    applied_ids: Counter[str] = field(default_factory=Counter)
    # delta id -> (frame, outcome) of each verdict it got
    verdicts: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    frame_verdicts: dict[int, list[str]] = field(default_factory=dict)  # frame -> sources
    frames_read: int = 0

    def expect(self, effect: Effect) -> None:
        self.effects[effect.token] = effect

    def read_frames(self, repo: pygit2.Repository, commits: dict[int, pygit2.Commit]) -> list[str]:
        """Take in frames ``frames_read + 1`` on from their commits; return problems."""
        problems: list[str] = []
        for n in sorted(commits):
            if n <= self.frames_read:
                continue
            tree = commits[n].tree
            folder = f".gnp/frames/{n:06d}"
            verdicts = json.loads(_blob(tree, f"{folder}/verdicts.json") or b"[]")
            self.frame_verdicts[n] = [v["source"] for v in verdicts]
            for v in verdicts:
                delta = v.get("delta")
                outcome = v.get("outcome")
                if isinstance(delta, str):
                    self.verdicts.setdefault(delta, []).append((n, outcome))
                if outcome != "applied":
                    continue
                self.applied_ids[delta] += 1
                worker = v["source"].split("/")[3]
                data = _blob(tree, f"{folder}/deltas/{worker}/{delta}.json")
                if data is None:
                    problems.append(f"frame {n}: applied delta {delta[:12]} is not archived")
                    continue
                for token in set(TOKEN.findall(data.decode("utf-8"))):
                    self.applied.setdefault(token, []).append((n, delta))
            self.frames_read = n
        return problems

    def check_state(self, c: Any, log: Any, keys: Any) -> tuple[list[str], int, int]:
        """Problems with the state on main, and how many effects were lost and doubled."""
        problems: list[str] = []
        lost = doubled = 0
        for delta, n in self.applied_ids.items():
            if n > 1:
                doubled += 1
                problems.append(f"delta {delta[:12]} was applied {n} times")
        for token, where in self.applied.items():
            effect = self.effects.get(token)
            if effect is None:
                problems.append(f"{token} was applied but no work was told to make it")
            elif not effect.may_apply:
                problems.append(f"{token}'s work failed, but its delta was applied: {where}")
            if len({d for _, d in where}) > 1:
                doubled += 1
                problems.append(f"{token} is in more than one applied delta: {where}")
        for token, effect in self.effects.items():
            if effect.must_apply and token not in self.applied:
                lost += 1
                problems.append(f"{token} was delivered but never applied")
        applied = [self.effects[t] for t in self.applied if t in self.effects]
        want_n = sum(e.inc for e in applied)
        if c.get("n") != want_n:
            problems.append(f"c.json:/n is {c.get('n')}, the model says {want_n}")
        for name, tag in (("declared", "d"), ("free", "f")):
            want = Counter(f"{e.token}/{tag}{j}" for e in applied for j in range(e.items))
            have = Counter(log.get(name, []))
            missing, extra = want - have, have - want
            if missing:
                lost += len(missing)
                problems.append(f"log.json:/{name} lacks {sorted(missing)[:5]}")
            if extra:
                doubled += len(extra)
                problems.append(f"log.json:/{name} has more than it should: {sorted(extra)[:5]}")
        want_keys = {e.token: e.inc for e in applied}
        have_keys = keys.get("k", {})
        if have_keys != want_keys:
            gone = sorted(set(want_keys) - set(have_keys))
            more = sorted(set(have_keys) - set(want_keys))
            lost += len(gone)
            problems.append(f"keys.json:/k differs: missing {gone[:5]}, extra {more[:5]}")
        return problems, lost, doubled

    def killed_but_applied(self) -> int:
        """Runs SIGKILLed after their delta was committed: it must still be applied."""
        return sum(1 for t, e in self.effects.items() if e.killed and t in self.applied)


def _blob(tree: pygit2.Tree, path: str) -> bytes | None:
    try:
        obj = tree[path]
    except KeyError:
        return None
    return obj.data if isinstance(obj, pygit2.Blob) else None
