"""Applying operations to documents, atomically, in place.

Theory of operation: a frame applies thousands of small operations to documents that
may be large, so copying a document per delta (as a copy-on-apply JSON Patch library
does) would make cost grow with state size. Instead every mutation goes into an undo
log, and a delta whose operation fails is rolled back by replaying its log backwards.
A delta is therefore all or nothing, and its cost is proportional to its operations,
not to the documents it touches.

Values are copied on the way in (``add``, ``copy``, ``append``...) so the document never
aliases an operation's value: later operations mutate the document, never a delta.
Every value on its way in is measured first, within the bounds (:class:`Limits`): how
deep the document may nest, how wide an integer may be, and how many bytes one delta,
one file and one frame may add. A ``copy`` is measured at its source before anything is
copied, so a delta that would double a document again and again fails at once, at a
cost bounded by the limits, not by what it asks for.
A missing state file is the :data:`ABSENT` document: ``add`` at ``""`` creates it,
``remove`` at ``""`` deletes it, additive operations create it and any missing object
parents, everything else fails on it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, Final

from gnp.core import canonical, pointer, wording
from gnp.core.errors import OpFailed, PatchTestFailed, Refused, TooLarge
from gnp.core.limits import DEFAULT_LIMITS, MAX_INT_BITS, Limits
from gnp.core.ops import Op, is_number


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()
"""The document of a state file that does not exist."""

Reader = Callable[[str], Any]
"""Returns the base document of a state file, or ABSENT. The workspace owns and
mutates what it returns, so each call must return a fresh value."""

# Undo log entries: (action, container, key, old value).
_SET, _DEL, _INSERT, _POP, _ROOT, _GROW = range(6)
UndoLog = list[tuple[int, Any, Any, Any]]
Combine = Callable[["Workspace", Op, Any, UndoLog], Any]


class Workspace:
    """The documents a frame works on, read lazily through a :data:`Reader`."""

    __slots__ = ("_docs", "_grown", "_reader", "_sets", "_sizes", "limits", "words")

    def __init__(
        self, reader: Reader, limits: Limits = DEFAULT_LIMITS, words: int = wording.CURRENT
    ) -> None:
        self._reader = reader
        self.limits = limits
        self.words = words  # the wording of the reasons it gives (gnp.core.wording)
        self._docs: dict[str, Any] = {}
        # What values brought in so far: per file, about its size (measured when read,
        # never lowered: a bound, not a tally); the frame's and the delta's growth.
        self._sizes: dict[str, int] = {}
        self._grown = [0, 0]  # [frame, delta]
        # Lists known to be sorted sets (by id, holding the list so the id stays unique),
        # so that a frame sorts each set it unions into once, not once per operation.
        self._sets: dict[int, list[Any]] = {}

    def document(self, file: str) -> Any:
        """The current document of ``file`` (ABSENT if it does not exist)."""
        docs = self._docs
        if file not in docs:
            doc = docs[file] = self._reader(file)
            # Measured as read, before anything changes it, so that what a delta may add
            # does not depend on what another removed first.
            self._sizes[file] = (
                0
                if doc is ABSENT
                else canonical.extent(
                    doc,
                    max_depth=MAX_MEASURE,
                    max_size=self.limits.max_document_bytes,
                    int_bits=MAX_MEASURE,
                ).size
            )
        return docs[file]

    def admit(self, op: Op, tokens: pointer.Tokens, value: Any, log: UndoLog | None) -> None:
        """Refuse ``value`` on its way in at ``tokens`` unless it keeps every bound;
        with ``log``, count the bytes it adds (a move adds none, so it passes None)."""
        room = MAX_DOCUMENT_DEPTH - len(tokens)
        t = type(value)
        nested = t is dict or t is list
        if nested and room < 1:
            raise _fail(op, f"the document would nest deeper than {MAX_DOCUMENT_DEPTH} levels")
        if log is None and not nested:
            return
        limits = self.limits
        budget = MAX_MEASURE
        if log is not None:
            size = self._size(op.file)
            frame, delta = self._grown
            budget = min(
                limits.max_growth - delta,
                limits.max_frame_growth - frame,
                limits.max_document_bytes - size,
            )
        if value is op.value:  # measured whole when the operation was made
            seen = op.measure
        else:  # a copy of what the document holds: measured no further than the bounds
            seen = canonical.extent(value, max_depth=room, max_size=budget, int_bits=MAX_INT_BITS)
        if seen.wide_int:
            raise _fail(op, f"a number wider than {MAX_INT_BITS} bits, which JSON cannot carry")
        if seen.depth > room:
            raise _fail(op, f"the document would nest deeper than {MAX_DOCUMENT_DEPTH} levels")
        if log is None:
            return
        if seen.size > budget:
            raise self._too_large(op, seen.size)
        log.append((_GROW, None, op.file, (size, frame, delta)))
        self._sizes[op.file] = size + seen.size
        self._grown[0] = frame + seen.size
        self._grown[1] = delta + seen.size

    def _size(self, file: str) -> int:
        self.document(file)
        return self._sizes[file]

    def _too_large(self, op: Op, size: int) -> TooLarge:
        limits, (frame, delta) = self.limits, self._grown
        at = f"{op.op} {wording.place(op.file, op.path)}"
        if size > limits.max_growth - delta:
            why = f"the delta would add more than {_bytes(limits.max_growth)} (max_growth)"
        elif size > limits.max_frame_growth - frame:
            why = (
                f"the frame's deltas would add more than {_bytes(limits.max_frame_growth)} "
                "(max_frame_growth); submit it again for a later frame"
            )
        else:
            why = (
                f"{op.file} would grow past {_bytes(limits.max_document_bytes)} "
                "(max_document_bytes)"
            )
        return TooLarge(f"{at} refused: {why}", op)

    def apply(self, ops: Iterable[Op]) -> UndoLog:
        """Apply ``ops`` in order, all or nothing; return the log that undoes them."""
        log: UndoLog = []
        self._grown[1] = 0
        try:
            for op in ops:
                _APPLY[op.op](self, op, log)
        except Refused:
            self.undo(log)
            raise
        except Exception as exc:
            # Never let one delta stop a frame: whatever it triggers is its rejection.
            self.undo(log)
            raise OpFailed(f"operation failed ({type(exc).__name__}: {exc})") from exc
        except BaseException:
            self.undo(log)
            raise
        return log

    def undo(self, log: UndoLog) -> None:
        """Reverse the changes recorded in ``log``."""
        self._sets.clear()  # a set registered by undone work may not be sorted any more
        for action, container, key, old in reversed(log):
            if action == _SET:
                container[key] = old
            elif action == _DEL:
                del container[key]
            elif action == _INSERT:
                container.insert(key, old)
            elif action == _POP:
                container.pop(key)
            elif action == _GROW:
                self._sizes[key], self._grown[0], self._grown[1] = old
            else:
                self._docs[key] = old
        log.clear()

    # Navigation ---------------------------------------------------------------------

    def _parent(self, op: Op, tokens: pointer.Tokens, log: UndoLog | None) -> Any:
        """The container holding ``tokens[-1]``; ``log`` given: create missing objects."""
        node = self.document(op.file)
        if node is ABSENT:
            if log is None:
                raise _fail(op, "the file does not exist")
            node = {}
            log.append((_ROOT, None, op.file, ABSENT))
            self._docs[op.file] = node
        for i, token in enumerate(tokens[:-1]):
            t = type(node)
            if t is dict:
                child = node.get(token, ABSENT)
                if child is ABSENT:
                    if log is None:
                        raise _fail(op, f"{_where(tokens[: i + 1])} does not exist")
                    child = {}
                    log.append((_DEL, node, token, None))
                    node[token] = child
                node = child
            elif t is list:
                if self._sets:  # a change below a member may reorder a sorted set
                    self._sets.pop(id(node), None)
                node = node[_index(op, tokens[: i + 1], token, len(node), allow_end=False)]
            else:
                raise _fail(op, f"{_where(tokens[:i])} is not an object or array")
        return node

    def _get(self, op: Op, tokens: pointer.Tokens) -> Any:
        if not tokens:
            doc = self.document(op.file)
            if doc is ABSENT:
                raise _fail(op, "the file does not exist")
            return doc
        parent = self._parent(op, tokens, None)
        return _child(op, parent, tokens)

    def _add(
        self, op: Op, tokens: pointer.Tokens, value: Any, log: UndoLog, *, admitted: bool
    ) -> None:
        """Put ``value`` at ``tokens``; unless ``admitted`` already, it is measured for
        depth only: it was moved, not made."""
        if not admitted:
            self.admit(op, tokens, value, None)
        if not tokens:
            log.append((_ROOT, None, op.file, self.document(op.file)))
            self._docs[op.file] = value
            return
        parent = self._parent(op, tokens, None)
        key = tokens[-1]
        t = type(parent)
        if t is dict:
            if key in parent:
                log.append((_SET, parent, key, parent[key]))
            else:
                log.append((_DEL, parent, key, None))
            parent[key] = value
        elif t is list:
            index = _index(op, tokens, key, len(parent), allow_end=True)
            self._sets.pop(id(parent), None)
            parent.insert(index, value)
            log.append((_POP, parent, index, None))
        else:
            raise _fail(op, f"{_where(tokens[:-1])} is not an object or array")

    def _remove(self, op: Op, tokens: pointer.Tokens, log: UndoLog) -> Any:
        if not tokens:
            old = self._get(op, tokens)
            log.append((_ROOT, None, op.file, old))
            self._docs[op.file] = ABSENT
            return old
        parent = self._parent(op, tokens, None)
        key = tokens[-1]
        if type(parent) is dict:
            if key not in parent:
                raise _fail(op, f"{_where(tokens)} does not exist")
            old = parent.pop(key)
            log.append((_SET, parent, key, old))
            return old
        if type(parent) is list:
            index = _index(op, tokens, key, len(parent), allow_end=False)
            self._sets.pop(id(parent), None)
            old = parent.pop(index)
            log.append((_INSERT, parent, index, old))
            return old
        raise _fail(op, f"{_where(tokens[:-1])} is not an object or array")

    def _additive(self, op: Op, combine: Combine, log: UndoLog) -> None:
        """Set the target to ``combine(...)``, creating missing object parents.

        ``combine`` returns the new value, or the old one itself after changing it in
        place (logging its own changes), which keeps appends to long lists O(1).
        """
        tokens = op.tokens
        if not tokens:
            old = self.document(op.file)
            new = combine(self, op, old, log)
            if new is not old:
                log.append((_ROOT, None, op.file, old))
                self._docs[op.file] = new
            return
        parent = self._parent(op, tokens, log)
        key = tokens[-1]
        if type(parent) is dict:
            old = parent.get(key, ABSENT)
            new = combine(self, op, old, log)
            if new is not old:
                log.append((_DEL, parent, key, None) if old is ABSENT else (_SET, parent, key, old))
                parent[key] = new
        elif type(parent) is list:
            index = _index(op, tokens, key, len(parent), allow_end=False)
            old = parent[index]
            new = combine(self, op, old, log)
            if new is not old:
                self._sets.pop(id(parent), None)
                log.append((_SET, parent, index, old))
                parent[index] = new
        else:
            raise _fail(op, f"{_where(tokens[:-1])} is not an object or array")


# Operations ---------------------------------------------------------------------------


def _op_add(ws: Workspace, op: Op, log: UndoLog) -> None:
    ws.admit(op, op.tokens, op.value, log)
    ws._add(op, op.tokens, canonical.copy(op.value), log, admitted=True)


def _op_remove(ws: Workspace, op: Op, log: UndoLog) -> None:
    ws._remove(op, op.tokens, log)


def _op_replace(ws: Workspace, op: Op, log: UndoLog) -> None:
    tokens = op.tokens
    if not tokens:
        ws._get(op, tokens)  # the file must exist
        ws.admit(op, tokens, op.value, log)
        ws._add(op, tokens, canonical.copy(op.value), log, admitted=True)
        return
    parent = ws._parent(op, tokens, None)
    key: Any = tokens[-1]
    if type(parent) is dict:
        if key not in parent:
            raise _fail(op, f"{_where(tokens)} does not exist")
    elif type(parent) is list:
        key = _index(op, tokens, key, len(parent), allow_end=False)
        ws._sets.pop(id(parent), None)
    else:
        raise _fail(op, f"{_where(tokens[:-1])} is not an object or array")
    ws.admit(op, tokens, op.value, log)
    log.append((_SET, parent, key, parent[key]))
    parent[key] = canonical.copy(op.value)


def _op_move(ws: Workspace, op: Op, log: UndoLog) -> None:
    assert op.from_tokens is not None
    if op.from_tokens == op.tokens:
        ws._get(op, op.tokens)
        return
    value = ws._remove(op, op.from_tokens, log)
    ws._add(op, op.tokens, value, log, admitted=False)


def _op_copy(ws: Workspace, op: Op, log: UndoLog) -> None:
    assert op.from_tokens is not None
    source = ws._get(op, op.from_tokens)
    ws.admit(op, op.tokens, source, log)  # measured before anything is copied
    ws._add(op, op.tokens, canonical.copy(source), log, admitted=True)


def _op_test(ws: Workspace, op: Op, log: UndoLog) -> None:
    actual = ws._get(op, op.tokens)
    if not canonical.equal(actual, op.value):
        raise PatchTestFailed(
            f"test {wording.place(op.file, op.path)} failed: expected "
            f"{_show(op.value)}, found {_show(actual)}",
            op,
        )


def _numeric(name: str, pick: Callable[[Any, Any], Any]) -> Combine:
    def combine(ws: Workspace, op: Op, old: Any, log: UndoLog) -> Any:
        if old is ABSENT:
            new = op.value
        elif not is_number(old):
            raise _fail(op, f"{name} needs a number there, found {_show(old)}")
        else:
            try:
                new = pick(old, op.value)
            except OverflowError:  # a float meeting an integer beyond float range
                raise _fail(op, f"{name} of {_show(old)} and {_show(op.value)} overflows") from None
        if not is_number(new) or (type(new) is int and new.bit_length() > MAX_INT_BITS):
            raise _fail(op, f"{name} would leave a number that JSON cannot carry")
        return new

    return combine


def _append(ws: Workspace, op: Op, old: Any, log: UndoLog) -> Any:
    ws.admit(op, (*op.tokens, "-"), op.value, log)
    if old is ABSENT:
        return [canonical.copy(op.value)]
    if type(old) is not list:
        raise _fail(op, f"append needs an array there, found {_show(old)}")
    log.append((_POP, old, len(old), None))
    old.append(canonical.copy(op.value))
    ws._sets.pop(id(old), None)
    return old


def _union(ws: Workspace, op: Op, old: Any, log: UndoLog) -> Any:
    ws.admit(op, op.tokens, op.value, log)
    if old is ABSENT:
        return [canonical.copy(m) for m in _as_set(op.value)]
    if type(old) is not list:
        raise _fail(op, f"union needs an array there, found {_show(old)}")
    target = old
    if id(old) not in ws._sets:
        members = _as_set(old)
        if len(members) != len(old) or any(a is not b for a, b in zip(members, old, strict=True)):
            target = members  # not yet a sorted set: the caller swaps in the sorted one
        ws._sets[id(target)] = target
    key = canonical.sort_key
    for member in op.value:
        i = bisect_left(target, key(member), key=key)
        if i < len(target) and canonical.equal(target[i], member):
            continue
        target.insert(i, canonical.copy(member))
        log.append((_POP, target, i, None))
    return target


def _as_set(items: list[Any]) -> list[Any]:
    """``items`` sorted by the JSON order, without repeats (by JSON equality)."""
    out: list[Any] = []
    for item in sorted(items, key=canonical.sort_key):
        if not out or not canonical.equal(out[-1], item):
            out.append(item)
    return out


def _additive(combine: Combine) -> Callable[[Workspace, Op, UndoLog], None]:
    def apply(ws: Workspace, op: Op, log: UndoLog) -> None:
        ws._additive(op, combine, log)

    return apply


_APPLY: dict[str, Callable[[Workspace, Op, UndoLog], None]] = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
    "incr": _additive(_numeric("incr", lambda a, b: a + b)),
    "append": _additive(_append),
    "union": _additive(_union),
    "max": _additive(_numeric("max", lambda a, b: b if b > a else a)),
    "min": _additive(_numeric("min", lambda a, b: b if b < a else a)),
}


# Helpers --------------------------------------------------------------------------------

MAX_DOCUMENT_DEPTH = 256  # well inside what json and copy can recurse through
MAX_MEASURE = 1 << 62  # no bound: what extent() measures without stopping


def _bytes(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


def _child(op: Op, parent: Any, tokens: pointer.Tokens) -> Any:
    key = tokens[-1]
    t = type(parent)
    if t is dict:
        if key not in parent:
            raise _fail(op, f"{_where(tokens)} does not exist")
        return parent[key]
    if t is list:
        return parent[_index(op, tokens, key, len(parent), allow_end=False)]
    raise _fail(op, f"{_where(tokens[:-1])} is not an object or array")


def _index(op: Op, tokens: pointer.Tokens, token: str, length: int, *, allow_end: bool) -> int:
    try:
        return pointer.array_index(token, length, allow_end=allow_end)
    except IndexError as exc:
        raise _fail(op, f"{_where(tokens)}: {exc}") from None


def _where(tokens: pointer.Tokens) -> str:
    return pointer.format(tokens) or "the document root"


def _fail(op: Op, reason: str) -> OpFailed:
    return OpFailed(f"{op.op} {wording.place(op.file, op.path)} failed: {reason}", op)


def _show(value: Any, limit: int = 60) -> str:
    if value is ABSENT:
        return "nothing"
    text = canonical.encode(value).decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."
