from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gnp import ABSENT, Op, OpFailed, PatchTestFailed, Workspace, canonical
from tests.helpers.strategies import FILES, documents, ops


def ws(**docs: Any) -> Workspace:
    """A workspace over ``docs`` keyed by file stem (``stats`` -> ``stats.json``)."""
    return Workspace(lambda f: canonical.copy(docs.get(f.removesuffix(".json"), ABSENT)))


def o(name: str, path: str, value: Any = None, file: str = "stats.json", **kw: Any) -> Op:
    return Op(name, file, path, value, **kw)


def test_missing_file_is_absent_and_add_at_root_creates_it() -> None:
    w = ws()
    assert w.document("stats.json") is ABSENT
    w.apply([o("add", "", {"posts": 0})])
    assert w.document("stats.json") == {"posts": 0}


@pytest.mark.parametrize(
    "op",
    [
        o("add", "/a", 1),
        o("replace", "", 1),
        o("remove", ""),
        o("test", "", None),
        o("test", "/a", 1),
        o("copy", "/b", from_="/a"),
    ],
)
def test_rfc_ops_fail_on_an_absent_file(op: Op) -> None:
    with pytest.raises(OpFailed, match="does not exist"):
        ws().apply([op])


def test_remove_at_root_deletes_the_file() -> None:
    w = ws(stats={"a": 1})
    w.apply([o("remove", "")])
    assert w.document("stats.json") is ABSENT


def test_incr_creates_missing_parents_and_adds() -> None:
    w = ws()
    w.apply([o("incr", "/counts/posts", 2), o("incr", "/counts/posts", 3)])
    assert w.document("stats.json") == {"counts": {"posts": 5}}
    w.apply([o("incr", "/counts/ratio", 0.5)])
    assert w.document("stats.json")["counts"]["ratio"] == 0.5


def test_incr_on_a_number_in_an_array() -> None:
    w = ws(stats={"n": [1, 2]})
    w.apply([o("incr", "/n/1", 10)])
    assert w.document("stats.json") == {"n": [1, 12]}


@pytest.mark.parametrize(
    "doc, op, message",
    [
        ({"a": "x"}, o("incr", "/a", 1), "needs a number there"),
        ({"a": True}, o("incr", "/a", 1), "needs a number there"),
        ({"a": 1e308}, o("incr", "/a", 1e308), "JSON cannot carry"),
        ({"a": 10**400}, o("incr", "/a", 0.5), "overflows"),
        ({"a": 2**13000 - 1}, o("incr", "/a", 1), "JSON cannot carry"),
        ({"a": 1}, o("append", "/a", 1), "needs an array there"),
        ({"a": {}}, o("union", "/a", [1]), "needs an array there"),
        ({"a": 5}, o("incr", "/a/b", 1), "is not an object or array"),
        ({"a": []}, o("incr", "/a/0", 1), "out of range"),
        ({"a": []}, o("incr", "/a/x/y", 1), "not an array index"),
    ],
)
def test_additive_type_errors(doc: Any, op: Op, message: str) -> None:
    w = ws(stats=doc)
    with pytest.raises(OpFailed, match=message):
        w.apply([op])
    assert w.document("stats.json") == doc


def test_append_union_max_min() -> None:
    w = ws(stats={"log": [1], "tags": ["b", "d"], "hi": 3, "lo": 3})
    w.apply(
        [
            o("append", "/log", {"x": 1}),
            o("append", "/new", "first"),
            o("union", "/tags", ["c", "a", "b", "a"]),
            o("union", "/set", [3, 1.0, 1, True, None]),
            o("max", "/hi", 2),
            o("max", "/hi", 9),
            o("min", "/lo", 2.5),
            o("max", "/fresh", -1),
        ]
    )
    assert w.document("stats.json") == {
        "log": [1, {"x": 1}],
        "new": ["first"],
        "tags": ["a", "b", "c", "d"],
        "set": [None, True, 1.0, 3],
        "hi": 9,
        "lo": 2.5,
        "fresh": -1,
    }


def test_values_are_copied_in_never_aliased() -> None:
    value = {"nested": [1]}
    op = o("add", "/a", value)
    w = ws(stats={})
    w.apply([op, o("append", "/a/nested", 2), o("copy", "/b", from_="/a")])
    w.apply([o("add", "/b/nested/-", 3)])
    assert op.value == {"nested": [1]}
    assert w.document("stats.json") == {"a": {"nested": [1, 2]}, "b": {"nested": [1, 2, 3]}}


def test_a_failed_op_rolls_back_the_whole_delta() -> None:
    base = {"a": 1, "list": [1, 2, 3], "obj": {"k": "v"}}
    w = ws(stats=base)
    with pytest.raises(
        PatchTestFailed, match=r'test stats.json:/whole failed: expected 2, found "doc"'
    ):
        w.apply(
            [
                o("add", "/new", 1),
                o("remove", "/list/0"),
                o("move", "/moved", from_="/obj"),
                o("incr", "/deep/er/count", 1),
                o("add", "", {"whole": "doc"}),
                o("add", "/again", 2),
                o("test", "/whole", 2),
            ]
        )
    assert w.document("stats.json") == base


