"""gnp: the Good Neighbor Protocol.

Many workers (agents, cron jobs, people) change one canonical JSON state kept in git
without losing each other's work: each writes a signed delta, never state, and a merge
engine applies a frame's deltas in composite-key order, resolving conflicts by
authority and recording every verdict.

This package is the protocol core (pure: no I/O, no git, no Prefect) and, beside it,
the git shell and the command line.
"""

from __future__ import annotations

from . import canonical, pointer
from .admit import admit
from .delta import Delta, compose, decode, fallback
from .document import ABSENT, Reader, Workspace
from .errors import (
    BadFile,
    BadPointer,
    BadSignature,
    GnpError,
    Malformed,
    OpFailed,
    PatchTestFailed,
    Refused,
    TooLarge,
    UnknownWorker,
    UsageError,
)
from .limits import DEFAULT_LIMITS, Limits
from .ops import Op
from .order import key, ordered
from .reduce import FrameResult, Outcome, Verdict, reduce
from .signing import Keyring, SigningKey, parse_public_key, public_key_text, verify

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
    "Keyring",
    "Limits",
    "Malformed",
    "Op",
    "OpFailed",
    "Outcome",
    "PatchTestFailed",
    "Reader",
    "Refused",
    "SigningKey",
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
