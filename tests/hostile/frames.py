"""What the hostile-input table shares: forged pushes made with plain git, honest deltas
beside them, one frame of the plain engine, and the verdict each case expects.

A category builds all its hostile pushes, pushes them with one ``git push`` of many
refspecs (the hub's update hook judges each ref alone), submits two honest deltas, and
runs one frame. Each case then reads its own verdict out of that frame.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gnp import canonical
from gnp.core.archive import VerdictRecord
from gnp.core.layout import delta_path, ref_name
from gnp.core.signing import DOMAIN, SigningKey
from gnp.core.verdict import Outcome
from gnp.git import trees
from gnp.git.engine import FrameReport, run_frame
from gnp.git.hub import Hub
from gnp.git.verify import verify
from gnp.host import clock
from tests.helpers.hubs import incr, send, worker_key

HONEST = "honest.json"
# Outcomes a case can expect besides the engine's verdicts.
PUSH_REFUSED = "push-refused"  # the hub's hook refused the push: nothing reached the inbox
SWEPT = "swept"  # already in the ledger: removed from the inbox, not applied again
UNCHANGED = "unchanged"  # gnp run found no edit to submit
NO_ANSWER = "no-answer"  # the relay closed the connection without submitting anything


@dataclass(frozen=True, slots=True)
class Expect:
    outcome: str  # an Outcome's value, or one of the outcomes above
    code: str | None = None
    said: str = ""  # a fragment of the reason


def refused(code: str, said: str) -> Expect:
    return Expect(Outcome.REJECTED.value, code, said)


APPLIED = Expect(Outcome.APPLIED.value)


@contextmanager
def home(tmp: Path) -> Iterator[None]:
    """GNP_HOME and GNP_WORKTREES of a module's shared hub (the per-test ones are set after
    module fixtures, so a module fixture sets its own)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GNP_HOME", str(tmp / "gnp-home"))
        mp.setenv("GNP_WORKTREES", str(tmp / "worktrees"))
        yield


def set_limits(hub: Hub, **limits: int) -> None:
    """Tighten the hub's limits (``.gnp/protocol.json`` on main), as its owner may."""

    def change(state: Any) -> dict[str, bytes]:
        protocol = canonical.decode(trees.read(state.tree, ".gnp/protocol.json"))
        protocol["limits"].update(limits)
        return {".gnp/protocol.json": canonical.encode_pretty(protocol)}

    hub.commit_on_main(change, "gnp limits: tighter, as the hub's owner may\n")


def seed(hub: Hub, documents: dict[str, Any]) -> None:
    """State files on main, written by the hub's owner."""
    hub.commit_on_main(
        lambda state: {f: canonical.encode_pretty(d) for f, d in documents.items()},
        "gnp seed: the owner's first state\n",
    )


# Deltas, built by hand ----------------------------------------------------------------


def body(
    worker: str, ops: list[Any] | None = None, /, *, case: str = "", **fields: Any
) -> dict[str, Any]:
    """A delta body, every field valid unless ``fields`` says otherwise (a field set to
    ``...`` is left out)."""
    stamp = clock.stamp()
    out: dict[str, Any] = {
        "v": 1,
        "worker": worker,
        "author": worker,
        "authority": 0,
        "frame": 0,
        "utc": stamp.utc,
        "nonce": hashlib.md5(case.encode()).hexdigest() if case else stamp.nonce,
        "status": "ok",
        "error": None,
        "ops": [{"op": "incr", "file": "x.json", "path": "/n", "value": 1}] if ops is None else ops,
    }
    out.update(fields)
    return {k: v for k, v in out.items() if v is not ...}


def signed(key: SigningKey, data: dict[str, Any]) -> tuple[str, bytes]:
    """(id, bytes) of ``data`` signed by ``key`` over its canonical body, whatever it holds
    (a ``sig`` it holds already, or None, stands instead of the signature)."""
    unsigned = {k: v for k, v in data.items() if k != "sig"}
    encoded = canonical.encode(unsigned)
    sig = base64.b64encode(key.key.sign(DOMAIN + encoded)).decode()
    signed = {"sig": sig, **data}
    if signed["sig"] is None:
        del signed["sig"]
    return hashlib.sha256(encoded).hexdigest(), canonical.encode(signed)


