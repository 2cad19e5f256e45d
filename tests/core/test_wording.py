"""How reasons name a place: the whole document is named as such, the key "" is not
mistaken for it, and a frame of the first wording still gets its reasons word for word
(its replay depends on them)."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnp import ABSENT, Op, canonical, compose, reduce
from gnp.core import wording
from gnp.core.delta import Delta
from gnp.core.errors import Malformed
from gnp.core.limits import Limits
from gnp.core.reduce import FrameResult
from tests.helpers.strategies import json_values, stamp

_clock = count(1)


def d(worker: str, *ops: Op, authority: int = 0) -> Delta:
    utc = f"2026-11-29T00:00:{next(_clock) % 60_000_000 / 1e6:09.6f}Z"
    return compose(worker, list(ops), frame=0, authority=authority, stamp=stamp(utc))


def run(
    *deltas: Delta, words: int = wording.CURRENT, limits: Limits | None = None, **docs: Any
) -> FrameResult:
    def read(file: str) -> Any:
        return canonical.copy(docs.get(file.removesuffix(".json"), ABSENT))

    if limits is None:
        return reduce(1, deltas, read, set(), words=words)
    return reduce(1, deltas, read, set(), limits, words)


def reasons(result: FrameResult) -> list[str]:
    return [v.reason or "" for v in result.verdicts]


def test_place_names_the_whole_document_and_the_empty_key_apart() -> None:
    assert wording.place("status.json", "") == "status.json (whole document)"
    assert wording.place("status.json", "/") == "status.json:/"  # the key "" at the top
    assert wording.place("status.json", "/a/0") == "status.json:/a/0"
    # The first wording wrote both as "file:/": frames of it keep those words.
    assert wording.place("status.json", "", wording.FIRST) == "status.json:/"
    assert wording.place("status.json", "/", wording.FIRST) == "status.json:/"


def test_a_conflict_at_the_root_names_the_whole_document() -> None:
    first = d("a", Op("add", "status.json", "", {"up": True}))
    second = d("b", Op("add", "status.json", "", {"up": False}))
    result = run(first, second)
    assert [v.outcome.value for v in result.verdicts] == ["applied", "conflict"]
    assert "of 'a' at status.json (whole document);" in reasons(result)[1]
    old = run(first, second, words=wording.FIRST)
    assert "of 'a' at status.json:/;" in reasons(old)[1]


def test_a_conflict_at_the_empty_key_is_not_called_the_whole_document() -> None:
    first = d("a", Op("replace", "status.json", "/", 1))
    second = d("b", Op("replace", "status.json", "/", 2))
    result = run(first, second, status={"": 0})
    assert "at status.json:/;" in reasons(result)[1]
    assert "whole document" not in reasons(result)[1]


@pytest.mark.parametrize(
    ("ops", "docs", "now", "then"),
    [
        (  # an operation that fails at the root
            [Op("replace", "status.json", "", {"x": 1})],
            {},
            "replace status.json (whole document) failed: the file does not exist",
            "replace status.json:/ failed: the file does not exist",
        ),
        (  # a test at the root
            [Op("test", "status.json", "", {"x": 1})],
            {"status": {"x": 2}},
            'test status.json (whole document) failed: expected {"x":1}, found {"x":2}',
            'test status.json:/ failed: expected {"x":1}, found {"x":2}',
        ),
        (  # a lost update of the whole document
            [Op("test", "status.json", "", {"x": 1}), Op("replace", "status.json", "", {})],
            {"status": {"x": 2}},
            "lost update refused: status.json (whole document) changed after frame 0",
            "lost update refused: status.json:/ changed after frame 0, this delta's base, and "
            'it would have written over that change (expected {"x":1}, found {"x":2}); redo '
            "the work on main as it is now",
        ),
        (  # a bound on what the delta produces, at the root
            [Op("add", "status.json", "", {"x": "y" * 400})],
            {},
            "add status.json (whole document) refused: the delta would add more than",
            "add status.json:/ refused: the delta would add more than 256 bytes (max_growth)",
        ),
    ],
)
def test_every_reason_that_names_the_root_names_it_in_the_frames_wording(
    ops: list[Op], docs: dict[str, Any], now: str, then: str
) -> None:
    limits = Limits(max_growth=256)
    (verdict,) = run(d("a", *ops), limits=limits, **docs).verdicts
    assert (verdict.reason or "").startswith(now), verdict.reason
    (old,) = run(d("a", *ops), words=wording.FIRST, limits=limits, **docs).verdicts
    assert old.reason == then  # as gnp wrote it before wording 2, byte for byte
    assert (old.outcome, old.code) == (verdict.outcome, verdict.code)


def test_a_recorded_wording_is_one_this_gnp_knows() -> None:
    assert wording.parse("1") == 1 and wording.parse("2") == 2
    for text in ("0", "3", "", "2 ", "x", "²", "-1"):
        with pytest.raises(Malformed, match="is not one this gnp knows"):
            wording.parse(text)


# A frame's verdicts in the first wording are its verdicts in the current one, with the
# whole document named as it was: nothing else about the frame depends on the words.
_FILES = ("status.json", "posts.json")


def _op(name: str, file: str, path: str, value: Any) -> Op | None:
    try:
        if name == "remove":
            return Op(name, file, path)
        if name == "incr":
            return Op(name, file, path, value if isinstance(value, int) else 1)
        if name == "append" and path in ("", "/a/-"):
            return None
        return Op(name, file, path, value)
    except Malformed:
        return None


_ops = st.builds(
    _op,
    st.sampled_from(("add", "replace", "remove", "test", "incr", "append")),
    st.sampled_from(_FILES),
    st.sampled_from(("", "", "/", "/a", "/a/-")),
    json_values,
).filter(lambda op: op is not None)
_deltas = st.tuples(
    st.sampled_from(("a", "b", "c")), st.lists(_ops, min_size=1, max_size=3), st.integers(0, 1)
).map(lambda t: d(t[0], *t[1], authority=t[2]))
_docs = st.fixed_dictionaries(
    {}, optional={"status": st.dictionaries(st.sampled_from(("", "a")), json_values, max_size=2)}
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_deltas, max_size=6), _docs)
def test_the_wording_changes_the_words_of_a_frame_and_nothing_else(
    deltas: list[Delta], docs: dict[str, Any]
) -> None:
    now = run(*deltas, **docs)
    then = run(*deltas, words=wording.FIRST, **docs)
    assert now.documents == then.documents
    assert [(v.outcome, v.code, v.winner) for v in now.verdicts] == [
        (v.outcome, v.code, v.winner) for v in then.verdicts
    ]
    reworded = []
    for reason in reasons(now):
        for file in _FILES:
            reason = reason.replace(f"{file} (whole document)", f"{file}:/")
        reworded.append(reason)
    assert reasons(then) == reworded