@given(documents, st.lists(ops, max_size=6))
def test_any_failure_leaves_documents_exactly_as_they_were(doc: Any, op_list: list[Op]) -> None:
    w = Workspace(lambda f: canonical.copy(doc) if f == FILES[0] else ABSENT)
    before = {f: canonical.encode(w.document(f)) for f in FILES if w.document(f) is not ABSENT}
    try:
        log = w.apply(op_list)
    except OpFailed:
        log = []
    w.undo(log)  # success or failure: undoing must restore the base byte for byte
    after = {f: canonical.encode(w.document(f)) for f in FILES if w.document(f) is not ABSENT}
    assert after == before


def test_undo_restores_after_success() -> None:
    w = ws(stats={"a": [1, 2], "b": {"c": 1}})
    log = w.apply([o("remove", "/a/0"), o("add", "/a/0", 9), o("replace", "/b", 0)])
    assert w.document("stats.json") == {"a": [9, 2], "b": 0}
    w.undo(log)
    assert w.document("stats.json") == {"a": [1, 2], "b": {"c": 1}}


def test_union_sorts_an_unsorted_list_once_and_undo_restores_it() -> None:
    w = ws(stats={"tags": ["d", "a", "d"]})
    log = w.apply([o("union", "/tags", ["c"]), o("union", "/tags", ["b", "a"])])
    assert w.document("stats.json") == {"tags": ["a", "b", "c", "d"]}
    w.undo(log)
    assert w.document("stats.json") == {"tags": ["d", "a", "d"]}


def test_union_after_an_index_edit_sorts_again() -> None:
    w = ws(stats={"tags": ["a", "c"]})
    w.apply([o("union", "/tags", ["b"]), o("add", "/tags/0", "z"), o("union", "/tags", ["y"])])
    assert w.document("stats.json") == {"tags": ["a", "b", "c", "y", "z"]}


members = st.one_of(st.integers(-3, 3), st.sampled_from([1.0, True, None, "a", "b", [1], {"k": 1}]))


@given(st.lists(members, max_size=8), st.lists(st.lists(members, max_size=4), max_size=4))
def test_union_is_the_sorted_set_of_everything(start: list[Any], batches: list[list[Any]]) -> None:
    w = ws(stats={"set": start})
    for batch in batches:
        w.apply([o("union", "/set", batch)])
    expected: list[Any] = []
    for item in sorted(start + [m for b in batches for m in b], key=canonical.sort_key):
        if not expected or not canonical.equal(expected[-1], item):
            expected.append(item)
    if not batches:
        expected = start
    assert canonical.encode(w.document("stats.json")["set"]) == canonical.encode(expected)


def test_appending_to_a_long_list_does_not_copy_it() -> None:
    w = ws(stats={"log": list(range(100_000))})
    before = w.document("stats.json")["log"]
    log = w.apply([o("append", "/log", "x")])
    assert w.document("stats.json")["log"] is before and before[-1] == "x"
    assert len(log) == 2  # the item to pop on undo, and the bytes it added
    w.undo(log)
    assert len(before) == 100_000


def test_documents_never_nest_past_what_can_be_written() -> None:
    from gnp.core.document import MAX_DOCUMENT_DEPTH

    deep: Any = 1
    for _ in range(MAX_DOCUMENT_DEPTH):
        deep = [deep]
    w = ws(stats={"a": {}})
    with pytest.raises(OpFailed, match="nest deeper than 256 levels"):
        w.apply([o("add", "/a/b", deep)])
    # Moving a deep subtree under a deep pointer is refused too, and changes nothing.
    w = ws(stats={"a": deep[0][0], "b": {}})
    with pytest.raises(OpFailed, match="nest deeper"):
        w.apply(
            [o("move", "/b/c/d" if False else "/b/c", from_="/a")] * 0
            + [o("add", "/b/x", {}), o("add", "/b/x/y", {}), o("move", "/b/x/y/z", from_="/a")]
        )
    assert w.document("stats.json")["b"] == {}


def test_undo_forgets_sorted_sets_registered_by_undone_work() -> None:
    w = ws(stats={"s": [2, 1]})
    with pytest.raises(OpFailed):
        w.apply([o("replace", "/s/0", 0), o("union", "/s", [5]), o("test", "/x", 1)])
    w.apply([o("union", "/s", [1])])
    assert w.document("stats.json") == {"s": [1, 2]}


def test_changing_a_member_of_a_sorted_set_sorts_it_again() -> None:
    w = ws(stats={"s": []})
    w.apply([o("union", "/s", [[1], [3]]), o("replace", "/s/0/0", 5), o("union", "/s", [[5]])])
    assert w.document("stats.json") == {"s": [[3], [5]]}


def test_json_equal_members_are_one_member() -> None:
    w = ws(stats={})
    w.apply(
        [
            o("union", "/s", [[1], [1.5]]),
            o("union", "/s", [[1.0]]),
            o("union", "/t", [{"a": 1.0}]),
            o("union", "/t", [{"a": 1}]),
        ]
    )
    assert w.document("stats.json") == {"s": [[1.5], [1]], "t": [{"a": 1.0}]}  # by bytes


