"""gnp: the Good Neighbor Protocol.

Many workers (agents, cron jobs, people) change one canonical JSON state kept in git
without losing each other's work: each writes a signed delta, never state, and a merge
engine applies a frame's deltas in composite-key order, resolving conflicts by
authority and recording every verdict.

The names here are the pure protocol (:mod:`gnp.core`). The shells around it are
imported from their own rooms: :mod:`gnp.git` (the hub, the inbox, the engine, replay),
:mod:`gnp.process` (worktrees, the run harness, the janitor), :mod:`gnp.frame` (the
frame pipeline) and :mod:`gnp.lineage`. ``docs/design.md`` draws the layers.
"""

from __future__ import annotations

from gnp.core import canonical, pointer
from gnp.core.admit import Terms, admit
from gnp.core.delta import Delta, Stamp, compose, decode, fallback
from gnp.core.document import ABSENT, Reader, Workspace
from gnp.core.errors import (
    BadFile,
    BadPointer,
    BadSignature,
    GnpError,
    Malformed,
    OffClock,
    OpFailed,
    OverGrant,
    PatchTestFailed,
    Refused,
    TooLarge,
    UnknownWorker,
    UsageError,
)
from gnp.core.grants import Grant, Grants
from gnp.core.limits import DEFAULT_LIMITS, Limits
from gnp.core.ops import Op
from gnp.core.order import key, ordered
from gnp.core.reduce import FrameResult, reduce
from gnp.core.signing import Keyring, SigningKey, parse_public_key, public_key_text, verify
from gnp.core.verdict import Outcome, Verdict

__version__ = "0.1.0"

__all__ = [
    "ABSENT",
    "DEFAULT_LIMITS",
    "BadFile",
    "BadPointer",
    "BadSignature",
    "Delta",
    "FrameResult",
    "GnpError",
    "Grant",
    "Grants",
    "Keyring",
    "Limits",
    "Malformed",
    "OffClock",
    "Op",
    "OpFailed",
    "Outcome",
    "OverGrant",
    "PatchTestFailed",
    "Reader",
    "Refused",
    "SigningKey",
    "Stamp",
    "Terms",
    "TooLarge",
    "UnknownWorker",
    "UsageError",
    "Verdict",
    "Workspace",
    "admit",
    "canonical",
    "compose",
    "decode",
    "fallback",
    "key",
    "ordered",
    "parse_public_key",
    "pointer",
    "public_key_text",
    "reduce",
    "verify",
]
