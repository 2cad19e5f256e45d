"""Hypothesis strategies for gnp's core, shared by every property test."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from gnp import Op, compose, pointer
from gnp.core.delta import Delta, Stamp, format_utc
from gnp.core.errors import BadFile
from gnp.core.limits import WORKER_ID, check_file

FILES = ("stats.json", "posts.json", "dir/agents.json")
KEYS = ("a", "b", "posts", "x~y", "s/l", "0")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=12,
)
documents = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5)
numbers = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False))
workers = st.from_regex(WORKER_ID, fullmatch=True)
small_workers = st.sampled_from(("alice", "bob", "carol", "dave"))
files = st.sampled_from(FILES)


def _is_state_file(file: str) -> bool:
    try:
        check_file(file)
    except BadFile:
        return False
    return True


# Any state file's path, a few folders deep, with now and then a character that globs
# read specially ('[', ']'): what a grant's globs are matched against.
_names = st.from_regex(r"[a-z0-9_\-\[\]]{1,6}", fullmatch=True)
state_files = (
    st.lists(_names, max_size=3)
    .map(lambda folders: "/".join([*folders, ""]))
    .flatmap(lambda folders: _names.map(lambda name: f"{folders}{name}.json"))
    .filter(_is_state_file)
)
token_lists = st.lists(st.sampled_from(KEYS), min_size=1, max_size=3)
# Pointers also end past an array's end now and then ("-", an index beyond it): appends.
pointers = st.tuples(token_lists, st.sampled_from(("", "", "", "-", "1", "3"))).map(
    lambda t: pointer.format((*t[0], t[1]) if t[1] else tuple(t[0]))
)

EDGES = (1e308, -1e308, 2**1100, -(2**1100))  # float range; an int no float can hold
_start = datetime(2026, 11, 29, tzinfo=UTC)
utcs = st.integers(0, 10_000_000).map(lambda us: format_utc(_start + timedelta(microseconds=us)))
nonces = st.binary(min_size=16, max_size=16).map(bytes.hex)


@st.composite
def additive_ops(draw: st.DrawFn, edges: bool = True) -> Op:
    name = draw(st.sampled_from(("incr", "append", "union", "max", "min")))
    value: Any
    if name in ("incr", "max", "min"):
        # Now and then a number at the edge, where a sum overflows in one order only.
        edge = edges and draw(st.integers(0, 9)) == 0
        value = draw(st.sampled_from(EDGES) if edge else st.integers(-100, 100))
    elif name == "union":
        value = draw(st.lists(st.integers(0, 9), max_size=3))
    else:
        value = draw(scalars)
    # One path per op kind keeps additive ops of different kinds from clashing by type.
    return Op(name, draw(files), f"/{name}/{draw(st.sampled_from(('a', 'b')))}", value)


@st.composite
def rfc_ops(draw: st.DrawFn) -> Op:
    name = draw(st.sampled_from(("add", "remove", "replace", "move", "copy", "test")))
    path = draw(pointers)
    if name in ("move", "copy"):
        source = draw(pointers)
        if name == "move" and source != path and path.startswith(source + "/"):
            source, path = path, source
        return Op(name, draw(files), path, from_=source)
    return Op(name, draw(files), path, draw(json_values) if name != "remove" else None)


ops = st.one_of(additive_ops(), rfc_ops())


@st.composite
def deltas(draw: st.DrawFn, op_strategy: st.SearchStrategy[Op] = ops, max_ops: int = 3) -> Delta:
    return compose(
        draw(small_workers),
        draw(st.lists(op_strategy, min_size=1, max_size=max_ops)),
        frame=draw(st.integers(0, 2)),
        authority=draw(st.integers(0, 2)),
        stamp=Stamp(draw(utcs), draw(nonces)),
    )


frames = st.lists(deltas(), max_size=8)


@st.composite
def append_ops(draw: st.DrawFn) -> Op:
    """An append to one of two lists the base holds, as ``append`` or ``add .../-``."""
    where = draw(st.sampled_from(("/posts/p1/comments", "/posts/p2/comments")))
    value = {"by": draw(small_workers), "n": draw(st.integers(0, 1_000_000))}
    if draw(st.booleans()):
        return Op("append", "posts.json", where, value)
    return Op("add", "posts.json", f"{where}/-", value)


# Appends, with now and then an edit of an element the base has, which commutes with
# them, or a read past the end, which does not.
append_frames = st.lists(
    deltas(
        st.one_of(
            append_ops(),
            append_ops(),
            st.builds(
                lambda n: Op("replace", "posts.json", "/posts/p1/comments/0/n", n),
                st.integers(0, 9),
            ),
            st.builds(lambda: Op("test", "posts.json", "/posts/p2/comments/1", None)),
        )
    ),
    max_size=10,
    unique_by=lambda x: x.id,
)
APPEND_BASE = {"posts": {"p1": {"comments": [{"by": "x", "n": 0}]}, "p2": {"comments": []}}}
# Sums at the edges (EDGES) depend on their order: a float overflows, or rounds, one way
# and not the other. Frames that must commute exactly keep to small integers.
additive_frames = st.lists(deltas(additive_ops(edges=False)), max_size=8)


def stamp(utc: str = "2026-11-29T01:54:45.123456Z", nonce: str | None = None) -> Stamp:
    """A stamp at ``utc``, with a fresh nonce unless one is given: what the shell's clock
    would give a new delta, where a test wants to choose the moment."""
    return Stamp(utc, nonce if nonce is not None else secrets.token_hex(16))