def test_an_unexpected_error_rejects_the_delta_instead_of_stopping_the_frame() -> None:
    def broken_reader(file: str) -> Any:
        raise ZeroDivisionError("a bug somewhere")

    w = Workspace(broken_reader)
    with pytest.raises(OpFailed, match="ZeroDivisionError: a bug somewhere"):
        w.apply([o("incr", "/n", 1)])


# Bounds on what a delta produces --------------------------------------------------------


def test_every_way_to_a_number_keeps_one_bound() -> None:
    """An ``incr`` that creates its path, an ``add`` or a ``replace`` cannot bring in an
    integer that a later ``incr`` could not add to: a counter never gets stuck."""
    from gnp.core.errors import TooLarge
    from gnp.core.limits import MAX_INT_BITS

    wide = 2 ** (MAX_INT_BITS + 1)
    for name in ("incr", "max", "min", "add", "append"):
        with pytest.raises(TooLarge, match="JSON cannot carry"):
            o(name, "/new", wide)
    for op in (o("add", "/a", {"x": wide}), o("replace", "/n", [wide]), o("append", "/l", [wide])):
        w = ws(stats={"n": 1, "l": []})
        with pytest.raises(OpFailed, match="JSON cannot carry"):
            w.apply([op])
        assert w.document("stats.json") == {"n": 1, "l": []}
    w = ws(stats={})
    w.apply([o("incr", "/made", 2**MAX_INT_BITS - 2)])
    w.apply([o("incr", "/made", 1)])  # what an incr made, an incr can add to
    assert w.document("stats.json")["made"] == 2**MAX_INT_BITS - 1


def _doubling(copies: int) -> list[Op]:
    return [o("add", "/a0", "x" * 200_000)] + [
        o("copy", f"/a{i}", from_="") for i in range(1, copies + 1)
    ]


def test_a_delta_that_doubles_a_document_is_refused_before_memory_runs_out() -> None:
    """The delta seen stopping every frame: a large string, then 16 copies of the whole
    document into itself. It fails at the copy that passes the bound, having copied
    nothing beyond it, and changes nothing."""
    from gnp.core.errors import TooLarge

    w = ws(stats={"keep": 1})
    with pytest.raises(TooLarge, match="max_growth"):
        w.apply(_doubling(16))
    assert w.document("stats.json") == {"keep": 1}


def test_growth_is_bounded_per_file_and_per_frame() -> None:
    from gnp.core.errors import TooLarge
    from gnp.core.limits import Limits

    docs = {"stats.json": {}, "other.json": {}}
    small = Limits(max_growth=1000, max_document_bytes=3000, max_frame_growth=4000)
    w = Workspace(lambda f: canonical.copy(docs.get(f, ABSENT)), small)
    for i in range(3):  # each delta adds about 900 bytes to one file
        w.apply([o("add", f"/s{i}", "y" * 900)])
    with pytest.raises(TooLarge, match="would grow past 3000 bytes"):
        w.apply([o("add", "/s3", "y" * 900)])
    w.apply([o("add", "/t0", "y" * 900, file="other.json")])
    with pytest.raises(TooLarge, match="max_frame_growth"):
        w.apply([o("add", "/t1", "y" * 900, file="other.json")])
    # A move makes nothing: it is never refused for growth.
    w.apply([o("move", "/moved", from_="/s0")])
    w = Workspace(lambda f: canonical.copy(docs.get(f, ABSENT)), small)
    with pytest.raises(TooLarge, match="max_growth"):
        w.apply([o("add", "/u", "y" * 600), o("add", "/v", "y" * 600)])
    assert w.document("stats.json") == {}


def test_an_undone_delta_gives_back_what_it_grew() -> None:
    from gnp.core.limits import Limits

    small = Limits(max_growth=1000, max_document_bytes=100_000, max_frame_growth=1500)
    w = Workspace(lambda f: {} if f == "stats.json" else ABSENT, small)
    log = w.apply([o("add", "/a", "y" * 900)])
    w.undo(log)
    w.apply([o("add", "/b", "y" * 900)])  # fits again: the undone growth was given back


def test_growth_counts_strings_as_encoded_escapes_included() -> None:
    """A control character encodes as six bytes: copies of a string of them cannot pass
    the bounds by looking small."""
    from gnp.core.errors import TooLarge
    from gnp.core.limits import Limits

    small = Limits(max_growth=10_000, max_document_bytes=1 << 30, max_frame_growth=1 << 30)
    w = Workspace(lambda f: {"s": "\x01" * 1000} if f == "stats.json" else ABSENT, small)
    w.apply([o("copy", "/c0", from_="/s")])  # about 6,000 bytes: fits
    with pytest.raises(TooLarge, match="max_growth"):
        w.apply([o("copy", "/c1", from_="/s"), o("copy", "/c2", from_="/s")])
    for value in ("ab", "\x01\x02", "é😀", '"q\\', {"k\x01": ["\x1f"]}):
        seen = canonical.extent(value, max_depth=9, max_size=1 << 40, int_bits=99)
        assert seen.size >= len(canonical.encode(value)), value
