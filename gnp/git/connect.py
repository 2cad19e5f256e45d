"""Opening a hub by where it is: a path to its bare repository, or a git URL."""

from __future__ import annotations

import re
from pathlib import Path

from gnp.git.hub import Hub
from gnp.git.remote import RemoteHub


def is_url(location: str) -> bool:
    """A git URL (``file://``, ``ssh://``, ``https://``, ``git://``, ``user@host:path``),
    as opposed to a path."""
    return "://" in location or re.match(r"[\w.-]+@[\w.-]+:", location) is not None


def open_hub(location: str | Path) -> Hub:
    """The hub at ``location``: a path to its bare repository, or a git URL, which this
    process reaches through a mirror of its own (:mod:`gnp.git.remote`)."""
    if isinstance(location, str) and is_url(location):
        return RemoteHub.open_url(location)
    return Hub.at(location)
