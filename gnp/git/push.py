"""One push with its per-ref result checked.

libgit2 raises only on transport errors; a ref the remote refuses (not a fast-forward,
a hook said no) is reported through a callback, and a push whose ref is never reported
did not land. Every push in gnp goes through here, answering the host's questions
through :mod:`gnp.git.credentials`.
"""

from __future__ import annotations

import pygit2

from gnp.git.address import Address
from gnp.git.credentials import answering

UNREPORTED = "the hub did not report on the ref; it may not have landed"


def push(remote: pygit2.Remote, refspec: str, target: str, address: Address) -> str | None:
    """None if the remote took ``target``, else its reason. Transport errors raise, and so
    does :class:`~gnp.git.credentials.HostRefused`."""
    with answering(address) as answers:
        remote.push([refspec], callbacks=answers)
    if target not in answers.results:
        return UNREPORTED
    return answers.results[target]
