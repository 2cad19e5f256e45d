from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# What a value reaches (canonical.extent): the measure behind every bound on growth.

_text = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ['say "hi"', "a\\b", "\x01\x1f", "é😀", "\u2028", ""]
)
_no_numbers = st.recursive(
    st.none() | st.booleans() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=30,
)


def _full(value: object) -> canonical.Extent:
    return canonical.extent(value, max_depth=10**6, max_size=1 << 60, int_bits=10**6)


@given(_text)
def test_extent_counts_a_string_as_encoded(text: str) -> None:
    """Never less than what a copy of the string costs on main (a control character
    counts as six bytes, as ``\\u0001``); exactly that when nothing needs an escape."""
    encoded = json.dumps(text, ensure_ascii=False).encode()
    assert _full(text).size >= len(encoded)
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        assert _full(text).size == len(encoded)


@given(st.lists(_text, max_size=6), st.dictionaries(_text, _text, max_size=6))
def test_extent_counts_a_containers_strings_each_as_on_its_own(
    texts: list[str], obj: dict[str, str]
) -> None:
    """A container's strings are measured together, as one text: the same count as one
    by one (its brackets and commas, each string with its quotes and escapes; an
    object's keys with a colon each)."""
    assert _full(texts).size == 1 + len(texts) + sum(_full(t).size for t in texts)
    parts = sum(_full(k).size + _full(v).size for k, v in obj.items())
    assert _full(obj).size == 1 + 2 * len(obj) + parts


@given(_no_numbers)
def test_extent_counts_about_the_compact_encoding(value: object) -> None:
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    empty = encoded.count(b"[]") + encoded.count(b"{}")  # each counted one byte short
    assert _full(value).size >= len(encoded) - empty


@given(_no_numbers, st.integers(0, 6), st.integers(0, 200))
def test_extent_stops_at_a_bound_and_is_right_about_it(
    value: object, depth: int, size: int
) -> None:
    """Stopped early, what it says was passed was passed; not stopped, it is the whole."""
    full = _full(value)
    seen = canonical.extent(value, max_depth=depth, max_size=size, int_bits=64)
    if seen.depth > depth:
        assert full.depth > depth
    elif seen.size > size:
        assert full.size > size
    else:
        assert seen == full


@pytest.mark.parametrize("bits", [8, 64, 1000])
def test_extent_finds_an_integer_too_wide_anywhere(bits: int) -> None:
    wide = 1 << bits
    for value in (wide, [1, [2, {"a": wide}]], {"k": [wide, "x"]}):
        assert canonical.extent(value, max_depth=99, max_size=1 << 40, int_bits=bits).wide_int
    assert not canonical.extent(wide - 1, max_depth=99, max_size=99, int_bits=bits).wide_int
