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
operation's footprint is the whole array, not one index. An additive operation that has
to create a missing object or file also has an ``ensure`` footprint there, so an ``add``
beneath it cannot succeed or fail by timing alone.

The index answers "does this footprint conflict with anything accepted so far, and
with whom" in time proportional to the pointer's depth, not to the number of deltas:
each trie node keeps, per access category, the first delta of each worker at that node
and below it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gnp.core.ops import OPS, Kind, Op
from gnp.core.pointer import Tokens

READ = "read"
WRITE = "write"
ENSURE = "ensure"  # an additive op creates this missing object (or the missing file)


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


IsArray = Callable[[str, Tokens], bool | None]
"""Whether the location holds an array in the base (None: it does not exist)."""


def footprints(op: Op, is_array: IsArray) -> Iterator[Footprint]:
    """The footprints of ``op``; ``is_array`` looks at the frame's base documents."""
    spec = OPS[op.op]
    if spec.kind is Kind.ADDITIVE:
        missing = _first_missing(op.file, op.tokens, is_array)
        if missing is not None:
            yield Footprint(op.file, missing, ENSURE)
        yield Footprint(op.file, op.tokens, op.op)
    elif op.op in ("test", "replace"):
        yield Footprint(op.file, op.tokens, READ if op.op == "test" else WRITE)
    else:
        if op.op == "copy":
            assert op.from_tokens is not None
            yield Footprint(op.file, op.from_tokens, READ)
        elif op.op == "move":
            assert op.from_tokens is not None
            yield Footprint(op.file, _structural(op.file, op.from_tokens, is_array), WRITE)
        yield Footprint(op.file, _structural(op.file, op.tokens, is_array), WRITE)


def _first_missing(file: str, tokens: Tokens, is_array: IsArray) -> Tokens | None:
    """The shallowest missing ancestor (or the file, ``()``) that ``tokens`` would create."""
    for depth in range(len(tokens)):
        if is_array(file, tokens[:depth]) is None:
            return tokens[:depth]
    return None


def _structural(file: str, tokens: Tokens, is_array: IsArray) -> Tokens:
    """Where an insert/remove at ``tokens`` has effect: the array itself, if in one."""
    if not tokens:
        return tokens
    parent, last = tokens[:-1], tokens[-1]
    array = is_array(file, parent)
    if array or (array is None and (last == "-" or last.isdigit())):
        return parent
    return tokens


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
