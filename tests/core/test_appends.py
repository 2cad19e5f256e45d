"""Appends commute: RFC 6902 ``add .../-`` and ``append`` from different workers all land,
in composite-key order, as applying them one after another would (DESIGN, "Operations")."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings

from gnp import ABSENT, Op, Outcome, canonical, compose, reduce
from gnp.core.delta import Delta
from gnp.core.document import Workspace
from gnp.core.order import key
from tests.helpers.strategies import APPEND_BASE, append_frames, stamp


def d(worker: str, utc_us: int, *ops: Op) -> Delta:
    utc = f"2026-11-29T00:00:{utc_us / 1e6:09.6f}Z"
    return compose(worker, list(ops), frame=0, stamp=stamp(utc))


def reader(**docs: Any) -> Any:
    return lambda f: canonical.copy(docs.get(f.removesuffix(".json"), ABSENT))


POSTS = {"p1": {"title": "hello", "comments": [{"by": "ann", "text": "first"}]}}


def comment(by: str, text: str) -> dict[str, str]:
    return {"by": by, "text": text}


def test_two_rfc_appends_to_one_list_from_two_workers_both_land() -> None:
    """The essay's question: two agents add a comment to the same post in one frame."""
    a = d("scout", 2, Op("add", "posts.json", "/p1/comments/-", comment("scout", "a")))
    b = d("critic", 1, Op("add", "posts.json", "/p1/comments/-", comment("critic", "b")))
    result = reduce(1, [a, b], reader(posts=POSTS))
    assert [v.outcome for v in result.verdicts] == [Outcome.APPLIED, Outcome.APPLIED]
    comments = result.documents["posts.json"]["p1"]["comments"]
    assert comments == [POSTS["p1"]["comments"][0], comment("critic", "b"), comment("scout", "a")]


def test_an_rfc_append_and_an_append_commute() -> None:
    a = d("scout", 1, Op("add", "posts.json", "/p1/comments/-", comment("scout", "a")))
    b = d("critic", 2, Op("append", "posts.json", "/p1/comments", comment("critic", "b")))
    result = reduce(1, [b, a], reader(posts=POSTS))
    assert result.count(Outcome.APPLIED) == 2
    assert result.documents["posts.json"]["p1"]["comments"][1:] == [
        comment("scout", "a"),
        comment("critic", "b"),
    ]


def test_an_append_commutes_with_an_edit_of_an_element_the_base_has() -> None:
    a = d("scout", 1, Op("add", "posts.json", "/p1/comments/-", comment("scout", "a")))
    b = d("critic", 2, Op("replace", "posts.json", "/p1/comments/0/text", "edited"))
    result = reduce(1, [a, b], reader(posts=POSTS))
    assert result.count(Outcome.APPLIED) == 2
    assert [c["text"] for c in result.documents["posts.json"]["p1"]["comments"]] == [
        "edited",
        "a",
    ]


def test_reading_past_the_end_conflicts_with_an_append() -> None:
    """What a pointer past the base's end finds depends on whether the append came first."""
    a = d("scout", 1, Op("add", "posts.json", "/p1/comments/-", comment("scout", "a")))
    b = d("critic", 2, Op("test", "posts.json", "/p1/comments/1", comment("scout", "a")))
    result = reduce(1, [a, b], reader(posts=POSTS))
    assert [v.outcome for v in result.verdicts] == [Outcome.APPLIED, Outcome.CONFLICT]
    assert "posts.json:/p1/comments/-" in (result.verdicts[1].reason or "")


def test_an_insert_or_a_whole_list_replace_still_conflicts_with_an_append() -> None:
    for other in (
        Op("add", "posts.json", "/p1/comments/0", comment("critic", "b")),
        Op("replace", "posts.json", "/p1/comments", []),
        Op("remove", "posts.json", "/p1/comments/0"),
        Op("test", "posts.json", "/p1/comments", POSTS["p1"]["comments"]),
    ):
        a = d("scout", 1, Op("add", "posts.json", "/p1/comments/-", comment("scout", "a")))
        b = d("critic", 2, other)
        result = reduce(1, [a, b], reader(posts=POSTS))
        assert [v.outcome for v in result.verdicts] == [Outcome.APPLIED, Outcome.CONFLICT], other


def test_an_rfc_append_to_a_list_the_base_lacks_is_still_a_write() -> None:
    """Whether ``add /new/-`` finds its list depends on timing: no commuting there."""
    a = d("scout", 1, Op("append", "posts.json", "/p1/likes", "scout"))
    b = d("critic", 2, Op("add", "posts.json", "/p1/likes/-", "critic"))
    result = reduce(1, [a, b], reader(posts=POSTS))
    assert [v.outcome for v in result.verdicts] == [Outcome.APPLIED, Outcome.CONFLICT]


def _one_after_another(frame: list[Delta]) -> Any:
    ws = Workspace(reader(posts=APPEND_BASE))
    for delta in sorted(frame, key=key):
        ws.apply(delta.ops)
    return ws.document("posts.json")


@settings(max_examples=300)
@given(append_frames)
def test_appends_give_what_one_after_another_would(frame: list[Delta]) -> None:
    """Appends and edits of existing elements from any workers all apply, in key order, to
    the document applying them one after another gives, whatever the input order; every
    appended item is there exactly once."""
    shuffled = list(frame)
    random.Random(len(frame)).shuffle(shuffled)
    result = reduce(3, shuffled, reader(posts=APPEND_BASE))
    by_id = {x.id: x for x in frame}
    applied = [by_id[v.delta] for v in result.verdicts if v.outcome is Outcome.APPLIED]
    for x in frame:  # a delta of appends alone always lands
        if all(op.op in ("append", "add") for op in x.ops):
            assert x in applied
    if applied:
        assert result.documents["posts.json"] == _one_after_another(applied)
        document = result.documents["posts.json"]
        for x in applied:
            for op in x.ops:
                if op.op in ("append", "add"):
                    where = op.path.removesuffix("/-").split("/")[2]
                    items = document["posts"][where]["comments"]
                    assert sum(1 for item in items if item == op.value) >= 1
    assert reduce(3, frame, reader(posts=APPEND_BASE)) == result


def test_an_append_naming_the_index_past_the_end_conflicts_with_an_append() -> None:
    """``append /l/1`` on a one-element list names the place an append lands: whether it
    finds something there depends on which came first, so it does not commute."""
    a = d("scout", 1, Op("add", "posts.json", "/l/-", []))
    b = d("critic", 2, Op("append", "posts.json", "/l/1", "z"))
    result = reduce(1, [a, b], reader(posts={"l": ["a"]}))
    assert [v.outcome for v in result.verdicts] == [Outcome.APPLIED, Outcome.CONFLICT]
    assert result.documents["posts.json"] == {"l": ["a", []]}
