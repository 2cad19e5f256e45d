"""The relay: one resident process that submits deltas for short-lived ``gnp submit`` calls.

Theory of operation. A ``gnp submit`` command spends far longer starting Python and
loading git and crypto libraries (about 0.3 s) than submitting its delta (1-10 ms).
``gnp relay`` pays that once and listens on a Unix socket, ``$GNP_HOME/relay.sock``;
``gnp submit`` hands it the request and prints what it answers, loading only this
module. The relay runs the very code the command would (``gnp.submit.submit_json``,
the keys of the same ``GNP_HOME``), so it grants nothing the caller did not have: the
socket is mode 0600 inside the caller's own home, and the relay answers only peers of
its own uid.

Nothing is lost or doubled by it. When no relay answers the connection, the command
submits in-process, as if there were none. Once a request has been sent it is never
sent again: if the relay goes away before answering, the command says the delta may or
may not be in the inbox, since a second submission would be a second delta.

Wire format, one request per connection: a JSON header line ``{"hub", "cwd",
"worker", "size"}``, then ``size`` bytes of the request as the user wrote it; the
relay answers one JSON line, ``{"id": ...}`` or ``{"error": ..., "status": N}``.

This module uses the standard library only: it is what a relayed command loads.
"""

from __future__ import annotations

import json
import os
import socket
import sys

SOCKET_NAME = "relay.sock"
MAX_HEADER = 64 * 1024
# How long a command waits for an answer; a submit to a remote hub includes a push.
ANSWER_TIMEOUT = 300.0


class RelayLost(Exception):
    """The relay took the request but did not answer it."""


def home() -> str:
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


def connect(path: str | None = None) -> socket.socket | None:
    """A connection to the relay, or None if no relay takes connections."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path or socket_path())
    except OSError:
        # no socket, one a dead relay left, or a GNP_HOME too deep for a socket's name
        conn.close()
        return None
    return conn


def request(conn: socket.socket, hub: str, worker: str, data: bytes) -> dict[str, object]:
    """Send one request on ``conn`` and return the relay's answer; closes ``conn``."""
    header = {"hub": hub, "cwd": os.getcwd(), "worker": worker, "size": len(data)}
    with conn:
        try:
            conn.settimeout(ANSWER_TIMEOUT)
            conn.sendall(json.dumps(header).encode() + b"\n" + data)
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
    header = json.loads(line)
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
    """The request's bytes from a file, or stdin for ``-``; OSError if unreadable."""
    if source == "-":
        return sys.stdin.buffer.read()
    with open(source, "rb") as f:
        return f.read()


def submit_command(args: list[str]) -> int | None:
    """``gnp submit`` through a running relay: the exit status, or None when the command
    should run in-process (no relay, or arguments it leaves to the full command line).

    It connects before reading the request, so that stdin is still unread whenever it
    returns None."""
    parsed = parse_submit(args)
    if parsed is None:
        return None
    conn = connect()
    if conn is None:
        return None
    hub, worker, source = parsed
    try:
        data = read_source(source)
    except OSError:
        conn.close()
        return None  # the in-process command says what is wrong with the file
    try:
        answer = request(conn, hub, worker, data)
    except RelayLost as exc:
        print(f"gnp: {exc}", file=sys.stderr)
        return 1
    if isinstance(answer.get("id"), str):
        print(answer["id"])
        return 0
    print(f"gnp: {answer.get('error', 'the relay answered without an id')}", file=sys.stderr)
    status = answer.get("status", 1)
    return status if isinstance(status, int) and status > 0 else 1
