"""``gnp verify``: a hub checked end to end, without Prefect.

Theory of operation: each check reads the hub as it is and says whether one promise of
the protocol holds there; together they hold when the hub is exactly what gnp's own
commands could have made of it:

* history: every commit of ``main``'s first-parent history is of a kind gnp writes
  (:mod:`gnp.core.history`), changes only what that kind may, and frames count up by one;
* replay: every frame commit's tree is what settling its archive on its parent gives
  (invariant 4), so no frame commit was forged or rewritten;
* ledger: the ledger on ``main`` holds exactly the deltas the frames settled, each with
  the frame that settled it, and each entry names a delta archived in that frame;
* keyring: ``.gnp/keyring.json`` maps worker ids to public keys gnp can read (and
  ``.gnp/grants.json``, if there is one, names only registered workers);
* inbox: no ref is orphaned (see :func:`_inbox`);
* fsck: git itself finds the repository sound (``git fsck --strict``).

Every problem is a :class:`Finding`: one line naming the commit, ref or frame, what is
wrong, and what to do.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pygit2

from gnp.core import canonical, grants
from gnp.core.archive import VerdictRecord
from gnp.core.errors import GnpError, Refused, describe
from gnp.core.history import Foreign, Recognised
from gnp.core.layout import (
    GRANTS_FILE,
    KEYRING_FILE,
    LEDGER_DIR,
    MAIN,
    frame_dir,
    ledger_path,
    parse_ref,
)
from gnp.core.limits import WORKER_ID
from gnp.core.signing import parse_public_key
from gnp.core.verdict import Outcome
from gnp.git import trees
from gnp.git.history import first_parents, judged
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot
from gnp.git.replay import ReplayReport, archived_verdicts, replay

_ID = re.compile(r"[0-9a-f]{64}")
_SHOWN = 20  # findings one check lists; a hub broken everywhere says so in fewer


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where (a commit, a ref, a frame, a file) and what is wrong and to do."""

    where: str
    reason: str

    def line(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    checked: str  # what was looked at, for the line of a check that holds
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.name}: {self.checked}"
        more = f" (and {len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
        return f"FAIL  {self.name}: {self.findings[0].line()}{more}"

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "ok": self.ok,
            "checked": self.checked,
            "findings": [{"where": f.where, "reason": f.reason} for f in self.findings],
        }


@dataclass(frozen=True, slots=True)
class Verification:
    hub: str
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {"hub": self.hub, "ok": self.ok, "checks": [c.to_json() for c in self.checks]}


@dataclass(slots=True)
class _Walk:
    """``main``'s first-parent history, oldest first, each commit judged once."""

    commits: list[tuple[pygit2.Commit, Recognised | Foreign]]
    replays: dict[int, ReplayReport] = field(default_factory=dict)


def verify(hub: Hub) -> Verification:
    """Every check of the module docstring, on ``hub`` as it is now."""
    hub.refresh()
    tip = hub.main()
    walk = _Walk([(c, judged(c)) for c in reversed(list(first_parents(tip)))])
    checks = (
        _history(hub, walk),
        _replay(hub, walk),
        _ledger(tip, walk),
        _keyring(tip),
        _grants(tip),
        _inbox(hub, tip),
        _fsck(hub),
    )
    return Verification(hub.url or str(hub.path), checks)


def _history(hub: Hub, walk: _Walk) -> Check:
    findings: list[Finding] = []
    good: pygit2.Commit | None = None  # the last gnp commit before the first foreign one
    tip = walk.commits[-1][0]
    for commit, found in walk.commits:
        if isinstance(found, Recognised) and not findings:
            good = commit
        elif isinstance(found, Foreign) and len(findings) < _SHOWN:
            where = f"commit {str(commit.id)[:12]}"
            findings.append(Finding(where, _undo(hub, commit, found, good, tip)))
    frames = sum(1 for _, f in walk.commits if isinstance(f, Recognised) and f.frame)
    return Check(
        "history",
        f"{len(walk.commits)} commits on main, each made by gnp ({frames} frames)",
        tuple(findings),
    )


def _undo(
    hub: Hub,
    commit: pygit2.Commit,
    found: Foreign,
    good: pygit2.Commit | None,
    tip: pygit2.Commit,
) -> str:
    subject = commit.message.split("\n", 1)[0][:60]
    said = f"{subject!r} was not made by gnp: {found.reason}"
    if good is None:
        return f"{said}; no commit before it was either: this is not a gnp hub's history"
    git = "git" if hub.url else f"git -C {hub.path}"
    later = (
        ""
        if commit.id == tip.id
        else " (the commits after it leave main too: submit again what their deltas did)"
    )
    return (
        f"{said}; reset main to {str(good.id)[:12]}, the last gnp commit before any that "
        "is not, "
        f"with `{git} update-ref {MAIN} {good.id}` on the hub{later}"
    )


