"""What each kind of commit on ``main`` is, and what it may change.

Theory of operation: only the merge engine and the owner's commands write ``main``, so
every commit on its first-parent history is one of the kinds in :data:`KINDS`, one row
each: how its subject begins, how many parents it has, the trailers it carries, and the
paths it may change. A commit is recognised by its subject alone, then held to every
rule of its row; whatever matches no row, or breaks a rule of the row it claims, was
made by something else (a plain ``git commit``, a merge, a hand-edited history).

The author is never read: owners' commits are to be authored by the owner's own git
identity, and an author proves nothing anyway. Neither is this a proof that a commit is
honest: a frame commit that changes only what a frame may change can still be forged.
Replay decides that (its tree must be what settling its archive gives);
this table decides only who could have made a commit, cheaply enough that the engine
asks it of ``main``'s tip before every frame.

Adding a kind of commit (an owner command) is adding one row to :data:`KINDS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from gnp.core.layout import (
    FRAME_FILE,
    GRANTS_FILE,
    KEYRING_FILE,
    LEDGER_DIR,
    PROTOCOL_FILE,
    TYPES_FILE,
    frame_dir,
)
from gnp.core.limits import PROTOCOL_DIR, WORKER_ID


class Scope(Enum):
    """How a rule of :class:`May` names paths."""

    FILE = "file"  # exactly this path
    FOLDER = "folder"  # anything under this folder
    STATE = "state"  # a state file: outside .gnp/, ending in .json
    ARCHIVE = "archive"  # the commit's own frame folder, .gnp/frames/<its frame>/


@dataclass(frozen=True, slots=True)
class May:
    """One rule of what a kind of commit may change."""

    scope: Scope
    path: str = ""

    def allows(self, path: str, frame: int | None) -> bool:
        if self.scope is Scope.FILE:
            return path == self.path
        if self.scope is Scope.STATE:
            return not path.startswith(f"{PROTOCOL_DIR}/") and path.endswith(".json")
        return path.startswith(f"{self._folder(frame)}/")

    def covers(self, folder: str, frame: int | None) -> bool:
        """Whether every path under ``folder`` is allowed, so a walk need not look."""
        if self.scope in (Scope.FILE, Scope.STATE):
            return False
        return f"{folder}/".startswith(f"{self._folder(frame)}/")

    def _folder(self, frame: int | None) -> str:
        if self.scope is Scope.ARCHIVE:
            return frame_dir(frame) if frame is not None else "\0"  # no frame: nothing
        return self.path


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of commit that may be on main."""

    name: str
    subject: str  # its subject line begins with this
    parents: int  # 0: the root (init); 1: everything else (merges are never ours)
    trailers: tuple[str, ...]  # trailers it must carry
    may: tuple[May, ...]  # what it may change
    before_frames: bool = False  # only while no frame has merged yet

    def allows(self, path: str, frame: int | None) -> bool:
        return any(rule.allows(path, frame) for rule in self.may)

    def covers(self, folder: str, frame: int | None) -> bool:
        return any(rule.covers(folder, frame) for rule in self.may)


KINDS: tuple[Kind, ...] = (
    Kind(
        "init",
        "gnp init: ",
        0,
        ("Gnp-Frame",),
        tuple(May(Scope.FILE, f) for f in (PROTOCOL_FILE, FRAME_FILE, KEYRING_FILE, TYPES_FILE)),
    ),
    Kind(
        "frame",
        "gnp frame ",
        1,
        ("Gnp-Frame", "Gnp-Base"),
        (
            May(Scope.STATE),
            May(Scope.FOLDER, LEDGER_DIR),
            May(Scope.ARCHIVE),
            May(Scope.FILE, FRAME_FILE),
        ),
    ),
    Kind("keygen", "gnp keygen: ", 1, ("Gnp-Keyring",), (May(Scope.FILE, KEYRING_FILE),)),
    Kind("declare", "gnp declare: ", 1, (), (May(Scope.FILE, TYPES_FILE),)),
    Kind("grant", "gnp grant: ", 1, ("Gnp-Grant",), (May(Scope.FILE, GRANTS_FILE),)),
    # The owner's change of the hub's limits (``.gnp/protocol.json``); no command makes
    # it yet, so the owner commits it with this subject.
    Kind("limits", "gnp limits: ", 1, (), (May(Scope.FILE, PROTOCOL_FILE),)),
    # The owner's first state, as the demo seeds it: before any frame, never after.
    Kind("seed", "gnp seed: ", 1, (), (May(Scope.STATE),), before_frames=True),
)


