"""How gnp answers a git host that asks who it is, the way git does.

Theory of operation: every fetch and push gnp makes to a hub at a URL goes through
:func:`answering`, whose callbacks libgit2 calls when the host asks for credentials and
when it shows its host key or certificate.

* SSH: the key named in ``$GNP_SSH_KEY`` if set, then every key in ``ssh-agent``
  (``$SSH_AUTH_SOCK``), then the default key files ``~/.ssh/id_ed25519``,
  ``~/.ssh/id_ecdsa``, ``~/.ssh/id_rsa``. The host key must be the one
  ``~/.ssh/known_hosts`` holds for the host (libgit2 checks it there): an unknown or
  changed host key is refused, never learnt.
* HTTP(S): the password or token in the URL (kept in memory, :mod:`gnp.git.address`),
  then ``$GNP_GIT_TOKEN`` (user: the URL's, else ``$GNP_GIT_USER``, else
  ``x-access-token``), then ``git credential fill``, so every credential helper the user
  configured answers, and ``GIT_ASKPASS``; without a terminal on stdin, git is told not
  to prompt. What a helper gave is approved to it after the operation succeeds and
  rejected as soon as the host refuses it, as git does.

libgit2 asks again after each refusal. Being asked again means the last offer was
refused: the next one is made, and when none is left (or after :data:`MAX_ASKS` asks)
the operation ends in one :class:`HostRefused` line that says what to fix, never a loop.
gnp writes none of these credentials anywhere; what worked is remembered in this
process's memory, per URL, and offered first next time.
"""

from __future__ import annotations

import base64
import getpass
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pygit2.enums import CredentialType

from gnp.core.errors import UsageError
from gnp.git.address import Address, parse

TOKEN = "GNP_GIT_TOKEN"
TOKEN_USER = "GNP_GIT_USER"
SSH_KEY = "GNP_SSH_KEY"
DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
MAX_ASKS = 8  # more offers than any host should need: past this, it is a loop

Credential = pygit2.Username | pygit2.UserPass | pygit2.Keypair


class HostRefused(UsageError):
    """The host refused every credential gnp could offer, or its key is not known."""


@dataclass(frozen=True, slots=True)
class Offer:
    source: str  # what it was, for the refusal: "ssh-agent", "~/.ssh/id_rsa", ...
    credential: Credential = field(repr=False)
    filled: dict[str, str] | None = field(default=None, repr=False)  # from git credential


_worked: dict[str, Offer] = {}  # per URL, in memory: offered first next time
_worked_lock = threading.Lock()


