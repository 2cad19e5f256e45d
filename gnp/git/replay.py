"""Replay: re-derive a historical frame from its parent commit and its archive.

Frame N's commit holds, under ``.gnp/frames/N/``, every admitted delta file and every
verdict; a push refused before admission is replayed as the refusal it recorded.
Replay settles those arrivals again on the parent commit with the very
function the engine used (:func:`gnp.core.settle.settle`) and rebuilds the tree; the frame
is reproduced exactly if and only if the tree ids are equal (invariant 4).

The deltas are held to the grants of the parent commit and to the clock reading the
frame's commit records (its ``Gnp-Clock`` trailer), never to today's clock; a frame
merged before grants recorded none, and is replayed holding its deltas to no terms, as
it did. Its reasons are worded as its ``Gnp-Wording`` trailer says (none: the first
wording; :mod:`gnp.core.wording`), so that a change of words never breaks an old frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pygit2

from gnp.core import canonical, wording
from gnp.core.archive import FrameRecord, VerdictRecord, verdicts_from_json
from gnp.core.delta import moment
from gnp.core.diff import differing_paths
from gnp.core.document import ABSENT
from gnp.core.errors import Malformed, Refused, UsageError
from gnp.core.layout import FRAME_FILE, frame_dir, parse_ref
from gnp.core.settle import Arrival
from gnp.git import trees
from gnp.git.connect import open_hub
from gnp.git.engine import CLOCK_TRAILER, WORDING_TRAILER, settle_on
from gnp.git.hub import Hub

_CLOCK = re.compile(rf"^{CLOCK_TRAILER}: (.*)$", re.MULTILINE)
_WORDING = re.compile(rf"^{WORDING_TRAILER}: (.*)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ReplayReport:
    frame: int
    commit: str
    recorded_tree: str
    replayed_tree: str
    differences: list[str] = field(default_factory=list)  # files that differ
    paths: list[str] = field(default_factory=list)  # "file#/pointer" where JSON differs
    settled: tuple[str, ...] = ()  # the ids the frame puts in the ledger, as replayed

    @property
    def identical(self) -> bool:
        return self.recorded_tree == self.replayed_tree

    def to_json(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "commit": self.commit,
            "identical": self.identical,
            "recorded_tree": self.recorded_tree,
            "replayed_tree": self.replayed_tree,
            "differences": list(self.differences),
            "paths": list(self.paths),
        }


def frame_commit(hub: Hub, frame: int) -> pygit2.Commit:
    """The commit on main that merged ``frame``."""
    if frame < 1:
        raise UsageError(f"frames are numbered from 1; there is no frame {frame}")
    found = frame_commits(hub, frame, frame)
    if frame not in found:
        raise UsageError(f"frame {frame} is not on main (the last frame is {hub.state().frame})")
    return found[frame]


def frame_commits(hub: Hub, first: int, last: int) -> dict[int, pygit2.Commit]:
    """The commits on main that merged frames ``first`` to ``last``, found in one walk
    back along main (replaying many frames must not walk main once per frame)."""
    found: dict[int, pygit2.Commit] = {}
    commit = hub.main()
    while True:
        number = canonical.decode(trees.read(commit.tree, FRAME_FILE) or b'{"frame": -1}')
        n = number.get("frame") if isinstance(number, dict) else None
        if not isinstance(n, int) or n < first:
            return found
        if n <= last and commit.message.startswith("gnp frame "):
            found[n] = commit
        if not commit.parents:
            return found
        commit = commit.parents[0]


def replay(hub: Hub, frame: int, commit_id: str | None = None) -> ReplayReport:
    """Replay ``frame``; ``commit_id`` (from :func:`frame_commits`) saves finding it."""
    commit = frame_commit(hub, frame) if commit_id is None else hub.repo[commit_id]
    assert isinstance(commit, pygit2.Commit)
    parent = commit.parents[0]
    state = hub.state(parent)
    arrivals = []
    for verdict in archived_verdicts(commit, frame):
        data = archived_delta(commit, frame, verdict.source)
        if data is not None:  # admitted, or refused in a frame that archived refusals
            arrivals.append(Arrival(verdict.source, data, None, verdict.commit, archived=True))
            continue
        refusal = (verdict.code or "", verdict.reason or "")
        arrivals.append(
            Arrival(
                verdict.source,
                None,
                refusal,
                verdict.commit,
                size=verdict.size,
                sha256=verdict.sha256,
            )
        )
    arrivals.sort(key=lambda a: a.source)
    settlement = settle_on(state, frame, arrivals, recorded_clock(commit), recorded_wording(commit))
    tree = trees.edit(hub.repo, parent.tree, settlement.changes())
    differences: list[str] = []
    paths: list[str] = []
    if tree != commit.tree.id:
        replayed = hub.repo[tree]
        assert isinstance(replayed, pygit2.Tree)
        diff = replayed.diff_to_tree(commit.tree)
        differences = sorted({d.new_file.path for d in diff.deltas})
        paths = _differing_paths(replayed, commit.tree, differences)
    return ReplayReport(
        frame,
        str(commit.id),
        str(commit.tree.id),
        str(tree),
        differences,
        paths,
        tuple(settlement.result.settled),
    )


def recorded_clock(commit: pygit2.Commit) -> str | None:
    """The engine's clock reading a frame's commit records; None for a frame merged
    before grants. A damaged record is a usage error naming it."""
    found = _CLOCK.findall(commit.message)
    if not found:
        return None
    try:
        if len(found) > 1:
            raise Malformed(f"{len(found)} {CLOCK_TRAILER} trailers")
        moment(found[0])
    except Malformed as exc:
        raise UsageError(
            f"the {CLOCK_TRAILER} trailer of commit {commit.id} is damaged ({exc})"
        ) from None
    return str(found[0])


def recorded_wording(commit: pygit2.Commit) -> int:
    """The wording of a frame's reasons, as its commit records it; the first wording for
    a frame that records none. A damaged or unknown record is a usage error naming it."""
    found = _WORDING.findall(commit.message)
    if not found:
        return wording.FIRST
    damaged = f"the {WORDING_TRAILER} trailer of commit {commit.id} is damaged"
    if len(found) > 1:
        raise UsageError(f"{damaged} ({len(found)} of them, where a frame records one)")
    try:
        return wording.parse(found[0])
    except Malformed as exc:
        raise UsageError(f"{damaged} ({exc}): a newer gnp may know it") from None


def _differing_paths(replayed: pygit2.Tree, recorded: pygit2.Tree, files: list[str]) -> list[str]:
    """Where, inside each differing JSON file, the replay and the record disagree."""
    out = []
    for file in files:
        docs = []
        for tree in (recorded, replayed):
            data = trees.read(tree, file)
            try:
                docs.append(ABSENT if data is None else canonical.decode(data))
            except Refused:
                docs.append(None)  # not canonical JSON: the whole file differs
        if None in docs:
            out.append(f"{file}#")
            continue
        out.extend(f"{file}#{p}" for p in differing_paths(docs[0], docs[1]))
    return out


def frame_record(hub: Hub, frame: int) -> FrameRecord:
    """Frame ``frame`` as its commit archives it: what lineage rows are made from."""
    commit = frame_commit(hub, frame)
    verdicts = archived_verdicts(commit, frame)
    deltas = {}
    for verdict in verdicts:
        data = archived_delta(commit, frame, verdict.source)
        if data is not None:
            deltas[verdict.source] = data
    return FrameRecord(frame, str(commit.parents[0].id), str(commit.id), verdicts, deltas)


def archived_verdicts(commit: pygit2.Commit, frame: int) -> tuple[VerdictRecord, ...]:
    """The verdicts frame ``frame``'s commit archives; a damaged archive is a usage error
    naming it (no delta was refused: the record of the frame is what is wrong)."""
    path = f"{frame_dir(frame)}/verdicts.json"
    try:
        return verdicts_from_json(canonical.decode(trees.read(commit.tree, path) or b"[]"))
    except Refused as exc:
        raise UsageError(
            f"{path} on commit {commit.id} is damaged ({exc}); restore it from git"
        ) from None


def archived_delta(commit: pygit2.Commit, frame: int, source: str) -> bytes | None:
    """The delta file that arrived on ``source``, as the frame archived it, if any."""
    named = parse_ref(source)
    if named is None:
        return None
    return trees.read(commit.tree, f"{frame_dir(frame)}/deltas/{named[0]}/{named[1]}.json")


def frames_to_replay(hub: str, frame: int | None, first: int | None, last: int | None) -> list[int]:
    """One frame, a range (either end defaulting to the first or last frame), or all."""
    if frame is not None and (first is not None or last is not None):
        raise UsageError("give one frame, or a range (first/last), not both")
    latest = open_hub(hub).state().frame
    if latest < 1 and frame is None and first is None and last is None:
        return []  # a new hub: nothing to replay yet, and nothing wrong
    if frame is not None:
        check_frame(latest, frame)
        return [frame]
    if latest < 1:
        raise UsageError("the hub has no frames yet")
    low, high = first if first is not None else 1, last if last is not None else latest
    if not 1 <= low <= high <= latest:
        raise UsageError(f"frames run from 1 to {latest}; cannot replay {low} to {high}")
    return list(range(low, high + 1))


def check_frame(latest: int, frame: int) -> None:
    """Refuse a frame the hub does not have (it has frames 1 to ``latest``)."""
    if latest < 1:
        raise UsageError("the hub has no frames yet")
    if not 1 <= frame <= latest:
        raise UsageError(f"frames run from 1 to {latest}; there is no frame {frame}")
