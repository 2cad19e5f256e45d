"""Turning a worker's direct edits of state files into operations.

Agents edit files. The harness compares each state file after the work with the base
and writes operations that say what changed, in a form that merges safely:

* a path declared ``counter`` becomes ``incr`` by the difference, never ``set``: two
  workers adding 1 to 5 give 7, not 6;
* a path declared ``append`` (an append-only list that grew) becomes one ``append`` per
  new item;
* a path declared ``set`` becomes ``union`` of the added members;
* such a path that did not exist yet (a new file, a new key) is made by those same
  operations, which create what they need, so two workers creating one counter both
  count; what else is new beside it is added after;
* an undeclared list that was only extended becomes RFC 6902 appends (``add .../-``),
  which commute; one of the same length is compared element by element, so a change
  deep in a document is an operation at the deepest path that changed; a list made
  where none was becomes ``append``s, which create it;
* anything else becomes ``test`` of the old value + ``replace`` (or ``remove``), so that
  if anything changed that value since the base, by another worker or another run of
  this one, the frame reports a conflict or a lost update instead of silently keeping
  one of the two. A key added where none was is an ``add``, which has no such guard:
  RFC 6902 cannot test that a key is absent.

Declarations live in ``.gnp/types.json`` on main: ``{file: {pointer: type}}``, where a
pointer token ``*`` matches any one key (``/agents/*/score``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any

from gnp.core import canonical, pointer
from gnp.core.document import ABSENT
from gnp.core.errors import TooLarge
from gnp.core.ops import Op, is_number

Types = Mapping[str, str]  # pointer pattern -> "counter" | "append" | "set"
_MAX_INFERRED = 100  # a longer new list is added whole: one operation, not one per item
TYPES = frozenset({"counter", "append", "set"})


def declared(types: Types, tokens: pointer.Tokens) -> str | None:
    for pattern, kind in types.items():
        want = pointer.parse(pattern)
        if len(want) == len(tokens) and all(
            w in ("*", t) for w, t in zip(want, tokens, strict=True)
        ):
            return kind
    return None


class TooManyOps(TooLarge):
    """The diff passed the number of operations it was allowed, and stopped there."""


def diff_file(
    file: str,
    old: Any,
    new: Any,
    types: Types,
    *,
    merge_new: bool = True,
    max_ops: int | None = None,
) -> list[Op]:
    """Operations that turn ``old`` into ``new`` (either may be ABSENT). Without
    ``merge_new``, what is created is added whole, in one operation: far fewer, for a
    delta that would otherwise have too many. Past ``max_ops`` operations it stops, with
    :class:`TooManyOps`: a file of a million changed keys is not worked through."""
    created = types if merge_new else None
    if old is ABSENT and new is ABSENT:
        return []
    if old is ABSENT:
        return _created(file, (), new, created) or [Op("add", file, "", canonical.copy(new))]
    if new is ABSENT:
        return [Op("test", file, "", canonical.copy(old)), Op("remove", file, "")]
    ops: list[Op] = _Bounded(max_ops)
    _diff(file, (), old, new, types, ops, created)
    return list(ops)


def _diff(
    file: str,
    tokens: pointer.Tokens,
    old: Any,
    new: Any,
    types: Types,
    ops: list[Op],
    created: Types | None,
) -> None:
    if _same(old, new):
        return
    path = pointer.format(tokens)
    kind = declared(types, tokens)
    if kind == "counter" and is_number(old) and is_number(new):
        ops.append(Op("incr", file, path, new - old))
        return
    if (
        kind == "append"
        and type(old) is list
        and type(new) is list
        and len(new) >= len(old)
        and all(canonical.equal(a, b) for a, b in zip(old, new, strict=False))
    ):
        ops.extend(Op("append", file, path, canonical.copy(v)) for v in new[len(old) :])
        return
    if kind == "set" and type(old) is list and type(new) is list:
        olds, news = _sorted(old), _sorted(new)
        added = [m for m in new if not _member(m, olds)]
        removed = any(not _member(o, news) for o in old)
        if not removed:
            if added:
                ops.append(Op("union", file, path, canonical.copy(added)))
            return
    if type(old) is list and type(new) is list and len(new) >= len(old):
        changed = [i for i, (a, b) in enumerate(zip(old, new, strict=False)) if not _same(a, b)]
        if len(changed) <= max(1, len(old) // 2):
            # What changed in place, element by element, then RFC 6902 appends for what
            # was added at the end: appends commute with other workers' and with other
            # runs of this worker, so each item lands once. (Most elements changing, as an
            # insertion at the front makes them, is a replacement of the list instead.)
            for i in changed:
                _diff(file, (*tokens, str(i)), old[i], new[i], types, ops, created)
            end = pointer.format((*tokens, "-"))
            ops.extend(Op("add", file, end, canonical.copy(v)) for v in new[len(old) :])
            return
    if type(old) is dict and type(new) is dict:
        for key in sorted(old.keys() - new.keys()):
            sub = pointer.format((*tokens, key))
            ops.append(Op("test", file, sub, canonical.copy(old[key])))
            ops.append(Op("remove", file, sub))
        for key in sorted(new.keys()):
            if key in old:
                _diff(file, (*tokens, key), old[key], new[key], types, ops, created)
            else:
                at = (*tokens, key)
                made = _created(file, at, new[key], created)
                ops.extend(made or [Op("add", file, pointer.format(at), canonical.copy(new[key]))])
        return
    ops.append(Op("test", file, path, canonical.copy(old)))
    ops.append(Op("replace", file, path, canonical.copy(new)))


class _Bounded(list[Op]):
    """The diff's operations, refusing to grow past their bound."""

    def __init__(self, bound: int | None) -> None:
        super().__init__()
        self.bound = bound

    def append(self, op: Op) -> None:
        super().append(op)
        self._check()

    def extend(self, ops: Iterable[Op]) -> None:
        for op in ops:  # one at a time: a generator of a million is never run through
            self.append(op)

    def _check(self) -> None:
        if self.bound is not None and len(self) > self.bound:
            raise TooManyOps(f"the edits make more than {self.bound} operations")


