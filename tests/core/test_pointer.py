from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gnp import BadPointer, pointer


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("", ()),
        ("/", ("",)),
        ("/a/b", ("a", "b")),
        ("/a~1b", ("a/b",)),
        ("/m~0n", ("m~n",)),
        ("/~01", ("~1",)),  # '~01' is '~' then '1', never '/'
        ("/ ", (" ",)),
        ("/0/-", ("0", "-")),
    ],
)
def test_parse_rfc6901_examples(text: str, tokens: tuple[str, ...]) -> None:
    assert pointer.parse(text) == tokens
    assert pointer.format(tokens) == text


@pytest.mark.parametrize("text", ["a", "a/b", "/a~", "/~2", "/a~b"])
def test_parse_refuses_malformed(text: str) -> None:
    with pytest.raises(BadPointer):
        pointer.parse(text)


def test_parse_refuses_non_strings() -> None:
    with pytest.raises(BadPointer, match="is a string"):
        pointer.parse(3)  # type: ignore[arg-type]


@given(st.lists(st.text(max_size=5), max_size=4))
def test_format_parse_round_trip(tokens: list[str]) -> None:
    assert pointer.parse(pointer.format(tuple(tokens))) == tuple(tokens)


def test_array_index_rules() -> None:
    assert pointer.array_index("0", 3, allow_end=False) == 0
    assert pointer.array_index("3", 3, allow_end=True) == 3
    assert pointer.array_index("-", 3, allow_end=True) == 3
    for token, allow_end in [
        ("3", False),
        ("4", True),
        ("01", True),
        ("-", False),
        ("-1", True),
        ("1e0", True),
        ("\u0661", True),  # ARABIC-INDIC DIGIT ONE: a digit, but not an index
    ]:
        with pytest.raises(IndexError):
            pointer.array_index(token, 3, allow_end=allow_end)


def test_is_prefix() -> None:
    assert pointer.is_prefix((), ("a",))
    assert pointer.is_prefix(("a",), ("a",))
    assert pointer.is_prefix(("a",), ("a", "b"))
    assert not pointer.is_prefix(("a", "b"), ("a",))
    assert not pointer.is_prefix(("ab",), ("a", "b"))