class Answers(pygit2.RemoteCallbacks):
    """One fetch's or push's callbacks: credentials, the host's key, and what a push's
    refs came to (``results``: ref -> None if taken, else the host's reason)."""

    def __init__(self, address: Address) -> None:
        super().__init__()
        self.address = address
        self.results: dict[str, str | None] = {}
        self._offers: Iterator[Offer] | None = None
        self._last: Offer | None = None
        self._tried: list[str] = []
        self._asks = 0
        self._user: str | None = None

    def credentials(
        self, url: str, username_from_url: str | None, allowed: CredentialType
    ) -> Credential:
        self._asks += 1
        user = self._user = username_from_url or self.address.username or _local_user()
        if allowed & CredentialType.USERNAME and not allowed & _OFFERED:
            return pygit2.Username(user)  # SSH asks for the user name first
        if self._last is not None:  # asked again: the host refused the last offer
            _forget(self.address, self._last)
        if self._asks > MAX_ASKS:
            raise self._refusal()
        if self._offers is None:
            self._offers = self._ssh(user) if allowed & _SSH else self._http(username_from_url)
        offer = next((o for o in self._offers if o.source not in self._tried), None)
        if offer is None:
            raise self._refusal()
        self._last = offer
        self._tried.append(offer.source)
        return offer.credential

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        if valid:
            return True
        name = self.address.host or host.decode(errors="replace")
        if self.address.ssh:
            hostname, _, port = name.rpartition(":") if name.count(":") == 1 else (name, "", "")
            scan = f"ssh-keyscan -p {port} {hostname}" if port else f"ssh-keyscan {hostname}"
            raise HostRefused(
                f"the ssh host key of {name} is not in ~/.ssh/known_hosts, or differs from "
                f"the one there: check it is the hub's host, then run '{scan} >> "
                "~/.ssh/known_hosts' (or ssh to it once by hand) and try again"
            )
        raise HostRefused(
            f"the TLS certificate of {name} does not verify: give git the CA that signed "
            "it (SSL_CERT_FILE), or use the host's proper name"
        )

    def push_update_reference(self, refname: str, message: str | None) -> None:
        self.results[refname] = message

    def succeeded(self) -> None:
        """The operation went through: remember what worked, tell the helper it did."""
        offer = self._last
        if offer is None:
            return
        with _worked_lock:
            known = _worked.get(self.address.url) is offer
            _worked[self.address.url] = offer
        if offer.filled is not None and not known:  # once per process, not once a push
            _git_credential("approve", offer.filled)

    # The offers, in order ------------------------------------------------------------

    def _remembered(self) -> Iterator[Offer]:
        with _worked_lock:
            offer = _worked.get(self.address.url)
        if offer is not None:
            yield offer

    def _ssh(self, user: str) -> Iterator[Offer]:
        yield from self._remembered()
        named = os.environ.get(SSH_KEY)
        if named:
            key = Path(named).expanduser()
            if not key.is_file():
                raise HostRefused(f"{SSH_KEY} names {key}, which is not a file; name a private key")
            kind = _key_kind(key)
            if kind == "public":
                raise HostRefused(
                    f"{SSH_KEY} names {key}, a public key: name the private key beside it "
                    f"({key.with_suffix('') if key.suffix == '.pub' else 'without .pub'})"
                )
            if kind is None:
                raise HostRefused(
                    f"{SSH_KEY} names {key}, which is not a private key gnp can offer (an "
                    "OpenSSH or PEM private key file, as ssh-keygen writes); name one"
                )
            if _encrypted(key):
                raise HostRefused(
                    f"{SSH_KEY} names {key}, which has a passphrase: add it to ssh-agent "
                    f"(ssh-add {key}) and unset {SSH_KEY}"
                )
            yield _keypair(user, key, named)
        if os.environ.get("SSH_AUTH_SOCK"):
            yield Offer("ssh-agent", pygit2.KeypairFromAgent(user))
        for name in DEFAULT_KEYS:
            key = Path.home() / ".ssh" / name
            usable = key.is_file() and _key_kind(key) == "private"
            if usable and not _encrypted(key):  # one with a passphrase: the agent's
                yield _keypair(user, key, f"~/.ssh/{name}")

    def _http(self, username_from_url: str | None) -> Iterator[Offer]:
        yield from self._remembered()
        user = self.address.username or username_from_url
        if self.address.password is not None:
            yield Offer("the URL's password", pygit2.UserPass(user or "", self.address.password))
        token = os.environ.get(TOKEN)
        if token:
            name = user or os.environ.get(TOKEN_USER) or "x-access-token"
            yield Offer(f"${TOKEN}", pygit2.UserPass(name, token))
        asked = {"url": self.address.url, **({"username": user} if user else {})}
        filled = _fill(self.address, asked)
        if filled is not None and "password" in filled:
            credential = pygit2.UserPass(filled.get("username", user or ""), filled["password"])
            yield Offer("git credential fill", credential, {**asked, **filled})

    def _refusal(self) -> HostRefused:
        where = self.address.url
        # Inside a `gnp run`'s work, gnp's own variables were kept out (gnp.process.run).
        withheld = (
            f" (the work of a gnp run does not get {TOKEN} or {SSH_KEY}: give it a "
            "credential of its own)"
            if os.environ.get("GNP_WORKTREE")
            else ""
        )
        if self.address.ssh:
            if not self._tried:
                return HostRefused(
                    f"gnp has no ssh key to offer {where}: add one to ssh-agent (ssh-add), "
                    f"make ~/.ssh/id_ed25519, or name one in {SSH_KEY}{withheld}"
                )
            return HostRefused(
                f"{where} refused every ssh key gnp offered ({', '.join(self._tried)}) for "
                f"user {self._user}: add your public key to that user's authorized_keys on "
                f"the host, or name the right key in {SSH_KEY}"
            )
        if not self._tried:
            return HostRefused(
                f"{where} asks for a user name and password: configure a git credential "
                f"helper (git config --global credential.helper ...), or set {TOKEN}{withheld}"
            )
        return HostRefused(
            f"{where} refused the credentials gnp offered ({', '.join(self._tried)}): fix "
            f"them (in your git credential helper, or {TOKEN}) and try again"
        )