def _sorted(items: list[Any]) -> tuple[list[Any], list[Any]]:
    """``items`` in canonical order, and their keys: a set is compared with another by
    bisection, in n log n, not member by member (a set of 150,000 took minutes)."""
    ordered = sorted(items, key=canonical.sort_key)
    return ordered, [canonical.sort_key(m) for m in ordered]


def _member(item: Any, ordered: tuple[list[Any], list[Any]]) -> bool:
    """Whether ``item`` is in the sorted set ``ordered``, as a frame's union decides it."""
    values, keys = ordered
    i = bisect_left(keys, canonical.sort_key(item))
    return i < len(values) and canonical.equal(values[i], item)


def _same(old: Any, new: Any) -> bool:
    return canonical.equal(old, new) and type(old) is type(new)


def differing_paths(old: Any, new: Any, *, limit: int = 100) -> list[str]:
    """JSON Pointers of the places where two documents differ, outermost first (at most
    ``limit``): what a postmortem reads when a replay does not match."""
    out: list[str] = []
    _differing(old, new, [], out, limit)
    return out


def _differing(old: Any, new: Any, at: list[str], out: list[str], limit: int) -> None:
    if len(out) >= limit or canonical.equal(old, new):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            _differing(old.get(key, ABSENT), new.get(key, ABSENT), [*at, key], out, limit)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _differing(a, b, [*at, str(i)], out, limit)
    else:
        out.append(pointer.format(tuple(at)))


def _created(file: str, tokens: pointer.Tokens, new: Any, types: Types | None) -> list[Op] | None:
    """Operations that create ``new`` where nothing was, if declared paths or lists lie
    within it: their merge operations first (which create what they need, and commute
    with another worker's creating the same counter, list or set), then an ``add`` for
    each other part. None when no merge operation would come of it, or ``types`` is None:
    then the caller adds ``new`` whole."""
    if types is None:
        return None
    merged: list[Op] = []
    added: list[Op] = []
    _create(file, tokens, new, types, merged, added)
    return merged + added if merged else None


def _create(
    file: str, tokens: pointer.Tokens, new: Any, types: Types, merged: list[Op], added: list[Op]
) -> bool:
    """Split the creation of ``new`` into ``merged`` and ``added``; False, appending
    nothing, if no merge operation lies within it."""
    path = pointer.format(tokens)
    kind = declared(types, tokens)
    if kind == "counter" and is_number(new):
        merged.append(Op("incr", file, path, new))
        return True
    if kind == "append" and type(new) is list and new:
        merged.extend(Op("append", file, path, canonical.copy(v)) for v in new)
        return True
    if kind == "set" and type(new) is list and new and _distinct(new):
        merged.append(Op("union", file, path, canonical.copy(new)))
        return True
    if kind is None and type(new) is list and new and len(new) <= _MAX_INFERRED:
        # A list made where none was: appends, which create it, so two runs of one
        # worker making the same list both keep their items.
        merged.extend(Op("append", file, path, canonical.copy(v)) for v in new)
        return True
    if type(new) is not dict:
        return False
    plain: list[str] = []
    found = False
    for key in sorted(new):
        if _create(file, (*tokens, key), new[key], types, merged, added):
            found = True
        else:
            plain.append(key)
    if found:  # this object is made by the merge operations beneath it; add the rest
        added.extend(
            Op("add", file, pointer.format((*tokens, key)), canonical.copy(new[key]))
            for key in plain
        )
    return found


def _distinct(items: list[Any]) -> bool:
    """No member twice: a union would keep only one, and the file would not be as left."""
    ordered = sorted(items, key=canonical.sort_key)
    return not any(canonical.equal(a, b) for a, b in pairwise(ordered))
