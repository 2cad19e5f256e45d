"""How a verdict's reason names a place in a state file.

Theory of operation: reasons are archived in each frame's ``verdicts.json``, and replay
must rebuild that file byte for byte, so the words a reason uses are part of what a frame
did. When the wording changes, a frame records the wording its reasons use (the git
layer writes it as the commit's ``Gnp-Wording`` trailer) and replay words its reasons
the same way; a frame that records none used :data:`FIRST`.

* 1: a place is ``file:pointer``, the whole document ``file:/``, which is also how the
  key ``""`` at the top of a document is written.
* 2: the whole document is ``file (whole document)``; every other place is as in 1, so
  ``file:/`` is only ever the key ``""``.

Failures are raised in the current wording, with their operation (``Refused.op``), and
:func:`reword` puts the start of such a reason, which names that operation's place, in
an older wording.
"""

from __future__ import annotations

from typing import Final

from gnp.core.errors import Malformed

FIRST: Final = 1
CURRENT: Final = 2
KNOWN: Final = frozenset({1, 2})


def place(file: str, path: str, wording: int = CURRENT) -> str:
    """``path`` (a JSON Pointer) in ``file``, as a reason of ``wording`` names it."""
    if path == "" and wording >= 2:
        return f"{file} (whole document)"
    return f"{file}:{path or '/'}"


def reword(reason: str, op: str, file: str, path: str, wording: int) -> str:
    """``reason``, which opens with ``op`` at its place in the current wording, in
    ``wording``. Anything else is returned as it is."""
    now = f"{op} {place(file, path)}"
    if wording == CURRENT or not reason.startswith(now):
        return reason
    return f"{op} {place(file, path, wording)}{reason[len(now) :]}"


def parse(text: str) -> int:
    """A recorded wording; raises :class:`Malformed` for one this gnp does not know."""
    if not text.isdigit() or not text.isascii() or int(text) not in KNOWN:
        known = ", ".join(map(str, sorted(KNOWN)))
        raise Malformed(f"wording {text[:20]!r} is not one this gnp knows ({known})")
    return int(text)
