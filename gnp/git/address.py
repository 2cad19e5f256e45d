"""A hub's URL, split into what may be kept and what may not.

Theory of operation: a URL may carry a secret in its userinfo
(``https://user:token@host/hub.git``). gnp keeps such a secret in memory only: the URL
it stores (a mirror's remote, the name of the mirror's folder), hashes, hands to
libgit2 or prints is :attr:`Address.url`, the URL without it. libgit2 therefore never
sees the secret in a URL, so none of its messages can carry it either; the secret
reaches the host only through :mod:`gnp.git.credentials`.

What is secret depends on the transport. Over HTTP(S) the whole userinfo is (a token
is often sent as the user name alone); over SSH the user name is not (``git@host``
names the account to log in to, and the host needs it), only a password is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_SCP_LIKE = re.compile(r"(?:(?P<user>[\w.-]+)@)?(?P<host>[\w.-]+):(?P<path>(?!//).*)")
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+")


@dataclass(frozen=True, slots=True)
class Address:
    """Where a hub is. ``url`` holds no secret; ``username`` and ``password`` are what
    the URL's userinfo said, for this process to offer the host."""

    url: str
    scheme: str  # "ssh" for scp-like ``user@host:path`` too
    host: str  # with ``:port`` if the URL named one
    path: str
    username: str | None = None
    password: str | None = None

    @property
    def ssh(self) -> bool:
        return self.scheme in ("ssh", "ssh+git", "git+ssh")

    @property
    def http(self) -> bool:
        return self.scheme in ("http", "https")

    def __repr__(self) -> str:  # never the password, even in a traceback
        return f"Address({self.url!r})"


def parse(url: str) -> Address:
    """The address ``url`` names, its secret apart."""
    if "://" not in url:
        scp = _SCP_LIKE.fullmatch(url)
        if scp is None:  # a path: nothing to split
            return Address(url, "file", "", url)
        return Address(url, "ssh", scp["host"], scp["path"], username=scp["user"])
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user_text, colon, password_text = userinfo.partition(":")
    username = unquote(user_text) if at and user_text else None
    password = unquote(password_text) if colon else None
    kept = f"{user_text}@" if username and scheme in ("ssh", "ssh+git", "git+ssh") else ""
    clean = parts._replace(netloc=kept + hostport).geturl()
    return Address(clean, scheme, hostport, parts.path, username=username, password=password)


def clean(url: str) -> str:
    """``url`` without its secret: what may be stored and printed."""
    return parse(url).url


def redact(text: str) -> str:
    """``text`` with every URL in it cleaned of its secret (for messages and logs)."""
    return _URL_IN_TEXT.sub(lambda m: clean(m.group()), text)
