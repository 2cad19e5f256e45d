"""Operations: what one step of a delta asks for, and the table of how steps combine.

Two families share one shape (``op``, ``file``, ``path``, and ``value`` or ``from``):

* RFC 6902 JSON Patch: ``add remove replace move copy test``, with the RFC's semantics
  on one document.
* Additive: ``incr append union max min``. Two of the same kind on the same path
  commute, so deltas of different workers combine instead of colliding.

Building an :class:`Op` validates it completely (op name, members, types, the file, the
pointer), so everything downstream can trust its fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from gnp.core import canonical, pointer
from gnp.core.canonical import JSON
from gnp.core.errors import Malformed, TooLarge
from gnp.core.inert import inert
from gnp.core.limits import DEFAULT_LIMITS, MAX_INT_BITS, Limits, check_file

_WHOLE = 1 << 62  # no bound: an operation's value is measured whole


class Kind(Enum):
    """How an operation touches its location, for conflict detection."""

    READ = "read"  # test, copy's source: order-sensitive against any write
    WRITE = "write"  # RFC 6902 changes: conflict with any other overlapping access
    ADDITIVE = "additive"  # commutes with the same op on the same path, nothing else


@dataclass(frozen=True, slots=True)
class Spec:
    """One row of the operation table."""

    kind: Kind
    needs_value: bool
    needs_from: bool
    value_type: str = "any"  # "any", "number" or "array"


OPS: dict[str, Spec] = {
    "add": Spec(Kind.WRITE, needs_value=True, needs_from=False),
    "remove": Spec(Kind.WRITE, needs_value=False, needs_from=False),
    "replace": Spec(Kind.WRITE, needs_value=True, needs_from=False),
    "move": Spec(Kind.WRITE, needs_value=False, needs_from=True),
    "copy": Spec(Kind.WRITE, needs_value=False, needs_from=True),
    "test": Spec(Kind.READ, needs_value=True, needs_from=False),
    "incr": Spec(Kind.ADDITIVE, needs_value=True, needs_from=False, value_type="number"),
    "append": Spec(Kind.ADDITIVE, needs_value=True, needs_from=False),
    "union": Spec(Kind.ADDITIVE, needs_value=True, needs_from=False, value_type="array"),
    "max": Spec(Kind.ADDITIVE, needs_value=True, needs_from=False, value_type="number"),
    "min": Spec(Kind.ADDITIVE, needs_value=True, needs_from=False, value_type="number"),
}
RFC6902 = frozenset({"add", "remove", "replace", "move", "copy", "test"})
ADDITIVE = frozenset(name for name, spec in OPS.items() if spec.kind is Kind.ADDITIVE)
_MEMBERS = frozenset({"op", "file", "path", "value", "from"})


def is_number(value: object) -> bool:
    """A JSON number: an int or finite float, and never a bool."""
    t = type(value)
    return t is int or (t is float and math.isfinite(value))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Op:
    """One validated operation. ``tokens`` and ``from_tokens`` are the parsed pointers."""

    op: str
    file: str
    path: str
    value: JSON = None
    from_: str | None = None
    tokens: pointer.Tokens = field(init=False, repr=False, compare=False)
    from_tokens: pointer.Tokens | None = field(init=False, repr=False, compare=False)
    # How far the value reaches, measured once here: every frame's bounds on growth and
    # nesting read it (gnp.core.document), and the delta's own nesting bound (delta.py).
    measure: canonical.Extent = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spec = OPS.get(self.op) if isinstance(self.op, str) else None
        if spec is None:
            raise Malformed(f"unknown op {self.op!r}; expected one of {', '.join(OPS)}")
        object.__setattr__(self, "tokens", pointer.parse(self.path))
        if spec.needs_from:
            if self.from_ is None:
                raise Malformed(f"{self.op} at {self.path!r} needs a 'from' pointer")
            object.__setattr__(self, "from_tokens", pointer.parse(self.from_))
        else:
            if self.from_ is not None:
                raise Malformed(f"{self.op} takes no 'from'")
            object.__setattr__(self, "from_tokens", None)
        if spec.value_type == "number" and not is_number(self.value):
            raise Malformed(
                f"{self.op} at {self.path!r} needs a number value, not {_type_name(self.value)}"
            )
        if type(self.value) is int and self.value.bit_length() > MAX_INT_BITS:
            # Every way to a number keeps one bound, or a counter made this way could
            # never be added to again.
            raise TooLarge(
                f"{self.op} at {self.path!r}: a number wider than {MAX_INT_BITS} bits, "
                "which JSON cannot carry"
            )
        measure = canonical.extent(
            self.value, max_depth=_WHOLE, max_size=_WHOLE, int_bits=MAX_INT_BITS
        )
        object.__setattr__(self, "measure", measure)
        if spec.value_type == "array" and type(self.value) is not list:
            raise Malformed(
                f"{self.op} at {self.path!r} needs an array of members, "
                f"not {_type_name(self.value)}"
            )
        if (
            self.op == "move"
            and self.from_tokens is not None
            and self.tokens != self.from_tokens
            and pointer.is_prefix(self.from_tokens, self.tokens)
        ):
            raise Malformed(f"move from {self.from_!r} into its own child {self.path!r}")

    @classmethod
    def from_json(cls, data: object, limits: Limits = DEFAULT_LIMITS, *, strict: bool = True) -> Op:
        """Build an operation from its JSON object.

        ``strict`` (how deltas are read) refuses members the operation does not use, so
        that a delta re-encodes to exactly the bytes that were signed. ``strict=False``
        ignores them, as RFC 6902 section 4 requires of a plain JSON Patch.
        """
        if not isinstance(data, dict):
            raise Malformed(f"an operation is a JSON object, not {_type_name(data)}")
        if strict and not data.keys() <= _MEMBERS:  # compared first: no set made
            unknown = data.keys() - _MEMBERS
            raise Malformed(
                f"operation has unknown member(s): {', '.join(inert(k) for k in sorted(unknown))}"
            )
        name = data.get("op")
        spec = OPS.get(name) if isinstance(name, str) else None
        if spec is None or not isinstance(name, str):
            raise Malformed(f"unknown op {name!r}; expected one of {', '.join(OPS)}")
        if "path" not in data:
            raise Malformed(f"{name} needs a 'path'")
        if spec.needs_value and "value" not in data:
            raise Malformed(f"{name} at {data['path']!r} needs a 'value'")
        if strict and not spec.needs_value and "value" in data:
            raise Malformed(f"{name} takes no 'value'")
        if strict and not spec.needs_from and "from" in data:
            raise Malformed(f"{name} takes no 'from'")
        if "file" not in data:
            raise Malformed(f"{name} at {data['path']!r} needs a 'file' (a state file path)")
        path = data["path"]
        if isinstance(path, str) and path.count("/") > limits.max_depth:
            raise TooLarge(f"{name} at a pointer deeper than {limits.max_depth} levels")
        return cls(
            op=name,
            file=check_file(data["file"], limits),
            path=path,
            value=data.get("value") if spec.needs_value else None,
            from_=data.get("from") if spec.needs_from else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The operation's JSON object: the exact inverse of :meth:`from_json`."""
        out: dict[str, Any] = {"op": self.op, "file": self.file, "path": self.path}
        if OPS[self.op].needs_value:
            out["value"] = self.value
        if self.from_ is not None:
            out["from"] = self.from_
        return out


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if is_number(value) else type(value).__name__)