def fake_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# Plain git ----------------------------------------------------------------------------


def git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=60
    )


@dataclass
class Forger:
    """A worker's own clone of the hub, where commits are made by hand and pushed with
    the ``git`` binary, as anyone who can push to the hub could."""

    hub: Hub
    path: Path
    repo: pygit2.Repository = field(init=False)
    planned: list[tuple[pygit2.Oid, str]] = field(default_factory=list)
    pushed: dict[str, pygit2.Oid] = field(default_factory=dict)  # ref -> what was pushed

    def __post_init__(self) -> None:
        done = git("clone", "-q", "--bare", str(self.hub.path), str(self.path))
        assert done.returncode == 0, done.stderr
        self.repo = pygit2.Repository(str(self.path))

    def fetch(self) -> None:
        done = git("fetch", "-q", "origin", "+refs/heads/main:refs/heads/main", cwd=self.path)
        assert done.returncode == 0, done.stderr

    @property
    def main(self) -> pygit2.Commit:
        return self.repo.revparse_single("refs/heads/main").peel(pygit2.Commit)

    def commit(
        self,
        changes: dict[str, trees.Change],
        parents: list[pygit2.Oid] | None = None,
        tree: pygit2.Oid | None = None,
    ) -> pygit2.Oid:
        base = self.main
        tree = tree or trees.edit(self.repo, base.tree, changes)
        sig = pygit2.Signature("mallory", "mallory@x", 1_700_000_000, 0)
        return self.repo.create_commit(
            None, sig, sig, "forged", tree, [base.id] if parents is None else parents
        )

    def delta(self, worker: str, delta_id: str, data: bytes, **extra: trees.Change) -> pygit2.Oid:
        """A commit of main plus the delta file (and ``extra`` files), as submit makes one."""
        return self.commit({delta_path(worker, delta_id): data, **extra})

    def tree(self, files: dict[str, bytes], base: pygit2.Oid | None = None) -> pygit2.Oid:
        """A tree of ``files`` alone, or of the commit ``base`` plus them."""
        parent = None if base is None else self.repo[base].peel(pygit2.Commit).tree
        return trees.edit(self.repo, parent, files)

    def plan(self, commit: pygit2.Oid | str, ref: str) -> str:
        """Push ``commit`` to ``ref`` with the next :meth:`push`; return ``ref``."""
        self.planned.append((pygit2.Oid(hex=str(commit)), ref))
        return ref

    def file(self, worker: str, delta_id: str, data: bytes, **extra: trees.Change) -> str:
        """Plan the delta ``data`` pushed to ``refs/gnp/inbox/<worker>/<delta_id>``."""
        return self.plan(self.delta(worker, delta_id, data, **extra), ref_name(worker, delta_id))

    def push(self, *extra: str) -> dict[str, str]:
        """Push every planned ref in one ``git push``; return the refs the hub refused, with
        what git said about each (the hook's lines included)."""
        refspecs = []
        for i, (oid, ref) in enumerate(self.planned):
            local = f"refs/forged/{i}"
            self.repo.references.create(local, oid, force=True)
            refspecs.append(f"{local}:{ref}")
        self.pushed.update((ref, oid) for oid, ref in self.planned)
        self.planned.clear()
        return self.git_push(*extra, *refspecs)

    def git_push(self, *args: str) -> dict[str, str]:
        """``git push --porcelain HUB ARGS``: the refused refs (a deletion as ``:ref``), each
        with what git said."""
        done = git("push", "--porcelain", str(self.hub.path), *args, cwd=self.path)
        out: dict[str, str] = {}
        for line in done.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[0] == "!":
                src, dst = parts[1].split(":", 1)
                said = [
                    line
                    for line in done.stderr.splitlines()
                    if f"{dst};" in line or f"{dst} " in line
                ]
                out[dst if src else f":{dst}"] = "\n".join([parts[2], *said])
        return out


