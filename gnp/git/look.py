"""What a person asks of a hub, read-only: what waits in the inbox, one delta's story,
and the hub at a glance (``gnp inbox``, ``gnp show``, ``gnp status``).

Theory of operation: nothing here decides anything. An inbox item is described by the
same checks the engine will make (:func:`gnp.git.inbox.take`, then admission against
the keyring on ``main``), so what ``gnp inbox`` calls unreadable or unsigned is what the
next frame will refuse, and why; but the frame's verdict is the engine's alone. A delta
is found by its id or a unique prefix, in the inbox and in every frame's archive; its
story is every verdict the archive holds for it, oldest first. Every string that came
from a worker is made inert where the value is made.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

from gnp.core.archive import VerdictRecord
from gnp.core.delta import Delta, decode
from gnp.core.errors import Refused, UsageError
from gnp.core.grants import Grant
from gnp.core.inert import inert
from gnp.core.layout import parse_ref
from gnp.core.signing import Keyring, verify
from gnp.git.hub import Hub, State
from gnp.git.inbox import Item, snapshot, take
from gnp.git.replay import archived_delta, archived_verdicts, frame_commit, frame_commits

_PREFIX = re.compile(r"[0-9a-f]{4,64}")


@dataclass(frozen=True, slots=True)
class Waiting:
    """One inbox ref as the next frame will find it."""

    ref: str
    worker: str | None
    delta: str | None  # the id its ref names
    utc: str | None
    base_frame: int | None  # the frame of the main the delta was made on
    ops: int | None
    files: tuple[str, ...]
    signed: bool  # signed by its worker's registered key
    problem: str | None  # why the next frame will refuse it, if it will

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": inert(self.ref),
            "worker": self.worker,
            "delta": self.delta,
            "utc": self.utc,
            "base_frame": self.base_frame,
            "ops": self.ops,
            "files": list(self.files),
            "signed": self.signed,
            "problem": self.problem,
        }


def waiting(hub: Hub) -> list[Waiting]:
    """Every inbox ref now, described, in the order the engine would take them (by
    composite key; what it cannot read, last, by ref)."""
    hub.refresh()
    state = hub.state()
    keyring = state.keyring()
    items = [_describe(hub, state, keyring, item) for item in snapshot(hub)]
    readable = sorted(
        (w for w in items if w.utc is not None),
        key=lambda w: (w.base_frame or 0, w.utc or "", w.worker or "", w.delta or ""),
    )
    return readable + [w for w in items if w.utc is None]


def _describe(hub: Hub, state: State, keyring: Keyring, item: Item) -> Waiting:
    named = parse_ref(item.ref)
    worker, delta_id = named if named is not None else (None, None)
    try:
        data = take(hub, item, state.limits.max_bytes)
        found = decode(data, state.limits)
    except Refused as exc:
        return Waiting(item.ref, worker, delta_id, None, None, None, (), False, inert(str(exc)))
    problem: str | None = None
    try:
        verify(found, keyring)  # admission's second half: the decoded delta's signature
    except Refused as exc:
        problem = inert(str(exc))
    if problem is None and (found.worker, found.id) != (worker, delta_id):
        problem = f"the delta inside is {found.worker}'s {found.id[:12]}, not what its ref names"
    return Waiting(
        item.ref,
        worker,
        delta_id,
        found.utc,
        found.frame,
        len(found.ops),
        tuple(sorted({op.file for op in found.ops})),
        problem is None,
        problem,
    )


@dataclass(frozen=True, slots=True)
class Story:
    """One delta: what it says, whether its signature holds, and what became of it."""

    delta: Delta
    signed: str  # "valid", or why not
    waiting: str | None  # its inbox ref, while it waits for a frame
    verdicts: tuple[tuple[int, VerdictRecord], ...]  # (frame, verdict), oldest first

    def to_json(self) -> dict[str, Any]:
        return {
            **self.delta.to_json(),
            "id": self.delta.id,
            "signature": self.signed,
            "waiting": self.waiting,
            "verdicts": [{"frame": f, **v.to_json()} for f, v in self.verdicts],
        }


def story(hub: Hub, prefix: str) -> Story:
    """The delta whose id is or begins with ``prefix`` (at least 4 hex digits, one delta
    only), from the inbox or any frame's archive; raises :class:`UsageError` if none is
    found or the prefix is ambiguous."""
    prefix = prefix.strip().lower()
    if not _PREFIX.fullmatch(prefix):
        raise UsageError(f"{inert(prefix)!r} is not a delta id: give 4 to 64 hex digits")
    hub.refresh()
    state = hub.state()
    found: dict[str, bytes] = {}
    where: dict[str, str] = {}
    verdicts: dict[str, list[tuple[int, VerdictRecord]]] = {}
    for item in snapshot(hub):
        named = parse_ref(item.ref)
        if named is None or not named[1].startswith(prefix):
            continue
        where[named[1]] = item.ref
        with contextlib.suppress(Refused):  # unreadable: found by its ref alone
            found.setdefault(named[1], take(hub, item, state.limits.max_bytes))
    commits = frame_commits(hub, 1, state.frame)  # one walk along main, not one per frame
    for frame, commit in sorted(commits.items()):
        for record in archived_verdicts(commit, frame):
            if record.delta is None or not record.delta.startswith(prefix):
                continue
            verdicts.setdefault(record.delta, []).append((frame, record))
            data = archived_delta(commit, frame, record.source)
            if data is not None:
                found.setdefault(record.delta, data)
    ids = sorted(set(found) | set(where) | set(verdicts))
    if not ids:
        raise UsageError(
            f"no delta {prefix}... in the inbox or any frame's archive of this hub "
            "(see 'gnp inbox' and 'gnp lineage')"
        )
    if len(ids) > 1:
        shown = ", ".join(i[:12] for i in ids[:5]) + (" ..." if len(ids) > 5 else "")
        raise UsageError(f"{prefix} is ambiguous: {len(ids)} deltas begin so ({shown})")
    delta_id = ids[0]
    if delta_id not in found:
        said = "; ".join(f"frame {f}: {v.outcome} ({v.reason})" for f, v in verdicts[delta_id])
        raise UsageError(
            f"delta {delta_id[:12]} was refused before admission and its bytes were not "
            f"kept: {inert(said) if said else 'its push could not be read'}"
        )
    try:
        delta = decode(found[delta_id], state.limits)
    except Refused as exc:
        raise UsageError(f"delta {delta_id[:12]} cannot be read: {inert(str(exc))}") from None
    try:
        verify(delta, state.keyring())
        signed = "valid"
    except Refused as exc:
        signed = inert(str(exc))
    return Story(delta, signed, where.get(delta_id), tuple(verdicts.get(delta_id, ())))


@dataclass(frozen=True, slots=True)
class Status:
    """The hub at a glance."""

    location: str
    hub_id: str
    frame: int
    main: str
    waiting: int
    last_frame: dict[str, int]  # outcome -> count, for the last frame
    workers: tuple[tuple[str, Grant], ...]  # each registered worker, its grant (or the default)

    def to_json(self) -> dict[str, Any]:
        return {
            "hub": inert(self.location),
            "hub_id": self.hub_id,
            "frame": self.frame,
            "main": self.main,
            "waiting": self.waiting,
            "last_frame": self.last_frame,
            "workers": [{"id": w, **g.to_json()} for w, g in self.workers],
        }


def status(hub: Hub, location: str) -> Status:
    hub.refresh()
    state = hub.state()
    last: dict[str, int] = {}
    if state.frame:
        for record in archived_verdicts(frame_commit(hub, state.frame), state.frame):
            last[str(record.outcome)] = last.get(str(record.outcome), 0) + 1
    return Status(
        location,
        state.hub_id,
        state.frame,
        str(state.commit.id),
        len(snapshot(hub)),
        last,
        tuple((w, state.grants.of(w)) for w in sorted(state.keyring_text)),
    )
