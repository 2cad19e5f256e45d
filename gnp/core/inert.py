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
beyond it. They round-trip: a backslash that would read as the start of an escape (one
before ``x``, ``u``, ``U``, a backslash, or a character that is escaped) is itself
written ``\\\\``, so :func:`revert` gives back exactly the text that was escaped; any
other backslash is left as it is.
"""

from __future__ import annotations

import re
import unicodedata

_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_KEPT = frozenset({"\u200c", "\u200d"})  # ZWNJ, ZWJ: needed by scripts and emoji
_LOOKS_ESCAPED = frozenset("xuU\\")
_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def _hidden(char: str) -> bool:
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
    if text.isprintable() and "\\" not in text:
        return text  # the common case, at C speed
    out = []
    for i, char in enumerate(text):
        if char == "\\":
            after = text[i + 1 : i + 2]
            escapes = after != "" and (after in _LOOKS_ESCAPED or _hidden(after))
            out.append("\\\\" if escapes else "\\")  # doubled where it would read as one
        elif _hidden(char):
            out.append(_escape(char))
        else:
            out.append(char)
    return "".join(out)


def revert(shown: str) -> str:
    """The text :func:`inert` was given, from what it returned."""

    def one(match: re.Match[str]) -> str:
        body = match.group(1)
        return "\\" if body == "\\" else chr(int(body[1:], 16))

    return _ESCAPE.sub(one, shown)


def inert_cell(text: object) -> str:
    """``text`` for a markdown table cell: inert, and with markdown's own syntax escaped
    (``|`` ends a cell, ``*`` and ``_`` emphasise, ``[`` links, ``<`` is HTML, a backtick
    opens code), so that what a worker wrote stays inside its cell, as written."""
    if text is None:
        return ""
    return _MARKDOWN.sub(r"\\\g<0>", inert(str(text)))


_MARKDOWN = re.compile(r"[\\`*_{}\[\]()<>#+!|~]")
