"""Inert text: nothing a worker wrote reaches a terminal, a table or markdown as a
control, and ordinary text is shown as it is."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from gnp.core.inert import inert, inert_cell, revert

HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def shows_only_itself(text: str) -> bool:
    return all(unicodedata.category(c) not in HIDDEN or c in "\u200c\u200d" for c in text)


def test_controls_and_bidi_are_escaped_visibly() -> None:
    assert inert("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert inert("line\nforged") == "line\\x0aforged"
    assert inert("\x7f\x85\x9b") == "\\x7f\\x85\\x9b"
    assert inert("txt\u202eexe.") == "txt\\u202eexe."
    assert inert("\u2066x\u2069") == "\\u2066x\\u2069"
    assert inert("zero\u200bwidth\ufeff") == "zero\\u200bwidth\\ufeff"
    assert inert("\u2028\u2029") == "\\u2028\\u2029"
    assert inert("tag\U000e0041") == "tag\\U000e0041"


def test_ordinary_unicode_is_kept() -> None:
    for text in (
        "café",
        "naïve — “quoted”",
        "日本語",
        "👨\u200d👩\u200d👧",
        "C:\\path",
        "a b\u00a0c",
    ):
        assert inert(text) == text


@given(st.text())
def test_inert_output_has_no_hidden_character(text: str) -> None:
    assert shows_only_itself(inert(text))


@given(st.text(st.characters(blacklist_characters="\\")))
def test_inert_round_trips_visibly(text: str) -> None:
    assert revert(inert(text)) == text


@given(st.text())
def test_inert_is_idempotent(text: str) -> None:
    """Text is made inert by each hand it passes through; the second time changes nothing."""
    assert inert(inert(text)) == inert(text)


@given(
    st.text(
        st.characters(
            blacklist_categories=("Cc", "Cf", "Zl", "Zp", "Cs"), blacklist_characters="\\"
        )
    )
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert inert(text) == text


@given(st.text())
def test_a_markdown_cell_holds_one_line_and_no_cell_break(text: str) -> None:
    cell = inert_cell(text)
    assert "\n" not in cell and "\r" not in cell and shows_only_itself(cell)
    unescaped_bars = [i for i, c in enumerate(cell) if c == "|" and not _escaped(cell, i)]
    assert unescaped_bars == []


def _escaped(text: str, i: int) -> bool:
    slashes = 0
    while i - slashes - 1 >= 0 and text[i - slashes - 1] == "\\":
        slashes += 1
    return slashes % 2 == 1
