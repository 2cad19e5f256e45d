"""JSON Pointer (RFC 6901): parse and format, nothing else.

A pointer is ``""`` (the whole document) or a sequence of ``/``-prefixed reference
tokens in which ``~1`` stands for ``/`` and ``~0`` for ``~``. Parsing happens once per
operation, when the operation is built, so applying an operation never re-parses.
"""

from __future__ import annotations

from gnp.core.errors import BadPointer

Tokens = tuple[str, ...]


def parse(pointer: str) -> Tokens:
    """The reference tokens of ``pointer``; raises :class:`BadPointer` if it is malformed."""
    if not isinstance(pointer, str):
        raise BadPointer(f"a JSON Pointer is a string, not {type(pointer).__name__}")
    if pointer == "":
        return ()
    if pointer[0] != "/":
        raise BadPointer(f"JSON Pointer {pointer!r} must be empty or start with '/'")
    if "~" not in pointer:
        return tuple(pointer[1:].split("/"))
    tokens = []
    for raw in pointer[1:].split("/"):
        # Every '~' must begin '~0' or '~1'; check before unescaping so '~01' stays '~1'.
        rest = raw.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise BadPointer(f"JSON Pointer {pointer!r} has '~' not followed by 0 or 1")
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tuple(tokens)


def format(tokens: Tokens) -> str:
    """The pointer text for ``tokens`` (the inverse of :func:`parse`)."""
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def is_prefix(a: Tokens, b: Tokens) -> bool:
    """True if the location ``a`` is ``b`` or one of its ancestors."""
    return len(a) <= len(b) and b[: len(a)] == a


def array_index(token: str, length: int, *, allow_end: bool) -> int:
    """The array index a token names, or raise; ``allow_end`` admits ``-`` and ``length``."""
    if token == "-":
        if allow_end:
            return length
        raise IndexError("'-' names the end of the array, which holds no value")
    if not token.isdigit() or not token.isascii() or (token[0] == "0" and len(token) > 1):
        raise IndexError(f"{token!r} is not an array index")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise IndexError(f"index {index} is out of range for an array of {length}")
    return index
