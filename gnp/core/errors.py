"""The two ways things go wrong in gnp, after h11's split of local and remote errors.

* :class:`UsageError`: the caller asked for something impossible (a missing hub, a bad
  argument). The command stops with one line on stderr and a non-zero exit.
* :class:`Refused`: a delta is refused. The protocol itself worked: the delta gets a
  verdict naming the reason, and the frame goes on with every other delta.

Every ``Refused`` carries a short, stable ``code`` (what lineage and tests key on) and a
message that says what was wrong and, where it helps, what to do about it.
"""

from __future__ import annotations


class GnpError(Exception):
    """Base of every error gnp raises on purpose."""


def describe(exc: BaseException) -> str:
    """One line for a report: gnp's own message, or what else went wrong, by its type."""
    return str(exc) if isinstance(exc, GnpError) else f"{type(exc).__name__}: {exc}"


class UsageError(GnpError):
    """The caller asked for something impossible; nothing was changed."""


class Refused(GnpError):
    """A delta (or one of its operations) is refused, with a reason."""

    code = "refused"

    def __init__(self, message: str = "", op: object = None) -> None:
        super().__init__(message)
        # The operation refused, when the reason opens with it and its place: that place
        # is worded again for a frame of an older wording (gnp.core.wording).
        self.op = op


class Malformed(Refused):
    """Not valid JSON, or not shaped like a delta / an operation."""

    code = "malformed"


class BadPointer(Malformed):
    """A JSON Pointer (RFC 6901) that does not parse."""

    code = "bad-pointer"


class BadFile(Malformed):
    """A state file path outside what a delta may touch."""

    code = "bad-file"


class TooLarge(Refused):
    """A delta over one of the configured limits (bytes, operations, nesting)."""

    code = "too-large"


class BadSignature(Refused):
    """The signature does not verify against the worker's registered key."""

    code = "bad-signature"


class UnknownWorker(BadSignature):
    """No key is registered for the worker that claims the delta."""

    code = "unknown-worker"


class OverGrant(Refused):
    """A delta claims more authority, or names a file, than its worker's grant allows."""

    code = "over-grant"


class OffClock(Refused):
    """A delta's ``utc`` lies outside the window around the engine's clock."""

    code = "clock"


class OpFailed(Refused):
    """An operation cannot apply to the document (a failed ``test``, a missing path, ...)."""

    code = "op-failed"


class PatchTestFailed(OpFailed):
    """A ``test`` operation whose value does not match the document."""

    code = "test-failed"  # its op tells a lost update from other tests


class LostUpdate(PatchTestFailed):
    """A value changed since the delta's base, and the delta would have written over it:
    its ``test`` guards a ``replace`` or ``remove`` of that very value."""

    code = "lost-update"


def explain(exc: GnpError) -> str:
    """The one line a command prints for ``exc`` (after ``gnp: ``)."""
    if isinstance(exc, Refused):
        return f"refused ({exc.code}): {exc}"
    return str(exc)