# A frame ------------------------------------------------------------------------------


@dataclass
class Frame:
    """One frame of the plain engine: its report, and the honest deltas it held."""

    hub: Hub
    report: FrameReport
    honest: tuple[str, ...]
    honest_before: Any
    refused_pushes: dict[str, str] = field(default_factory=dict)
    forged: dict[str, pygit2.Oid] = field(default_factory=dict)

    def verdict(self, source: str) -> VerdictRecord:
        found = [v for v in self.report.verdicts if v.source == source]
        assert len(found) == 1, (source, [v.source for v in self.report.verdicts])
        return found[0]

    def of_delta(self, delta_id: str) -> VerdictRecord:
        found = [v for v in self.report.verdicts if v.delta == delta_id]
        assert len(found) == 1, delta_id
        return found[0]

    def honest_applied(self) -> None:
        """Every case's second check: the honest deltas of its frame all applied."""
        for delta_id in self.honest:
            v = self.of_delta(delta_id)
            assert (v.outcome, v.code) == (Outcome.APPLIED, None), v
        commit = self.hub.repo[pygit2.Oid(hex=self.report.commit)]
        after = canonical.decode(trees.read(commit.tree, HONEST))
        before = self.honest_before["n"] if isinstance(self.honest_before, dict) else 0
        assert after == {"n": before + len(self.honest)}


def honest(hub: Hub) -> tuple[tuple[str, ...], Any]:
    """Two honest deltas, by two workers, both adding to honest.json:/n."""
    before = trees.read(hub.main().tree, HONEST)
    ids = tuple(send(hub, w, incr(HONEST, "/n", 1)).id for w in ("alice", "bob"))
    return ids, None if before is None else canonical.decode(before)


def frame(
    hub: Hub, refused_pushes: dict[str, str] | None = None, forger: Forger | None = None
) -> Frame:
    """Add the honest deltas to what the inbox holds and run one frame of the plain engine."""
    ids, before = honest(hub)
    report = run_frame(hub)
    assert report.frame is not None
    checked = verify(hub)  # whatever was pushed, the hub holds up end to end
    assert checked.ok, [c.line() for c in checked.checks if not c.ok]
    forged = dict(forger.pushed) if forger else {}
    return Frame(hub, report, ids, before, refused_pushes or {}, forged)


def registered(hub: Hub, *workers: str) -> dict[str, SigningKey]:
    return {w: worker_key(hub, w) for w in workers}


def check(frame: Frame, source: str, expect: Expect) -> None:
    """The case's verdict in its frame is ``expect``, said inertly, and the honest deltas
    of that frame applied."""
    if expect.outcome == PUSH_REFUSED:
        assert source in frame.refused_pushes, f"{source} was not refused by the hub"
        assert expect.said in frame.refused_pushes[source]
        held = None if source.startswith(":") else frame.hub.repo.references.get(source)
        forged = frame.forged.get(source)
        assert held is None or held.target != forged, "the push landed"
        # No verdict of what was pushed: the ref's own delta (one rewritten in vain) has one.
        assert all(v.source != source or v.commit != str(forged) for v in frame.report.verdicts)
    elif expect.outcome == SWEPT:
        assert source in frame.report.swept
        assert all(v.source != source for v in frame.report.verdicts)
    else:
        assert source not in frame.refused_pushes, frame.refused_pushes.get(source)
        v = frame.verdict(source)
        assert (v.outcome.value, v.code) == (expect.outcome, expect.code), v.reason
        assert expect.said in (v.reason or ""), v.reason
        inert(v.reason)
    frame.honest_applied()


def inert(text: str | None) -> None:
    """A reason shown to a person holds no control character (no terminal escapes, no
    line breaks): what came from a delta is escaped in it."""
    assert text is None or text.isprintable(), repr(text)
