"""The clock and the randomness a new delta is stamped with.

The core reads neither (:class:`gnp.core.delta.Stamp`, :class:`gnp.core.admit.Terms`):
the shells that make deltas, and the engine, take them from here, and a test or a
replay passes its own.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from gnp.core.delta import Stamp, format_utc


def now() -> str:
    """Now, to the microsecond, written as a delta's ``utc`` is: the reading the engine
    holds a frame's deltas to."""
    return format_utc(datetime.now(UTC))


def stamp(nonce: str | None = None) -> Stamp:
    """Now, to the microsecond, and 128 fresh random bits; or ``nonce`` instead of them,
    when the caller chose it (a frame's token for one roster worker's run:
    :mod:`gnp.git.attempts`)."""
    return Stamp(now(), nonce or secrets.token_hex(16))
