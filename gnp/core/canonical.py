"""Canonical JSON: one value, one byte string.

Theory of operation: a delta's id is the SHA-256 of its canonical body and its
signature covers the same bytes, so encoding must be a function of the value alone:
keys sorted, no insignificant whitespace, UTF-8, no NaN or Infinity. Decoding is the
strict inverse: invalid UTF-8, duplicate keys, NaN/Infinity and lone surrogates are
refused rather than guessed at, because two readers that resolve an ambiguity
differently would see two different deltas under one signature.

Also here: JSON equality (RFC 6902 ``test`` semantics: ``1 == 1.0`` but ``true != 1``),
a total order on JSON values (for ``union`` sets) and a fast deep copy of JSON values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gnp.core.errors import Malformed

JSON = Any  # dict[str, JSON] | list[JSON] | str | int | float | bool | None

_encoder = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def encode(value: JSON) -> bytes:
    """The canonical bytes of ``value``; raises :class:`Malformed` if it is not JSON."""
    try:
        return _encoder.encode(value).encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise Malformed(f"not encodable as canonical JSON: {exc}") from None
    except RecursionError:
        raise Malformed("value nested too deeply to encode") from None


def encode_pretty(value: JSON) -> bytes:
    """Sorted, indented, newline-terminated: how state files are kept, for readable diffs."""
    try:
        text = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
        return (text + "\n").encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise Malformed(f"not encodable as JSON: {exc}") from None


def exact(value: JSON) -> JSON:
    """``value`` as the JSON it encodes to, refusing anything encoding would change.

    Python's encoder turns tuples into arrays and ``{1: 2}`` into ``{"1": 2}``; a value
    that only becomes JSON on the way out would be signed as one thing and applied as
    another. Returns a fresh copy.
    """
    again = decode(encode(value))
    if not equal(again, value):
        raise Malformed(
            "value is not plain JSON: use dicts with string keys, lists, strings, "
            "finite numbers, booleans and None"
        )
    return again


def _refuse_constant(name: str) -> JSON:
    raise Malformed(f"{name} is not JSON; use a finite number or null")


def _object(pairs: list[tuple[str, JSON]]) -> dict[str, JSON]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise Malformed(f"duplicate key {key!r} in a JSON object")
            seen.add(key)
    return obj


_decoder = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_refuse_constant)


def decode(data: bytes | str) -> JSON:
    """Parse strict JSON; raises :class:`Malformed` with the position of the problem."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    except UnicodeDecodeError as exc:
        raise Malformed(f"not UTF-8 at byte {exc.start}") from None
    try:
        value = _decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise Malformed(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Malformed("JSON nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise Malformed(f"not usable JSON: {exc}") from None
    if _has_lone_surrogate(text):
        # json accepts "\ud800"; such a string cannot be encoded back to UTF-8.
        try:
            encode(value)
        except Malformed:
            raise Malformed("JSON string holds a lone UTF-16 surrogate") from None
    return value


_loose_decoder = json.JSONDecoder()


def decode_unchecked(data: bytes | bytearray | str) -> JSON:
    """Parse JSON at the speed of json's own scanner, without :func:`decode`'s checks for
    repeated keys, NaN and lone surrogates. Only for bytes that will be compared with
    their canonical encoding, which is what makes up for those checks: a repeated key is
    dropped and NaN or a lone surrogate cannot be encoded, so no such bytes ever equal
    it. Raises ValueError (or RecursionError) where :func:`decode` would refuse."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    return _loose_decoder.decode(text)


def _has_lone_surrogate(text: str) -> bool:
    return "\\ud" in text or "\\uD" in text


def equal(a: JSON, b: JSON) -> bool:
    """JSON equality: numbers by value, booleans distinct from numbers, objects unordered."""
    if a is b:
        return True
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if ta in _NUMBER and tb in _NUMBER:
        return bool(a == b)
    if ta is not tb:
        return False
    if ta is dict:
        if a.keys() != b.keys():
            return False
        return all(equal(v, b[k]) for k, v in a.items())
    if ta is list:
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    return ta in _SCALAR and bool(a == b)  # anything else (a tuple, a set) is not JSON


_NUMBER = (int, float)
_SCALAR = (str, type(None))


def sort_key(value: JSON) -> tuple[int, Any]:
    """A total order on JSON values: null < booleans < numbers < strings < arrays < objects."""
    t = type(value)
    if value is None:
        return (0, 0)
    if t is bool:
        return (1, value)
    if t is int or t is float:
        return (2, value)
    if t is str:
        return (3, value)
    # Integral floats as ints, so that JSON-equal members ([1] and [1.0]) sort together.
    return (4 if t is list else 5, encode(_integral(value)))


def _integral(value: JSON) -> JSON:
    t = type(value)
    if t is float and value.is_integer():
        return int(value)
    if t is dict:
        return {k: _integral(v) for k, v in value.items()}
    if t is list:
        return [_integral(v) for v in value]
    return value


def copy(value: JSON) -> JSON:
    """Deep copy of a JSON value; several times faster than :func:`copy.deepcopy`."""
    t = type(value)
    if t is dict:
        return {k: copy(v) for k, v in value.items()}
    if t is list:
        return [copy(v) for v in value]
    return value


def depth(value: JSON, limit: int) -> int:
    """Nesting depth of ``value`` (a scalar is 0), counting no further than ``limit + 1``."""
    stack: list[tuple[JSON, int]] = [(value, 0)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        t = type(item)
        if t is dict or t is list:
            level += 1
            if level > deepest:
                deepest = level
                if deepest > limit:
                    return deepest
            stack.extend((v, level) for v in (item.values() if t is dict else item))
    return deepest


@dataclass(slots=True)  # not frozen: one is made per value, and frozen costs 3x to make
class Extent:
    """How far a value reaches: its nesting, about how many bytes it encodes to, and
    whether it holds an integer wider than a bound. Measuring stops as soon as a limit is
    passed, so it costs no more than the limits, however large the value. Treat it as
    frozen (an operation keeps its value's measure)."""

    depth: int
    size: int
    wide_int: bool = False


def extent(value: JSON, *, max_depth: int, max_size: int, int_bits: int) -> Extent:
    """Measure ``value``, stopping once deeper than ``max_depth``, larger than
    ``max_size`` or holding an integer of more than ``int_bits`` bits (then ``size`` is
    what was counted until then).

    The size counts compact JSON: strings as encoded (UTF-8, escapes included), integers
    by about a digit per 3.3 bits, other scalars by a fixed width. Every value of a frame
    passes here, so the loop measures scalars where it meets them and stacks only
    containers, and a container's strings (a dict's keys with them) are measured
    together, as one text: what a string counts is the sum of what its characters do."""
    t = type(value)
    if t is not dict and t is not list:
        size = _scalar_size(value, int_bits)
        return Extent(0, 0, wide_int=True) if size < 0 else Extent(0, size)
    stack: list[tuple[JSON, int]] = [(value, 1)]
    deepest = size = 0
    while stack:
        item, level = stack.pop()
        if level > deepest:
            deepest = level
            if deepest > max_depth:
                break
        if type(item) is dict:
            texts = list(item)  # each key: its text, a colon and a comma
            size += 1 + 2 * len(texts)
            values: Iterable[JSON] = item.values()
        else:
            texts = []
            size += 1 + len(item)
            values = item
        inner = level + 1
        for v in values:
            tv = type(v)
            if tv is str:
                texts.append(v)
            elif tv is dict or tv is list:
                stack.append((v, inner))
            elif tv is int:
                bits = v.bit_length()
                if bits > int_bits:
                    return Extent(deepest, size, wide_int=True)
                size += bits * 3 // 10 + 1
            else:
                size += 24 if tv is float else 5
        if texts:  # each string: as encoded, and two quotes
            joined = "".join(texts)
            size += (len(joined) if _plain(joined) else _text_size(joined) - 2) + 2 * len(texts)
        if size > max_size:
            break
    return Extent(deepest, size)


def _scalar_size(value: JSON, int_bits: int) -> int:
    """What :func:`extent` counts for a scalar; -1 for an integer wider than ``int_bits``."""
    t = type(value)
    if t is str:
        return _text_size(value)
    if t is int:
        bits = value.bit_length()
        return -1 if bits > int_bits else bits * 3 // 10 + 1
    return 24 if t is float else 5


def _plain(text: str) -> bool:
    """ASCII with nothing to escape: encoded, it is its own length plus two quotes."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


_CONTROL = re.compile(r"[\x00-\x1f]")


def _text_size(text: str) -> int:
    """The bytes a string encodes to, quotes and escapes included (a control character
    is ``\\u0001``, six bytes): what a copy of it costs, not what it looks like."""
    size = (len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))) + 2
    if not text.isprintable():
        size += 5 * len(_CONTROL.findall(text))
    return size + text.count('"') + text.count("\\")
