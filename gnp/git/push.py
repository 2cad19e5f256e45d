"""One push with its per-ref result checked.

libgit2 raises only on transport errors; a ref the remote refuses (not a fast-forward,
a hook said no) is reported through a callback, and a push whose ref is never reported
did not land. Every push in gnp goes through here.
"""

from __future__ import annotations

import pygit2


class _Results(pygit2.RemoteCallbacks):
    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, str | None] = {}

    def push_update_reference(self, refname: str, message: str | None) -> None:
        self.results[refname] = message


UNREPORTED = "the hub did not report on the ref; it may not have landed"


def push(remote: pygit2.Remote, refspec: str, target: str) -> str | None:
    """None if the remote took ``target``, else its reason. Transport errors raise."""
    callbacks = _Results()
    remote.push([refspec], callbacks=callbacks)
    if target not in callbacks.results:
        return UNREPORTED
    return callbacks.results[target]
