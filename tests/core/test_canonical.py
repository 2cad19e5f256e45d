from __future__ import annotations

import pytest
from hypothesis import given

from gnp import Malformed, canonical
from tests.helpers.strategies import json_values


def test_encoding_is_sorted_compact_utf8() -> None:
    assert canonical.encode({"b": 1, "a": [1.5, "é", None, True]}) == (
        '{"a":[1.5,"é",null,true],"b":1}'.encode()
    )


@pytest.mark.parametrize(
    "text, reason",
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ("[NaN]", "NaN is not JSON"),
        ("[Infinity]", "Infinity is not JSON"),
        ("[-Infinity]", "-Infinity is not JSON"),
        ('{"a": ', "not JSON"),
        ('["\\ud800"]', "lone UTF-16 surrogate"),
    ],
)
def test_decode_refuses_ambiguous_json(text: str, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        canonical.decode(text.encode())


def test_decode_refuses_invalid_utf8() -> None:
    with pytest.raises(Malformed, match="not UTF-8 at byte 2"):
        canonical.decode(b'["\xff"]')


def test_decode_refuses_absurd_nesting_without_crashing() -> None:
    with pytest.raises(Malformed, match="nested too deeply"):
        canonical.decode(b"[" * 100_000 + b"]" * 100_000)


def test_encode_refuses_what_is_not_json() -> None:
    for value in (float("nan"), float("inf"), {1: "a", "b": 2}, object(), "\ud800"):
        with pytest.raises(Malformed):
            canonical.encode(value)


def test_exact_refuses_what_only_becomes_json_on_the_way_out() -> None:
    for value in ({1: 2}, (1, 2), {"a": (1,)}, {"a": {None: 1}}):
        with pytest.raises(Malformed, match="not plain JSON"):
            canonical.exact(value)
    assert canonical.exact({"a": [1, 2.5, None]}) == {"a": [1, 2.5, None]}


@given(json_values)
def test_round_trip_is_exact(value: object) -> None:
    data = canonical.encode(value)
    again = canonical.decode(data)
    assert canonical.encode(again) == data
    assert canonical.equal(again, value)


@given(json_values)
def test_copy_is_deep_and_equal(value: object) -> None:
    copied = canonical.copy(value)
    assert canonical.encode(copied) == canonical.encode(value)
    if isinstance(value, dict | list) and value:
        assert copied is not value


def test_equality_follows_json_not_python() -> None:
    assert canonical.equal(1, 1.0)
    assert not canonical.equal(True, 1)
    assert not canonical.equal([True], [1])
    assert not canonical.equal({"a": False}, {"a": 0})
    assert canonical.equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not canonical.equal({"a": 1}, {"a": 1, "b": 2})
    assert not canonical.equal("1", 1)


def test_sort_key_is_total_across_types() -> None:
    values = [{"a": 1}, [2], "s", 3, 1.5, True, False, None]
    assert sorted(values, key=canonical.sort_key) == [None, False, True, 1.5, 3, "s", [2], {"a": 1}]


def test_depth_counts_containers() -> None:
    assert canonical.depth(1, 10) == 0
    assert canonical.depth({"a": [1, {"b": []}]}, 10) == 4
    assert canonical.depth([[[[[]]]]], 2) == 3  # stops counting past the limit