@dataclass(frozen=True, slots=True)
class Recognised:
    """A commit of a known kind; ``frame`` is a frame commit's number (init's is 0)."""

    kind: Kind
    frame: int | None = None


@dataclass(frozen=True, slots=True)
class Foreign:
    """A commit no row of :data:`KINDS` admits, and why (one clause, for a message)."""

    reason: str


_TRAILER = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*): ?(.*)")


def trailers(message: str) -> dict[str, str]:
    """The trailers of a commit message: its last paragraph, if every line of it is
    ``Key: value`` and it is not the subject."""
    paragraphs = [p for p in message.strip("\n").split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return {}
    out: dict[str, str] = {}
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.fullmatch(line.strip())
        if match is None:
            return {}
        out.setdefault(match[1], match[2].strip())
    return out


def _repeated(message: str) -> list[str]:
    """The ``Gnp-*`` trailers that appear more than once (``Co-authored-by`` may)."""
    paragraphs = [p for p in message.strip("\n").split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return []
    seen: set[str] = set()
    twice = []
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.fullmatch(line.strip())
        if match is not None and match[1].startswith("Gnp-"):
            if match[1] in seen:
                twice.append(match[1])
            seen.add(match[1])
    return twice


def kind_of(subject: str) -> Kind | None:
    for kind in KINDS:
        if subject.startswith(kind.subject):
            return kind
    return None


def recognise(message: str, parents: Sequence[str]) -> Recognised | Foreign:
    """Which kind of commit a commit with ``message`` and ``parents`` (ids) is."""
    subject = message.split("\n", 1)[0]
    kind = kind_of(subject)
    if kind is None:
        return Foreign(f"its subject {subject[:60]!r} is not one gnp writes")
    if len(parents) != kind.parents:
        shape = "a merge commit" if len(parents) > 1 else f"{len(parents)} parent(s)"
        return Foreign(f"it is {shape}, and a gnp {kind.name} commit has {kind.parents}")
    said = trailers(message)
    twice = _repeated(message)
    if twice:  # which of them would count? gnp writes each of its own once
        return Foreign(f"it carries {twice[0]} more than once")
    missing = [t for t in kind.trailers if t not in said]
    if missing:
        return Foreign(f"it says it is a gnp {kind.name} commit but lacks {', '.join(missing)}")
    return _held(kind, said, parents)


def _held(kind: Kind, said: dict[str, str], parents: Sequence[str]) -> Recognised | Foreign:
    """The rules of a row that its trailers carry."""
    if kind.name in ("init", "frame"):
        number = said["Gnp-Frame"]
        if not number.isdigit() or (number == "0") != (kind.name == "init"):
            return Foreign(f"its Gnp-Frame {number[:20]!r} is not a {kind.name}'s number")
        if kind.name == "frame" and said["Gnp-Base"] != parents[0]:
            return Foreign(f"its Gnp-Base {said['Gnp-Base'][:40]!r} is not its parent")
        return Recognised(kind, int(number))
    for name in ("Gnp-Keyring", "Gnp-Grant"):
        if name in kind.trailers and not WORKER_ID.fullmatch(said[name]):
            return Foreign(f"its {name} {said[name][:70]!r} is not a worker id")
    return Recognised(kind)


def outside(recognised: Recognised, changed: Iterable[str]) -> list[str]:
    """The paths of ``changed`` that a commit of this kind may not change."""
    return [p for p in changed if not recognised.kind.allows(p, recognised.frame)]


def judge(
    recognised: Recognised | Foreign, changed: Sequence[str], parent_frame: int | None
) -> Recognised | Foreign:
    """A recognised commit held to what it changed (``changed``: paths its tree differs
    from its parent's in, as far as the walk looked) and to the frame its parent had."""
    if isinstance(recognised, Foreign):
        return recognised
    wrong = outside(recognised, changed)
    if wrong:
        shown = ", ".join(wrong[:3]) + (" ..." if len(wrong) > 3 else "")
        return Foreign(f"it changes {shown}, which a gnp {recognised.kind.name} commit may not")
    kind = recognised.kind
    if kind.before_frames and parent_frame:
        return Foreign(
            f"a gnp {kind.name} commit comes only before frame 1, not after frame {parent_frame}"
        )
    if kind.name == "frame" and parent_frame is not None and recognised.frame != parent_frame + 1:
        return Foreign(
            f"it says frame {recognised.frame}, but its parent's last frame is {parent_frame}"
        )
    return recognised
