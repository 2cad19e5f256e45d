"""Admission: raw bytes from an inbox -> a delta the engine may reduce, or a refusal.

Everything a worker pushes passes here first: size and nesting bounds, strict JSON,
the delta's schema and file paths (:func:`gnp.core.delta.decode`), then its signature against
the keyring on ``main`` (:func:`gnp.core.signing.verify`). Whatever raises is refused with its
reason; whatever returns is safe to hand to :func:`gnp.core.reduce.reduce`.

A delta that is admitted is then held to its :class:`Terms` (:func:`within`): its
worker's grant (:mod:`gnp.core.grants`) and a window around the engine's clock
(:func:`check_clock`). The engine passes its clock reading in and records it with the
frame, so that a replay, days later, holds the frame's deltas to the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from gnp.core import grants
from gnp.core.delta import Delta, decode, moment
from gnp.core.errors import OffClock
from gnp.core.grants import Grants
from gnp.core.limits import DEFAULT_LIMITS, Limits
from gnp.core.signing import Keyring, verify

_MICROSECOND = timedelta(microseconds=1)


def admit(data: bytes, keyring: Keyring, limits: Limits = DEFAULT_LIMITS) -> Delta:
    """The verified delta in ``data``; raises :class:`~gnp.core.errors.Refused` saying why not."""
    delta = decode(data, limits)
    verify(delta, keyring)
    return delta


@dataclass(frozen=True, slots=True)
class Terms:
    """What a frame holds its signed deltas to: the grants on its base commit, and the
    engine's clock reading (written as a delta's ``utc`` is)."""

    grants: Grants
    clock: str

    def __post_init__(self) -> None:
        moment(self.clock)  # a reading that is not a moment is a bug, not a refusal


def within(delta: Delta, terms: Terms, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise :class:`~gnp.core.errors.OverGrant` or :class:`OffClock` unless ``delta``
    keeps its worker's grant and its ``utc`` lies in the window around the clock."""
    grants.check(delta, terms.grants.of(delta.worker))
    check_clock(delta.utc, terms.clock, limits)


def check_clock(utc: str, clock: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise :class:`OffClock` unless ``utc`` lies from ``limits.max_utc_behind`` seconds
    before ``clock`` to ``limits.max_utc_ahead`` seconds after it, both included."""
    # Whole microseconds, as integers: any two moments compare exactly, and a window of
    # any size is a number, never a timedelta that overflows.
    offset = (moment(utc) - moment(clock)) // _MICROSECOND
    ahead, behind = limits.max_utc_ahead * 1_000_000, limits.max_utc_behind * 1_000_000
    if offset > ahead:
        raise OffClock(
            f"utc {utc} is {_span(offset)} ahead of the engine's clock ({clock}), more than "
            f"the {_span(ahead)} the hub allows (max_utc_ahead): check the worker's clock"
        )
    if -offset > behind:
        raise OffClock(
            f"utc {utc} is {_span(-offset)} behind the engine's clock ({clock}), more than "
            f"the {_span(behind)} the hub allows (max_utc_behind): make the change again"
        )


def _span(micros: int) -> str:
    """``1 day, 0:00:00.000001``: a stretch of time as Python writes it."""
    days, rest = divmod(micros, 86_400_000_000)
    if days >= 10**6:  # past what a timedelta holds
        return f"{days} days"
    return str(timedelta(days=days, microseconds=rest))
