"""Which deltas of one frame step on each other.

Theory of operation: each operation has a *footprint*, a location (file + pointer) and
an access (read, write, or one additive op). Two operations of different workers
conflict when their locations overlap (one is the other or an ancestor of it) unless
they commute: two reads, or the same additive op on exactly the same location (``incr``
with ``incr``, ``append`` with ``append``...). Everything else is order-sensitive, so
letting both apply would make the result an accident of timing; instead the conflict is
detected, the higher-priority delta wins and the loser is named. A worker's own deltas
never conflict with each other: they apply in its own order.

Inserting into or removing from an array shifts its other elements, so such an
operation's footprint is the whole array, not one index. Appending to an array that
the base holds (``append``, or RFC 6902's ``add .../-``) shifts nothing: its footprint
is the place past the end (``/list/-``), so appends of different workers commute, with
each other and with changes to the elements the base has, and apply in composite-key
order, as one after another would. A pointer to an index at or past the base's end is
read as that same place, so it clashes with an append: what it finds there would
depend on timing. An additive operation that has to create a missing object or file
also has an ``ensure`` footprint there, so an ``add`` beneath it cannot succeed or fail
by timing alone.

The index answers "does this footprint conflict with anything accepted so far, and
with whom" in time proportional to the pointer's depth, not to the number of deltas:
each trie node keeps, per access category, the first delta of each worker at that node
and below it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gnp.core.document import ABSENT
from gnp.core.ops import OPS, Kind, Op
from gnp.core.pointer import Tokens

READ = "read"
WRITE = "write"
ENSURE = "ensure"  # an additive op creates this missing object (or the missing file)
# An append past the end of an array the base holds, by `append` or RFC 6902 `add .../-`;
# not "append", the name of the additive op, which names no end (an index there may).
APPEND = "append-end"


@dataclass(frozen=True, slots=True)
class Footprint:
    """One location an operation touches, and how."""

    file: str
    tokens: Tokens
    access: str  # READ, WRITE, or the name of an additive op


def _commute(a: str, b: str, same_location: bool) -> bool:
    if a == READ and b == READ:
        return True
    if a == ENSURE or b == ENSURE:
        # Creating a missing object commutes with creating it again and with additive ops
        # beneath it (they would create it too), and with nothing else: an `add` there
        # succeeds or fails depending on whether the object was created first.
        other = b if a == ENSURE else a
        return other not in (READ, WRITE)
    return same_location and a == b and a != WRITE


END = "-"  # RFC 6901's "past the last element": where appends to an array land


@dataclass(frozen=True, slots=True)
class Place:
    """Where a pointer lands in the frame's base documents."""

    tokens: Tokens  # the pointer, with array indexes at or past the base's end as END
    missing: int | None  # length of the shortest strict prefix that does not exist
    array: bool  # the location holds an array


Locate = Callable[[str, Tokens], Place]
"""Looks a pointer up in the frame's base documents."""


def footprints(op: Op, locate: Locate) -> Iterator[Footprint]:
    """The footprints of ``op``; ``locate`` looks at the frame's base documents."""
    spec = OPS[op.op]
    if spec.kind is Kind.ADDITIVE:
        place = locate(op.file, op.tokens)
        if place.missing is not None:
            yield Footprint(op.file, place.tokens[: place.missing], ENSURE)
        if op.op == "append" and place.array:
            # Appends land past the end: they commute with each other and leave every
            # element the base has where it was.
            yield Footprint(op.file, (*place.tokens, END), APPEND)
        else:
            yield Footprint(op.file, place.tokens, op.op)
    elif op.op in ("test", "replace"):
        access = READ if op.op == "test" else WRITE
        yield Footprint(op.file, locate(op.file, op.tokens).tokens, access)
    else:
        if op.op == "copy":
            assert op.from_tokens is not None
            yield Footprint(op.file, locate(op.file, op.from_tokens).tokens, READ)
        elif op.op == "move":
            assert op.from_tokens is not None
            yield Footprint(op.file, _structural(op.file, op.from_tokens, locate), WRITE)
        if op.op == "add" and op.tokens and op.tokens[-1] == END:
            parent = locate(op.file, op.tokens[:-1])
            if parent.array and parent.missing is None:  # RFC 6902's append
                yield Footprint(op.file, (*parent.tokens, END), APPEND)
                return
        yield Footprint(op.file, _structural(op.file, op.tokens, locate), WRITE)


def _structural(file: str, tokens: Tokens, locate: Locate) -> Tokens:
    """Where an insert/remove at ``tokens`` has effect: the array itself, if in one."""
    if not tokens:
        return tokens
    last = tokens[-1]
    parent = locate(file, tokens[:-1])
    exists = parent.missing is None
    if parent.array or (not exists and (last == END or last.isdigit())):
        return parent.tokens
    return (*parent.tokens, last)


def locate_in(document: Any, tokens: Tokens) -> Place:
    """Look ``tokens`` up in ``document`` (ABSENT: the file does not exist)."""
    if document is ABSENT:
        return Place(tokens, 0 if tokens else None, False)
    node = document
    for depth, token in enumerate(tokens):
        t = type(node)
        if t is dict:
            node = node.get(token, ABSENT)
        elif t is list and token.isascii() and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            if t is list and (token == END or (token.isascii() and token.isdigit())):
                # Past the end: an append by another worker may put something there.
                tokens = (*tokens[:depth], END, *tokens[depth + 1 :])
            node = ABSENT
        if node is ABSENT:
            return Place(tokens, depth + 1 if depth + 1 < len(tokens) else None, False)
    return Place(tokens, None, type(node) is list)


@dataclass(slots=True)
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    # access -> {worker: first delta}, for entries at this node and strictly below it
    here: dict[str, dict[str, Any]] = field(default_factory=dict)
    below: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Clash:
    """A conflict found: the accepted delta that holds an overlapping location."""

    winner: Any
    file: str
    tokens: Tokens


class Index:
    """The footprints of the deltas accepted so far in a frame."""

    __slots__ = ("_files",)

    def __init__(self) -> None:
        self._files: dict[str, _Node] = {}

    def clash(self, fp: Footprint, worker: str) -> Clash | None:
        """The first accepted delta of another worker whose footprint conflicts with ``fp``."""
        node = self._files.get(fp.file)
        depth = 0
        tokens = fp.tokens
        while node is not None:
            exact = depth == len(tokens)
            if node.here:  # most nodes on a path only lead to others' footprints
                found = _other(node.here, fp.access, worker, same_location=exact)
                if found is not None:
                    return Clash(found, fp.file, tokens[:depth])
            if exact:
                found = _other(node.below, fp.access, worker, same_location=False)
                return None if found is None else Clash(found, fp.file, tokens)
            node = node.children.get(tokens[depth])
            depth += 1
        return None

    def add(self, fp: Footprint, worker: str, delta: Any) -> None:
        node = self._files.get(fp.file)
        if node is None:
            node = self._files[fp.file] = _Node()
        for token in fp.tokens:
            node.below.setdefault(fp.access, {}).setdefault(worker, delta)
            child = node.children.get(token)
            if child is None:
                child = node.children[token] = _Node()
            node = child
        node.here.setdefault(fp.access, {}).setdefault(worker, delta)


def _other(
    table: dict[str, dict[str, Any]], access: str, worker: str, *, same_location: bool
) -> Any:
    for other_access, by_worker in table.items():
        if _commute(access, other_access, same_location):
            continue
        for other_worker, delta in by_worker.items():
            if other_worker != worker:
                return delta
    return None