# Where a replay differs when only the wording of reasons does (gnp.core.wording).
_REASON = re.compile(r"\.gnp/frames/[0-9]+/verdicts\.json#/[0-9]+/reason")


def _replay(hub: Hub, walk: _Walk) -> Check:
    findings = []
    for commit, found in walk.commits:
        if not isinstance(found, Recognised) or found.kind.name != "frame" or not found.frame:
            continue
        where = f"frame {found.frame} (commit {str(commit.id)[:12]})"
        try:
            report = replay(hub, found.frame, str(commit.id))
        except Exception as exc:  # a damaged archive, or a bug: one finding, not a crash
            findings.append(Finding(where, f"cannot be replayed: {describe(exc)}"))
            continue
        walk.replays[found.frame] = report
        if not report.identical:
            differ = ", ".join((report.paths or report.differences)[:4]) or "its tree"
            if report.paths and all(_REASON.fullmatch(p) for p in report.paths):
                findings.append(
                    Finding(
                        where,
                        f"does not replay, but only in the words of its reasons (differs "
                        f"at {differ}): a gnp of another version words them otherwise; "
                        "check it with the gnp that merged it, or a newer one, before you "
                        "take it for forged",
                    )
                )
                continue
            findings.append(
                Finding(
                    where,
                    f"does not replay: its tree {report.recorded_tree[:12]} is not "
                    f"{report.replayed_tree[:12]}, what its archive gives (differs at "
                    f"{differ}); the commit was forged or rewritten: reset main to its parent "
                    f"{str(commit.parents[0].id)[:12]} and submit again what it carried",
                )
            )
    return Check("replay", f"{len(walk.replays)} frames replay exactly", tuple(findings[:_SHOWN]))


def _ledger(tip: pygit2.Commit, walk: _Walk) -> Check:
    """The ledger against the archive, both ways, on ``main``'s tip."""
    findings: list[Finding] = []
    ledger = _ledger_entries(tip.tree, findings)
    archives: dict[int, dict[str, list[VerdictRecord]]] = {}

    def archived(frame: int) -> dict[str, list[VerdictRecord]]:
        """Delta id -> its verdicts in ``frame``: more than one when a push under another
        worker's ref claimed the same id (refused, and not archived)."""
        if frame not in archives:
            try:
                records = archived_verdicts(tip, frame)
            except GnpError:
                records = ()  # the replay check names a damaged archive
            found: dict[str, list[VerdictRecord]] = {}
            for v in records:
                if v.delta and v.worker and v.outcome is not Outcome.DUPLICATE:
                    found.setdefault(v.delta, []).append(v)
            archives[frame] = found
        return archives[frame]

    restore = "restore the ledger: reset main to the last commit `gnp verify` accepts"
    for delta_id, frame in sorted(ledger.items()):
        path = ledger_path(delta_id)
        if frame is None:
            findings.append(Finding(path, f"names no frame; {restore}"))
            continue
        records = archived(frame).get(delta_id, [])
        if not records:
            said = f"says frame {frame}, whose archive has no verdict for it"
            findings.append(Finding(path, f"{said}; {restore}"))
        elif not any(
            trees.read(tip.tree, _archived_path(frame, r.worker or "", delta_id)) is not None
            for r in records
        ):
            findings.append(
                Finding(path, f"names a delta frame {frame} did not archive; {restore}")
            )
    for frame, report in sorted(walk.replays.items()):
        for delta_id in report.settled:
            if ledger.get(delta_id, -1) != frame:
                had = "is missing" if delta_id not in ledger else f"says {ledger[delta_id]}"
                findings.append(
                    Finding(
                        f"delta {delta_id[:12]}",
                        f"frame {frame} settled it, but its ledger entry {ledger_path(delta_id)} "
                        f"{had}; it could be applied again: {restore}",
                    )
                )
    return Check(
        "ledger",
        f"{len(ledger)} entries, each a delta its frame settled and archived",
        tuple(findings[:_SHOWN]),
    )


def _archived_path(frame: int, worker: str, delta_id: str) -> str:
    return f"{frame_dir(frame)}/deltas/{worker}/{delta_id}.json"


def _ledger_entries(tree: pygit2.Tree, findings: list[Finding]) -> dict[str, int | None]:
    """Delta id -> the frame its entry names (None if it names none)."""
    out: dict[str, int | None] = {}
    root = trees.subtree(tree, LEDGER_DIR)
    for path, blob in trees.blobs(root) if root is not None else ():
        delta_id = path.replace("/", "")
        if ledger_path(delta_id) != f"{LEDGER_DIR}/{path}" or not _ID.fullmatch(delta_id):
            findings.append(Finding(f"{LEDGER_DIR}/{path}", "is not named by a delta id"))
            continue
        text = blob.data.decode("ascii", "replace").strip()
        out[delta_id] = int(text) if text.isdigit() else None
    return out


