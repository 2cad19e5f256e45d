"""The delta: one worker's signed statement of what it wants to change.

Theory of operation: a delta is identified by the SHA-256 of its canonical body (every
field but the signature), and the signature covers those same bytes. Hence:

* the same delta pushed twice is one delta (same bytes, same id), which makes
  submission idempotent and lets the ledger apply each delta at most once;
* two deliberately identical requests are two deltas, because the body carries a random
  ``nonce`` (plain git would give two identical commits one id and silently drop one);
* changing any field, even whitespace inside a value, changes the id and breaks the
  signature.

The body never contains whole state, only operations. A ``fallback`` delta has no
operations and records why its worker failed: it changes nothing but is never silent.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from gnp.core import canonical
from gnp.core.canonical import JSON
from gnp.core.errors import Malformed, Refused, TooLarge
from gnp.core.inert import inert
from gnp.core.limits import DEFAULT_LIMITS, Limits, check_worker
from gnp.core.ops import Op

VERSION = 1
Status = Literal["ok", "fallback"]
UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_NONCE = re.compile(r"[0-9a-f]{32}")
_SIG = re.compile(r"[A-Za-z0-9+/]{86}==")
_FIELDS = frozenset(
    {"v", "worker", "author", "authority", "frame", "utc", "nonce", "status", "error", "ops"}
)
_FIELDS_AND_SIG = _FIELDS | {"sig"}
MAX_AUTHORITY = 10**9


def format_utc(moment: datetime) -> str:
    """``2026-11-29T01:54:45.123456Z``: fixed width, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("utc needs a timezone-aware datetime")
    return moment.astimezone(UTC).strftime(UTC_FORMAT)


def moment(utc: object) -> datetime:
    """The moment a ``utc`` string (as :func:`format_utc` writes it) names; raises
    :class:`Malformed` if it is not one."""
    if not isinstance(utc, str) or not _UTC.fullmatch(utc):
        raise Malformed(f"utc {utc!r} must look like 2026-01-31T23:59:59.123456Z")
    try:
        # The final Z reads as UTC (since Python 3.11); strptime, or .replace(tzinfo=UTC)
        # after reading it without, take 5-10 times as long.
        return datetime.fromisoformat(utc)
    except ValueError:
        raise Malformed(f"utc {utc!r} is not a real moment") from None


@dataclass(frozen=True, slots=True)
class Stamp:
    """When a new delta is made (``utc``, to the microsecond) and the ``nonce`` that makes
    it one of a kind: the clock and the randomness, which the core never reads itself.
    The shell makes them (:func:`gnp.host.clock.stamp`); tests and replays pass their own."""

    utc: str
    nonce: str


@dataclass(frozen=True, slots=True)
class Delta:
    """A validated delta. Build one with :func:`compose` or :func:`decode`."""

    worker: str
    author: str
    authority: int
    frame: int
    utc: str
    nonce: str
    ops: tuple[Op, ...]
    status: Status = "ok"
    error: str | None = None
    sig: str | None = None
    id: str = field(init=False, compare=False)
    body: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_fields(self)
        body = canonical.encode(self.body_json())
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "id", hashlib.sha256(body).hexdigest())

    @property
    def key(self) -> tuple[int, str, str, str]:
        """The composite key that orders deltas: (frame, utc, worker, id)."""
        return (self.frame, self.utc, self.worker, self.id)

    def body_json(self) -> dict[str, Any]:
        """Every signed field, as JSON."""
        return {
            "v": VERSION,
            "worker": self.worker,
            "author": self.author,
            "authority": self.authority,
            "frame": self.frame,
            "utc": self.utc,
            "nonce": self.nonce,
            "status": self.status,
            "error": self.error,
            "ops": [op.to_json() for op in self.ops],
        }

    def to_json(self) -> dict[str, Any]:
        out = self.body_json()
        if self.sig is not None:
            out["sig"] = self.sig
        return out

    def encode(self) -> bytes:
        """The canonical bytes of the whole delta, signature included.

        Spliced from the body's bytes rather than encoded again: in sorted order "sig"
        comes just before "status", and the top-level "status" is the last one in the
        body, since only the validated utc, v and worker follow it.
        """
        if self.sig is None:
            return self.body
        at = self.body.rindex(b',"status":"')
        return b'%s,"sig":"%s"%s' % (self.body[:at], self.sig.encode("ascii"), self.body[at:])

    def with_sig(self, sig: str) -> Delta:
        return replace(self, sig=sig)


