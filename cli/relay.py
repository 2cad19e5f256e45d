"""The relay: one resident process that submits deltas for short-lived ``gnp submit`` calls.

Theory of operation. A ``gnp submit`` command spends far longer starting Python and
loading git and crypto libraries (about 0.3 s) than submitting its delta (1-10 ms).
``gnp relay`` pays that once and listens on a Unix socket, ``$GNP_HOME/relay.sock``;
``gnp submit`` hands it the request and prints what it answers, loading only this
module. The relay runs the very code the command would (``gnp.git.submit.submit_json``,
the keys of the same ``GNP_HOME``), so it grants nothing the caller did not have: the
socket is mode 0600 inside the caller's own home, and the relay answers only peers of
its own uid.

Nothing is lost or doubled by it. The command reads its request first; when no relay of
its own user takes the connection, or the request cannot be sent whole, it submits
in-process, as if there were none (a relay submits nothing it has not read whole).
Once a request has been sent it is never sent again: if the relay goes away before
answering, the command says the delta may or may not be in the inbox, since a second
submission would be a second delta. The command checks the relay's uid too, so a
socket planted in a shared ``GNP_HOME`` learns nothing.

Wire format, one request per connection: a JSON header line ``{"hub", "cwd",
"worker", "size"}``, then ``size`` bytes of the request as the user wrote it; the
relay answers one JSON line, ``{"id": ...}`` or ``{"error": ..., "status": N}``.

This module uses the standard library only: it is what a relayed command loads.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys

SOCKET_NAME = "relay.sock"
LOCK_NAME = "relay.lock"
MAX_HEADER = 64 * 1024
# A request is a delta of at most the hub's byte limit; this only bounds what a relay
# reads before the hub's own limit can be checked. Larger ones are submitted in-process,
# which refuses them with that limit.
MAX_REQUEST = 64 * 1024 * 1024
# How long a command waits for an answer; a submit to a remote hub includes a push.
ANSWER_TIMEOUT = 300.0


class RelayLost(Exception):
    """The relay took the request but did not answer it."""


class Unreadable(Exception):
    """The request's source (a file, or stdin) could not be read."""


def home() -> str:
    """``$GNP_HOME``, or ``~/.gnp``, as :func:`gnp.host.keys.home` says, read here with the
    standard library alone (importing gnp would load the whole core)."""
    return os.environ.get("GNP_HOME") or os.path.join(os.path.expanduser("~"), ".gnp")


def socket_path() -> str:
    return os.path.join(home(), SOCKET_NAME)


def parse_submit(args: list[str]) -> tuple[str, str, str] | None:
    """(hub, worker, source) from ``gnp submit``'s arguments in their plain forms, or
    None for anything else (help, unknown options, mistakes), which the full command
    line then handles and explains."""
    options: dict[str, str] = {}
    sources: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            sources.extend(rest)
            break
        name, eq, value = arg.partition("=")
        if name in ("--hub", "--worker"):
            if not eq:
                value = next(rest, "")
            if not value or name in options:
                return None
            options[name] = value
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            sources.append(arg)
    if len(options) != 2 or len(sources) > 1:
        return None
    return options["--hub"], options["--worker"], sources[0] if sources else "-"


def peer_uid(conn: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (None where the system
    does not say: not Linux)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    uid: int = struct.unpack("3i", creds)[1]
    return uid


def connect(path: str | None = None) -> socket.socket | None:
    """A connection to a relay of this user, or None if there is none."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path or socket_path())
        uid = peer_uid(conn)
    except OSError:
        # no socket, one a dead relay left, or a GNP_HOME too deep for a socket's name
        conn.close()
        return None
    if uid is not None and uid != os.getuid():
        conn.close()  # whoever listens there is not this user: tell it nothing
        return None
    return conn


def request(
    conn: socket.socket, hub: str, cwd: str, worker: str, data: bytes
) -> dict[str, object] | None:
    """Send one request on ``conn`` and return the relay's answer, or None if the request
    did not reach the relay whole (so it cannot have been submitted). Closes ``conn``."""
    header = {"hub": hub, "cwd": cwd, "worker": worker, "size": len(data)}
    with conn:
        conn.settimeout(ANSWER_TIMEOUT)
        try:
            conn.sendall(json.dumps(header).encode() + b"\n" + data)
        except OSError:
            return None
        try:
            answer = _read_line(conn)
        except OSError:
            answer = None
    if answer is None:
        raise RelayLost(
            "the relay did not answer; the delta may or may not be in the inbox "
            "(look with 'git ls-remote HUB refs/gnp/inbox/*' before submitting again)"
        )
    try:
        value = json.loads(answer)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise RelayLost(f"the relay answered something unexpected: {answer[:200]!r}")
    return value


def read_header(line: bytes) -> dict[str, object]:
    try:
        header = json.loads(line)
    except RecursionError:  # nested too deep for the parser: not a header
        raise ValueError("a relay request header is a flat JSON object") from None
    if not isinstance(header, dict):
        raise ValueError("a relay request header is a JSON object")
    return header


def answer_line(answer: dict[str, object]) -> bytes:
    return json.dumps(answer).encode() + b"\n"


def _read_line(conn: socket.socket) -> bytes | None:
    chunks = []
    size = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)
        if size > MAX_HEADER:
            return None


def read_source(source: str) -> bytes:
    """The request's bytes from a file, or from stdin for ``-``."""
    if source == "-":
        if sys.stdin.isatty():  # else a forgotten pipe looks like a hang
            print("gnp: reading ops from stdin (end with Ctrl-D)", file=sys.stderr, flush=True)
        return sys.stdin.buffer.read()
    try:
        with open(source, "rb") as f:
            return f.read()
    except OSError as exc:
        raise Unreadable(f"cannot read {source}: {exc.strerror}") from None


def hand_over(hub: str, worker: str, data: bytes) -> int | None:
    """Submit through this user's relay and print what it answers, as ``gnp submit``
    does: the exit status, or None if the request did not reach a relay (no relay, one
    of another user, a request too large to relay, or no folder to resolve a relative
    hub against), and the caller should submit it in-process."""
    if len(data) > MAX_REQUEST:
        return None  # the in-process submit refuses it with the hub's own limit
    try:
        cwd = os.getcwd()
    except OSError:  # the folder was deleted: only an absolute hub means anything
        if not os.path.isabs(hub):
            return None
        cwd = "/"
    conn = connect()
    if conn is None:
        return None
    try:
        answer = request(conn, hub, cwd, worker, data)
    except RelayLost as exc:
        print(f"gnp: {exc}", file=sys.stderr)
        return 1
    if answer is None:
        return None
    if isinstance(answer.get("id"), str):
        print(answer["id"])
        return 0
    print(f"gnp: {answer.get('error', 'the relay answered without an id')}", file=sys.stderr)
    status = answer.get("status", 1)
    return status if isinstance(status, int) and status > 0 else 1
