"""gnp: the Good Neighbor Protocol.

Many workers (agents, cron jobs, people) change one canonical JSON state kept in git
without losing each other's work: each writes a signed delta, never state, and a merge
engine applies a frame's deltas in composite-key order, resolving conflicts by
authority and recording every verdict.

This package is the protocol core (pure: no I/O, no git, no Prefect) and, beside it,
the git shell and the command line.
"""

from __future__ import annotations

import importlib as _importlib
import sys as _sys
import types as _types

# Not ``typing.TYPE_CHECKING``: importing typing costs a relayed ``gnp submit`` about
# 4 ms of its 45. Type checkers treat any constant of this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
    from .reduce import FrameResult, reduce
    from .signing import Keyring, SigningKey, parse_public_key, public_key_text, verify
    from .verdict import Outcome, Verdict

# Names are loaded on first use, so that a command that needs one small module (``gnp
# submit`` handing its request to a relay) does not pay for the whole core and its
# crypto library at start-up.
_HOME = {
    "canonical": "",
    "pointer": "",
    "admit": "admit",
    "Delta": "delta",
    "compose": "delta",
    "decode": "delta",
    "fallback": "delta",
    "ABSENT": "document",
    "Reader": "document",
    "Workspace": "document",
    "BadFile": "errors",
    "BadPointer": "errors",
    "BadSignature": "errors",
    "GnpError": "errors",
    "Malformed": "errors",
    "OpFailed": "errors",
    "PatchTestFailed": "errors",
    "Refused": "errors",
    "TooLarge": "errors",
    "UnknownWorker": "errors",
    "UsageError": "errors",
    "DEFAULT_LIMITS": "limits",
    "Limits": "limits",
    "Op": "ops",
    "key": "order",
    "ordered": "order",
    "FrameResult": "reduce",
    "Outcome": "verdict",
    "Verdict": "verdict",
    "reduce": "reduce",
    "Keyring": "signing",
    "SigningKey": "signing",
    "parse_public_key": "signing",
    "public_key_text": "signing",
    "verify": "signing",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'gnp' has no attribute {name!r}")
    if not home:
        return _importlib.import_module(f"{__name__}.{name}")
    value = getattr(_importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


class _Package(_types.ModuleType):
    """Keeps ``gnp.admit`` and ``gnp.reduce`` the functions: importing the submodules of
    those names would otherwise bind the modules over them."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, _types.ModuleType) and _HOME.get(name, "") != "":
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


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
