"""Where gnp keeps one user's things (keys, local repositories, mirrors, the relay's
socket): ``$GNP_HOME``, by default ``~/.gnp``. Standard library only, since a relayed
``gnp submit`` reads it before anything else is loaded."""

from __future__ import annotations

import os


def folder() -> str:
    return os.environ.get("GNP_HOME") or os.path.join(os.path.expanduser("~"), ".gnp")
