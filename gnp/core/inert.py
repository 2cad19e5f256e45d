"""Inert text: what a delta or a worker wrote, made safe to show a person.

Theory of operation: a reason quotes a field name, a pointer or a worker's output; a
delta id comes from a ref name. Shown as they are, an ``ESC[2J`` clears the terminal,
a newline forges a line of its own, and a bidi override (U+202E) makes ``txt.exe``
read as ``exe.txt``. :func:`inert` escapes every character that is not shown as
itself: C0 and C1 controls and DEL (category ``Cc``), format characters (``Cf``: bidi
embeddings, overrides and isolates, zero-width spaces, the BOM), line and paragraph
separators (``Zl``, ``Zp``) and lone surrogates (``Cs``). What it leaves is printed as
itself: ordinary Unicode, accents, CJK, emoji (the zero-width joiner and non-joiner,
which only join what is around them, are kept, or a family emoji would fall apart).

The escapes are Python's: ``\\x1b`` up to U+00FF, ``\\u202e`` in the BMP, ``\\U000e0001``
beyond it, so what was hidden is shown by its code, and :func:`revert` gives it back.
A backslash is left as it is: text goes through several hands before it is shown (a
refusal quotes a field name, a summary quotes the refusal, a command's error line
quotes the summary), and each may make it inert again, so :func:`inert` must change
nothing the second time; doubling backslashes would double them at every step. The
price: a worker can write the six characters ``\\x1b`` and have them shown as they are,
which looks like an escape and does nothing.
"""

from __future__ import annotations

import re
import unicodedata

_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_KEPT = frozenset({"\u200c", "\u200d"})  # ZWNJ, ZWJ: needed by scripts and emoji
_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def hidden(char: str) -> bool:
    """Is ``char`` one that :func:`inert` escapes?"""
    return char not in _KEPT and unicodedata.category(char) in _ESCAPED_CATEGORIES


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def inert(text: str) -> str:
    """``text`` with every character that is not shown as itself escaped (module doc)."""
    if text.isprintable():
        return text  # the common case, at C speed
    return "".join(_escape(c) if hidden(c) else c for c in text)


def revert(shown: str) -> str:
    """The text :func:`inert` was given, from what it returned, if that text held no
    backslash (module doc)."""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1)[1:], 16)), shown)


def inert_cell(text: object) -> str:
    """``text`` for a markdown table cell: inert, and with markdown's own syntax escaped
    (``|`` ends a cell, ``*`` and ``_`` emphasise, ``[`` links, ``<`` is HTML, a backtick
    opens code), so that what a worker wrote stays inside its cell, as written."""
    if text is None:
        return ""
    return _MARKDOWN.sub(r"\\\g<0>", inert(str(text)))


# What can start markup inside a line: emphasis, code, links (a link needs "["), HTML,
# strikethrough, a cell's end, and the backslash that would escape the escape.
_MARKDOWN = re.compile(r"[\\`*_\[\]<>|~]")