def _keyring(tip: pygit2.Commit) -> Check:
    findings: list[Finding] = []
    data = _json_object(tip.tree, KEYRING_FILE, findings)
    for worker, key in (data or {}).items():
        try:
            if not WORKER_ID.fullmatch(worker):
                raise Refused("it is not a worker id")
            parse_public_key(key)
        except Refused as exc:
            findings.append(
                Finding(
                    f"{KEYRING_FILE} entry {worker[:70]!r}",
                    f"{exc}; register the worker again (`gnp keygen WORKER --hub HUB --force`) "
                    "or restore the file from its last `gnp keygen` commit",
                )
            )
    return Check("keyring", f"{len(data or {})} workers, each with a key", tuple(findings))


def _grants(tip: pygit2.Commit) -> Check:
    """``.gnp/grants.json``, if there is one, reads as grants (:func:`gnp.core.grants.parse`:
    authorities in bounds, globs over state files) and grants only registered workers."""
    findings: list[Finding] = []
    data = trees.read(tip.tree, GRANTS_FILE)
    if data is None:
        return Check("grants", "no grants: every worker has the default")
    try:
        granted = grants.parse(canonical.decode(data))
    except Refused as exc:
        return Check("grants", "", (Finding(GRANTS_FILE, f"{exc}; grant again with `gnp grant`"),))
    registered = _json_object(tip.tree, KEYRING_FILE, []) or {}
    for worker in granted.by_worker:
        if worker not in registered:
            findings.append(
                Finding(
                    f"{GRANTS_FILE} entry {worker[:70]!r}",
                    "grants a worker with no key on the hub; register it (`gnp keygen`) "
                    "or grant again without it",
                )
            )
    count = len(granted.by_worker)
    return Check(
        "grants", f"{count} grants, each well formed, to a registered worker", tuple(findings)
    )


def _json_object(tree: pygit2.Tree, path: str, findings: list[Finding]) -> dict[str, Any] | None:
    data = trees.read(tree, path)
    try:
        doc = canonical.decode(data if data is not None else b"")
    except Refused as exc:
        findings.append(Finding(path, f"is not JSON ({exc}); restore it from git"))
        return None
    if not isinstance(doc, dict):
        findings.append(Finding(path, "is not a JSON object; restore it from git"))
        return None
    return doc


def _inbox(hub: Hub, tip: pygit2.Commit) -> Check:
    """Orphaned inbox refs: refs that no frame will ever merge as a new delta.

    A ref waiting for the next frame is fine. Orphaned is a ref whose name is not
    ``refs/gnp/inbox/<worker>/<64 hex>`` (the hub's update hook admits no other, so
    something wrote it past the hook), whose delta the ledger already holds (a frame
    merged it and did not remove the ref: an engine stopped between its swap and its
    cleanup), or whose worker has no key on the hub (only a rejection awaits it). The
    next frame removes each of them, with a verdict for the last kind.
    """
    findings = []
    registered = _json_object(tip.tree, KEYRING_FILE, []) or {}
    items = snapshot(hub)
    where = hub.url or str(hub.path)
    for item in items:
        named = parse_ref(item.ref)
        if named is None:
            why = "is not named refs/gnp/inbox/<worker>/<delta id>, as the hub admits"
        elif trees.read(tip.tree, ledger_path(named[1])) is not None:
            why = "holds a delta the ledger already settled: a frame did not remove it"
        elif named[0] not in registered:
            why = f"is from {named[0]!r}, who has no key on the hub: it can only be rejected"
        else:
            continue
        findings.append(
            Finding(item.ref, f"{why}; `gnp frame --hub {where}` removes it, with a verdict")
        )
    return Check(
        "inbox",
        f"{len(items)} refs waiting for the next frame, none orphaned",
        tuple(findings[:_SHOWN]),
    )


def _fsck(hub: Hub) -> Check:
    where = str(hub.path) + (f" (the local mirror of {hub.url})" if hub.url else "")
    command = [
        "git",
        "--git-dir",
        str(hub.path),
        "fsck",
        "--no-progress",
        "--strict",
        "--no-dangling",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=3600)
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("fsck", "", (Finding(where, f"git fsck could not run: {exc}"),))
    if done.returncode == 0:
        return Check("fsck", "git fsck --strict finds nothing wrong")
    said = _first(x for x in (done.stdout + done.stderr).splitlines() if x.strip())
    return Check(
        "fsck",
        "",
        (
            Finding(
                where,
                f"git fsck --strict says: {said}; restore the objects it names from a clone "
                "or a backup of the hub",
            ),
        ),
    )


def _first(lines: Iterable[str]) -> str:
    return next(iter(lines), "it failed, and said nothing")[:300]
