"""Admission: raw bytes from an inbox -> a delta the engine may reduce, or a refusal.

Everything a worker pushes passes here first: size and nesting bounds, strict JSON,
the delta's schema and file paths (:func:`gnp.core.delta.decode`), then its signature against
the keyring on ``main`` (:func:`gnp.core.signing.verify`). Whatever raises is refused with its
reason; whatever returns is safe to hand to :func:`gnp.core.reduce.reduce`.
"""

from __future__ import annotations

from gnp.core.delta import Delta, decode
from gnp.core.limits import DEFAULT_LIMITS, Limits
from gnp.core.signing import Keyring, verify


def admit(data: bytes, keyring: Keyring, limits: Limits = DEFAULT_LIMITS) -> Delta:
    """The verified delta in ``data``; raises :class:`~gnp.core.errors.Refused` saying why not."""
    delta = decode(data, limits)
    verify(delta, keyring)
    return delta
