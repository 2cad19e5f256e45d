"""Serving the relay, ``gnp relay``: see :mod:`gnp_cli.relay` for what it is and why.

Each connection is one request, handled on a thread of its own with a hub opened for
it, so every request reads ``main`` afresh and a slow push to a remote hub holds up no
one else. The relay keeps no state between requests. On SIGTERM or Ctrl-C it stops
taking connections, finishes the requests it is submitting, and removes its socket.

A request has a deadline: its caller sends it whole within :data:`REQUEST_DEADLINE` of
connecting, or it is refused, with one line saying so; a caller that trickles a byte at
a time holds a thread that long and no longer. A stop does not wait for that deadline:
a request still being read when the relay is told to stop is refused at once (within
:data:`STOP_CHECK` seconds), since nothing of it has been submitted yet.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from gnp.core.errors import GnpError, UsageError, explain
from gnp.core.inert import inert
from gnp.git.address import redact
from gnp.git.connect import is_url, open_hub
from gnp.git.submit import submit_json
from gnp.host.keys import private_folder
from gnp_cli import relay

# Longest path a Unix socket can be bound to (sun_path is 108 bytes with its NUL).
MAX_SOCKET_PATH = 107
# A caller sends its request as soon as it connects (``gnp submit`` sends it in one
# write): the whole request, header and data, must arrive within this many seconds.
REQUEST_DEADLINE = 30.0
STOP_CHECK = 0.25  # how often a request being read looks whether the relay is stopping


def answer(hub: str, cwd: str, worker: str, data: bytes) -> dict[str, object]:
    """What the relay answers one request: the delta id, or the error the command prints."""
    location = hub if is_url(hub) else os.path.join(cwd, hub)
    try:
        return {"id": submit_json(open_hub(location), worker, data)}
    except GnpError as exc:
        return {"error": inert(redact(explain(exc))), "status": 1}  # the command prints it
    except Exception as exc:  # a bug or a broken environment: answer, log, keep serving
        traceback.print_exc()
        failed = redact(f"the relay failed: {type(exc).__name__}: {exc}")
        return {"error": inert(failed), "status": 1}


class _Request(socketserver.BaseRequestHandler):
    server: Relay
    request: socket.socket

    def handle(self) -> None:
        conn = self.request
        if relay.peer_uid(conn) not in (None, os.getuid()):
            refusal = f"this relay serves only uid {os.getuid()}; nothing was submitted"
            self._answer({"error": refusal})
            return
        try:
            read = _read_request(conn, self.server.stopping)
        except _Unread as exc:
            self._answer({"error": f"{exc}; nothing was submitted", "status": 1})
            return
        except ValueError as exc:
            self._answer({"error": f"bad relay request: {exc}"})
            return
        if read is None:
            return  # a caller that gave up: submit nothing, it submits itself
        hub, cwd, worker, data = read
        conn.settimeout(None)  # the submit may push to a remote hub
        reply = answer(hub, cwd, worker, data)
        self.server.log(
            f"submitted {reply['id']} for {worker}"
            if "id" in reply
            else f"refused a request from {worker}: {reply['error']}"
        )
        self._answer(reply)

    def _answer(self, reply: dict[str, object]) -> None:
        with contextlib.suppress(OSError):  # a caller that went away
            self.request.settimeout(STOP_CHECK * 4)
            self.request.sendall(relay.answer_line(reply))


class _Unread(Exception):
    """The request did not arrive whole in time, or the relay is stopping."""


def _read_request(
    conn: socket.socket, stopping: threading.Event
) -> tuple[str, str, str, bytes] | None:
    """The request on ``conn``, read within :data:`REQUEST_DEADLINE`; None if the caller
    closed it first. A bad header raises ValueError, a deadline or a stop :class:`_Unread`."""
    deadline = time.monotonic() + REQUEST_DEADLINE
    buffer = bytearray()

    def more() -> bool:
        while True:
            if stopping.is_set():
                raise _Unread("the relay is stopping")
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Unread(f"the request did not arrive whole within {REQUEST_DEADLINE:g} s")
            conn.settimeout(min(left, STOP_CHECK))
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return False
            buffer.extend(chunk)
            return bool(chunk)

    while b"\n" not in buffer:
        if len(buffer) > relay.MAX_HEADER or not more():
            return None
    line, _, rest = bytes(buffer).partition(b"\n")
    hub, cwd, worker, size = _fields(relay.read_header(line))
    buffer[:] = rest
    while len(buffer) < size:
        if not more():
            return None
    return hub, cwd, worker, bytes(buffer[:size])


def _fields(header: dict[str, object]) -> tuple[str, str, str, int]:
    hub, cwd, worker, size = (header.get(k) for k in ("hub", "cwd", "worker", "size"))
    if not (isinstance(hub, str) and isinstance(cwd, str) and isinstance(worker, str)):
        raise ValueError("hub, cwd and worker must be strings")
    if type(size) is not int or not 0 <= size <= relay.MAX_REQUEST:  # true is no size
        raise ValueError(f"size must be a whole number of bytes up to {relay.MAX_REQUEST}")
    return hub, cwd, worker, size


class Relay(socketserver.ThreadingUnixStreamServer):
    daemon_threads = False  # finish the requests in hand before exiting
    block_on_close = True

    def __init__(self, path: str, log: Callable[[str], None]) -> None:
        self.log = log
        self.stopping = threading.Event()  # set: requests still being read are refused
        super().__init__(path, _Request)


def serve(
    path: str | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM or Ctrl-C; ``path`` defaults to ``$GNP_HOME/relay.sock``."""
    path = path or relay.socket_path()
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    with _bound(path, say) as server, _stopped_by_sigterm():
        say(f"relay listening on {path} (pid {os.getpid()}); Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    say("relay stopped")


@contextlib.contextmanager
def _bound(path: str, log: Callable[[str], None]) -> Iterator[Relay]:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise UsageError(
            f"{path} is too long for a Unix socket ({MAX_SOCKET_PATH} bytes at most); "
            "set a shorter GNP_HOME"
        )
    folder = os.path.dirname(path)
    private_folder(Path(folder))
    with _held(os.path.join(folder, relay.LOCK_NAME), path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # left by a relay that was killed: the lock says none runs
        with _listening(path, log) as server:
            yield server


@contextlib.contextmanager
def _held(lock_path: str, path: str) -> Iterator[None]:
    """The relay's lock, held for its lifetime: one relay per socket, even when two
    start at the same moment."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"a relay is already running on {path}") from None
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _listening(path: str, log: Callable[[str], None]) -> Iterator[Relay]:
    old = os.umask(0o177)  # the socket is born 0600: no moment when others may connect
    try:
        server = Relay(path, log)
    finally:
        os.umask(old)
    ours = os.stat(path).st_ino
    try:
        yield server
    finally:
        server.stopping.set()  # before waiting for the requests in hand: see the module doc
        server.server_close()
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == ours:  # not a newer relay's socket
                os.unlink(path)


@contextlib.contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