def compose(
    worker: str,
    ops: list[Op] | tuple[Op, ...],
    *,
    frame: int,
    stamp: Stamp,
    author: str | None = None,
    authority: int = 0,
) -> Delta:
    """A new, unsigned delta, made at ``stamp``.

    The operations are taken as the JSON they encode to, so what is signed is exactly
    what will apply.
    """
    ops = tuple(Op.from_json(o) for o in canonical.exact([op.to_json() for op in ops]))
    return Delta(
        worker=worker,
        author=worker if author is None else author,
        authority=authority,
        frame=frame,
        utc=stamp.utc,
        nonce=stamp.nonce,
        ops=ops,
    )


def fallback(
    worker: str,
    error: str,
    *,
    frame: int,
    stamp: Stamp,
    author: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Delta:
    """The empty delta a failed worker leaves, made at ``stamp``: no operations, the
    error recorded, inert."""
    error = _inert(error.strip()) or "worker failed without a message"
    if len(error) > limits.max_error_length:
        error = error[: limits.max_error_length - 3] + "..."
    return Delta(
        worker=worker,
        author=worker if author is None else author,
        authority=0,
        frame=frame,
        utc=stamp.utc,
        nonce=stamp.nonce,
        ops=(),
        status="fallback",
        error=error,
    )


def _inert(text: str) -> str:
    """``text`` with each character that is not printable escaped (ESC as ``\\x1b``): a
    fallback's error is its verdict's reason, shown in lineage and on terminals, and it
    often quotes what a failed command printed, colours and terminal titles included."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def decode(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Delta:
    """Parse and validate a delta from bytes; raises a :class:`~gnp.core.errors.Refused`."""
    if len(data) > limits.max_bytes:
        raise TooLarge(f"delta is {len(data)} bytes; the limit is {limits.max_bytes}")
    # Nearly every delta is well-formed: read it the fast way, and keep it if it is in
    # canonical form, which no bytes the strict parser refuses can be. Anything else is
    # read again the strict way, so that a refusal gives the reason it always gave.
    try:
        delta = from_json(canonical.decode_unchecked(data), limits)
        if delta.encode() == data:
            return delta
    except (Refused, ValueError, RecursionError):
        pass
    return decode_strictly(data, limits)


def decode_strictly(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Delta:
    """What :func:`decode` does, every check in its order: for the reason of a refusal."""
    if len(data) > limits.max_bytes:
        raise TooLarge(f"delta is {len(data)} bytes; the limit is {limits.max_bytes}")
    delta = from_json(canonical.decode(data), limits)
    # One delta, one spelling: "1.50", "15e-1" or extra whitespace would verify under the
    # same signature yet read differently to a reader with other number rules.
    if delta.encode() != data:
        raise Malformed(
            "delta is not in canonical form (sorted keys, no whitespace, "
            "shortest numbers); encode it with gnp"
        )
    return delta


def from_json(data: JSON, limits: Limits = DEFAULT_LIMITS) -> Delta:
    """Validate a delta's JSON object (as :func:`decode` parsed it)."""
    if not isinstance(data, dict):
        raise Malformed("a delta is a JSON object")
    keys = data.keys()
    if not keys <= _FIELDS_AND_SIG:  # compared before the difference is made: faster
        unknown = keys - _FIELDS_AND_SIG
        raise Malformed(
            f"delta has unknown field(s): {', '.join(inert(k) for k in sorted(unknown))}"
        )
    if not keys >= _FIELDS:
        missing = _FIELDS - keys
        raise Malformed(f"delta is missing field(s): {', '.join(sorted(missing))}")
    if data["v"] != VERSION or type(data["v"]) is not int:
        raise Malformed(f"delta version {data['v']!r} is not supported (expected {VERSION})")
    raw_ops = data["ops"]
    if not isinstance(raw_ops, list):
        raise Malformed("ops must be a JSON array")
    if len(raw_ops) > limits.max_ops:
        raise TooLarge(f"delta has {len(raw_ops)} operations; the limit is {limits.max_ops}")
    ops = tuple(Op.from_json(op, limits) for op in raw_ops)
    sig = data.get("sig")
    if sig is not None and not _canonical_sig(sig):
        raise Malformed("sig must be the canonical base64 of an Ed25519 signature")
    delta = Delta(
        worker=data["worker"],
        author=data["author"],
        authority=data["authority"],
        frame=data["frame"],
        utc=data["utc"],
        nonce=data["nonce"],
        ops=ops,
        status=data["status"],
        error=data["error"],
        sig=sig,
    )
    check_limits(delta, limits)
    return delta


def _canonical_sig(sig: object) -> bool:
    # The last character before '==' carries 4 unused bits: without the round trip, 4
    # spellings of one signature would all verify, and a delta would not be one file.
    return (
        isinstance(sig, str)
        and _SIG.fullmatch(sig) is not None
        and base64.b64encode(base64.b64decode(sig)).decode("ascii") == sig
    )


def _check_depth(ops: tuple[Op, ...], limits: Limits) -> None:
    # The delta object, its ops array and an op object are 3 levels; values add the rest.
    room = limits.max_depth - 3
    for op in ops:
        if op.measure.depth > room:
            raise TooLarge(f"delta nests deeper than {limits.max_depth} levels")


def check_limits(d: Delta, limits: Limits) -> None:
    """Refuse a delta over ``limits`` (sizes the shape checks do not bound)."""
    if len(d.ops) > limits.max_ops:
        raise TooLarge(f"delta has {len(d.ops)} operations; the limit is {limits.max_ops}")
    _check_depth(d.ops, limits)
    if len(d.author) > limits.max_author_length:
        raise TooLarge(f"author is over {limits.max_author_length} characters")
    if d.error is not None and len(d.error) > limits.max_error_length:
        raise TooLarge(f"error text is over {limits.max_error_length} characters")


def _check_fields(d: Delta) -> None:
    """Shape and type of every field; a Delta that exists is well-formed."""
    check_worker(d.worker)
    if not isinstance(d.author, str) or not d.author:
        raise Malformed("author must be a non-empty string")
    if type(d.authority) is not int or abs(d.authority) > MAX_AUTHORITY:
        raise Malformed(
            f"authority must be an integer within +/-{MAX_AUTHORITY}, not {d.authority!r}"
        )
    if type(d.frame) is not int or d.frame < 0:
        raise Malformed(f"frame must be a non-negative integer, not {d.frame!r}")
    moment(d.utc)
    if not isinstance(d.nonce, str) or not _NONCE.fullmatch(d.nonce):
        raise Malformed("nonce must be 32 lowercase hex digits")
    if not isinstance(d.ops, tuple) or not all(isinstance(op, Op) for op in d.ops):
        raise Malformed("ops must be a sequence of operations")
    if d.status == "ok":
        if d.error is not None:
            raise Malformed("an ok delta carries no error")
    elif d.status == "fallback":
        if not isinstance(d.error, str) or not d.error:
            raise Malformed("a fallback delta must say what failed in 'error'")
        if d.ops:
            raise Malformed("a fallback delta has no operations")
    else:
        raise Malformed(f"status must be 'ok' or 'fallback', not {d.status!r}")
