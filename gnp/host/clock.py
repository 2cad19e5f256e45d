"""The clock and the randomness a new delta is stamped with.

The core reads neither (:class:`gnp.core.delta.Stamp`): the shells that make deltas
take them from here, and a test or a replay passes its own.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from gnp.core.delta import Stamp, format_utc


def stamp() -> Stamp:
    """Now, to the microsecond, and 128 fresh random bits."""
    return Stamp(format_utc(datetime.now(UTC)), secrets.token_hex(16))
