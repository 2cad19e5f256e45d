"""The worktree diff says exactly what changed, so concurrent edits lose nothing silently:
by several workers, and by one worker run many times at once (a cron job fired twice)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gnp import ABSENT, Outcome, canonical, compose, reduce
from gnp.core.delta import Delta
from gnp.core.diff import diff_file
from gnp.core.document import Workspace
from gnp.core.order import key
from tests.helpers.strategies import stamp

BASE = {
    "p1": {"title": "hello", "likes": 0, "comments": [{"by": "ann", "text": "first"}]},
    "p2": {"title": "world", "likes": 5, "comments": []},
}


def ops_of(old: Any, new: Any, types: dict[str, str] | None = None) -> list[tuple[str, str, Any]]:
    return [(op.op, op.path, op.value) for op in diff_file("posts.json", old, new, types or {})]


def test_a_list_that_was_only_extended_becomes_appends() -> None:
    new = canonical.copy(BASE)
    new["p1"]["comments"] += [{"by": "bob", "text": "b"}, {"by": "cy", "text": "c"}]
    assert ops_of(BASE, new) == [
        ("add", "/p1/comments/-", {"by": "bob", "text": "b"}),
        ("add", "/p1/comments/-", {"by": "cy", "text": "c"}),
    ]


def test_a_change_deep_in_a_list_is_an_operation_at_the_deepest_path() -> None:
    new = canonical.copy(BASE)
    new["p1"]["comments"][0]["text"] = "edited"
    assert ops_of(BASE, new) == [
        ("test", "/p1/comments/0/text", "first"),
        ("replace", "/p1/comments/0/text", "edited"),
    ]


def test_a_whole_file_replacement_only_when_nothing_smaller_says_it() -> None:
    assert ops_of(BASE, ["now", "a", "list"]) == [
        ("test", "", BASE),
        ("replace", "", ["now", "a", "list"]),
    ]
    shorter = canonical.copy(BASE)
    shorter["p1"]["comments"] = []
    assert ops_of(BASE, shorter) == [
        ("test", "/p1/comments", BASE["p1"]["comments"]),
        ("replace", "/p1/comments", []),
    ]


def test_every_replacement_carries_a_precondition_on_what_it_replaced() -> None:
    new = canonical.copy(BASE)
    new["p2"]["likes"] = 6
    del new["p1"]["title"]
    got = ops_of(BASE, new)
    assert ("test", "/p1/title", "hello") in got and ("remove", "/p1/title", None) in got
    assert got[-2:] == [("test", "/p2/likes", 5), ("replace", "/p2/likes", 6)]


def test_a_list_made_where_none_was_is_made_by_appends() -> None:
    new = canonical.copy(BASE)
    new["p3"] = {"title": "new", "comments": [{"by": "dee", "text": "d"}]}
    assert ops_of(BASE, new) == [
        ("append", "/p3/comments", {"by": "dee", "text": "d"}),
        ("add", "/p3/title", "new"),
    ]
    assert ops_of(ABSENT, {"items": [1, 2]}) == [("append", "/items", 1), ("append", "/items", 2)]


def test_declared_types_win_over_inference() -> None:
    new = canonical.copy(BASE)
    new["p2"]["likes"] = 7
    new["p1"]["comments"].append({"by": "eve", "text": "e"})
    types = {"/*/likes": "counter", "/*/comments": "append"}
    assert ops_of(BASE, new, types) == [
        ("append", "/p1/comments", {"by": "eve", "text": "e"}),
        ("incr", "/p2/likes", 2),
    ]


# The property -------------------------------------------------------------------------

_item = iter(range(10**9))


@st.composite
def runs(draw: st.DrawFn) -> tuple[str, Any]:
    """One run of a worker on the base: it appends, edits a value, or both."""
    worker = draw(st.sampled_from(("cron", "cron", "scout", "critic")))
    doc = canonical.copy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        post = draw(st.sampled_from(("p1", "p2")))
        what = draw(st.sampled_from(("comment", "comment", "title", "likes", "edit")))
        if what == "comment":
            doc[post]["comments"].append({"by": worker, "id": draw(st.integers(0, 10**9))})
        elif what == "title":
            doc[post]["title"] = draw(st.sampled_from(("a", "b", "c")))
        elif what == "likes":
            doc[post]["likes"] += draw(st.integers(1, 3))
        elif doc[post]["comments"]:
            doc[post]["comments"][0]["text"] = draw(st.sampled_from(("x", "y")))
    return worker, doc


@settings(max_examples=300)
@given(st.lists(runs(), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_concurrent_edits_lose_nothing_silently(edits: list[tuple[str, Any]], rnd: Any) -> None:
    """Runs of several workers, and of one worker many times, all on one base: every
    delta whose verdict is ``applied`` has its effect on the result, every appended item
    is there exactly once (and only those of applied deltas), and no value is replaced
    by two applied deltas: the later one is a reported lost update, never silent."""
    deltas: list[Delta] = []
    for n, (worker, doc) in enumerate(edits):
        ops = diff_file("posts.json", BASE, doc, {})
        if ops:
            utc = f"2026-12-04T00:00:{rnd.randrange(60_000_000) / 1e6:09.6f}Z"
            deltas.append(compose(worker, ops, frame=0, stamp=stamp(utc, f"{n:032x}")))
    result = reduce(1, deltas, lambda f: canonical.copy(BASE) if f == "posts.json" else ABSENT)
    by_id = {x.id: x for x in deltas}
    applied = [by_id[v.delta] for v in result.verdicts if v.outcome is Outcome.APPLIED]
    for v in result.verdicts:
        assert v.outcome in (Outcome.APPLIED, Outcome.CONFLICT, Outcome.REJECTED)
        if v.outcome is Outcome.REJECTED:
            assert v.code == "lost-update", v.reason
    final = result.documents.get("posts.json", BASE)
    # Applied deltas, one after another in key order, give the result.
    ws = Workspace(lambda f: canonical.copy(BASE))
    for x in sorted(applied, key=key):
        ws.apply(x.ops)
    assert ws.document("posts.json") == final
    # Every appended item of an applied delta is there once; no other new item is.
    appended = [op.value["id"] for x in applied for op in x.ops if op.op == "add"]
    present = [c["id"] for p in final.values() for c in p["comments"] if "id" in c]
    assert sorted(present) == sorted(appended)
    # No value replaced by two applied deltas.
    written = [(op.path) for x in applied for op in x.ops if op.op == "replace"]
    assert len(written) == len(set(written))