_SSH = CredentialType.SSH_KEY
_OFFERED = CredentialType.SSH_KEY | CredentialType.USERPASS_PLAINTEXT


@contextmanager
def answering(address: Address) -> Iterator[Answers]:
    """Callbacks for one fetch or push to ``address``; ``succeeded`` when it went
    through without raising."""
    if address.ssh:
        # libgit2 reads known_hosts under its home folder, fixed when it loaded: this
        # process's user may have a HOME of its own by now.
        pygit2.settings.homedir = str(Path.home())
    answers = Answers(address)
    yield answers
    answers.succeeded()


def _keypair(user: str, key: Path, source: str) -> Offer:
    public = key.with_name(key.name + ".pub")
    # Without the .pub beside it, libssh2 derives the public key from the private one.
    return Offer(source, pygit2.Keypair(user, public if public.is_file() else None, key, ""))


_MAX_KEY_BYTES = 64 * 1024  # an RSA key of 16384 bits is under 13 KiB


def _key_kind(key: Path) -> str | None:
    """What ``key`` holds: ``"private"`` (shaped like an OpenSSH or PEM private key),
    ``"public"`` (an OpenSSH public key), or None (libssh2 would only say that it cannot
    read it)."""
    try:
        with key.open("rb") as f:
            head = f.read(_MAX_KEY_BYTES).decode("ascii", errors="replace")
    except OSError:
        return None
    if "-----BEGIN " in head and "PRIVATE KEY-----" in head:
        return "private"
    if head.startswith(("ssh-", "ecdsa-", "sk-")) and len(head.split()) >= 2:
        return "public"
    return None


def _encrypted(key: Path) -> bool:
    """Whether the private key file needs a passphrase (PEM's ``ENCRYPTED``, or an
    OpenSSH key whose cipher is not ``none``), which only ssh-agent can give."""
    try:
        text = key.read_text(errors="replace")
    except OSError:
        return False
    if "ENCRYPTED" in text:
        return True
    body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
    try:
        data = base64.b64decode(body)
    except ValueError:
        return False
    magic = b"openssh-key-v1\0"
    if not data.startswith(magic):
        return False
    size = int.from_bytes(data[len(magic) : len(magic) + 4], "big")
    return data[len(magic) + 4 : len(magic) + 4 + size] != b"none"


_fill_lock = threading.Lock()


def _fill(address: Address, asked: dict[str, str]) -> dict[str, str] | None:
    """``git credential fill``, one at a time: workers of a frame on threads ask once
    between them (what one learnt, the next is given), never prompting at once."""
    with _fill_lock:
        with _worked_lock:
            known = _worked.get(address.url)
        if known is not None and known.filled is not None:
            return known.filled
        return _git_credential("fill", asked)


def _forget(address: Address, refused: Offer) -> None:
    with _worked_lock:
        if _worked.get(address.url) is refused:
            del _worked[address.url]
    if refused.filled is not None:
        _git_credential("reject", refused.filled)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "git"


def _git_credential(action: str, fields: dict[str, str]) -> dict[str, str] | None:
    """Ask ``git credential ACTION``; for ``fill``, what it answered (None if it could
    not: no helper knew, and no prompt was allowed)."""
    env = dict(os.environ)
    if not sys.stdin.isatty():  # a run nobody watches: a prompt would wait forever
        env["GIT_TERMINAL_PROMPT"] = "0"
    request = "".join(f"{k}={v}\n" for k, v in fields.items()) + "\n"
    try:
        done = subprocess.run(
            ["git", "credential", action],
            input=request,
            capture_output=True,
            text=True,
            env=env,
            timeout=None if sys.stdin.isatty() else 120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    answer: dict[str, str] = {}
    for line in done.stdout.splitlines():
        key, eq, value = line.partition("=")
        if eq:
            answer[key] = value
    return answer


def into_environment(location: str) -> str:
    """``location`` without its secret, the secret moved into this process's environment
    (``$GNP_GIT_TOKEN``, ``$GNP_GIT_USER``), where this process and those it starts
    find it: for a hub location that is handed on, to a flow run's parameters say,
    which are stored."""
    from gnp.git.connect import is_url

    if not is_url(location):
        return location
    address = parse(location)
    if address.http and address.username is not None:
        os.environ[TOKEN_USER] = address.username
    if address.password is not None:
        os.environ[TOKEN] = address.password
    return address.url
