"""The resident Prefect server: one ``prefect server start`` on loopback that ``gnp server
start`` leaves running, so that later commands run their flows on it instead of paying
for a server of their own (:mod:`gnp_cli.server`, 6-20 s a command).

Theory of operation.

* One record, ``$GNP_HOME/server.json``: the server's pid, the kernel's start time of
  that pid, its port and its log. It is written whole (a temporary file of mode 0600
  moved into place), as soon as the process exists, so that a server whose ``start``
  was killed while it waited is still found, and stopped, by the next command.
* A record is believed only while its pid runs, is the process that started at the
  recorded time (a pid handed out again to another process is not the server) and runs
  Prefect's server. Otherwise it is stale: ``status`` says so, ``start`` replaces it,
  ``stop`` removes it and signals nothing. No signal ever goes to a process that is not
  the server.
* ``start`` and ``stop`` hold ``$GNP_HOME/server.lock``: two at once cannot start two
  servers, nor stop one that is being started.
* The server runs in a session of its own, its output in ``$GNP_HOME/server.log``: it
  outlives the command, and neither a terminal's Ctrl-C nor its hangup reaches it. An
  interrupted or failed ``start`` stops what it started, and removes its record.
* A command that runs flows (:func:`gnp_cli.runs.session`) uses the server when
  ``PREFECT_API_URL`` is unset and the server answers its health check; otherwise it
  does what it did without one.

The server is Prefect's own, with the settings in force (its database included: the
default profile's, in ``~/.prefect``, unless configured), plus gnp's batched task run
recording (:data:`gnp_cli.runs.FRAME_SERVER`) unless those were chosen.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gnp.core.errors import GnpError, UsageError
from gnp.host import files, keys, locks
from gnp.process.proc import process_start, running, session_members
from gnp_cli.runs import FRAME_SERVER
from gnp_cli.server import free_port

RECORD = "server.json"
LOG = "server.log"
LOCK = "server.lock"
HOST = "127.0.0.1"
DEFAULT_PORT = 4200  # Prefect's own default: its UI where Prefect's documentation says
STOP_SECONDS = 30.0  # a server still running this long after SIGTERM is killed
_HEALTH_SECONDS = 2.0
_PROGRESS_EVERY = 5.0
_WHERE = ("--host", HOST, "--port")


@dataclass(frozen=True, slots=True)
class Resident:
    """What the record says of a server gnp started."""

    pid: int
    started: str | None  # the kernel's start time of ``pid``; None where there is no /proc
    port: int
    log: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/api"

    @property
    def ui(self) -> str:
        return f"http://{HOST}:{self.port}"

    def to_json(self) -> dict[str, object]:
        return {"pid": self.pid, "started": self.started, "port": self.port, "log": self.log}

    @classmethod
    def from_json(cls, value: object) -> Resident:
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        pid, started, port, log = (value.get(k) for k in ("pid", "started", "port", "log"))
        if not (isinstance(pid, int) and pid > 0 and isinstance(port, int) and 0 < port < 65536):
            raise ValueError("no pid or port")
        if not (started is None or isinstance(started, str)) or not isinstance(log, str):
            raise ValueError("a field of the wrong type")
        return cls(pid, started, port, log)


@dataclass(frozen=True, slots=True)
class Status:
    """What runs: ``server`` when the record's server runs (``answering`` when it passed
    its health check too); ``stale``, why, when the record names no server any more."""

    server: Resident | None
    answering: bool
    stale: str | None


def home() -> Path:
    return keys.private_folder(keys.home())


def record_path() -> Path:
    return keys.home() / RECORD


def status() -> Status:
    """The resident server, as the record and the processes say (no lock: a look)."""
    found = _read()
    if found is None:
        return Status(None, False, None)
    if isinstance(found, str):
        return Status(None, False, found)
    if not _is_server(found):
        return Status(None, False, f"pid {found.pid} is not gnp's Prefect server any more")
    return Status(found, _healthy(found.url), None)


def answering_url() -> str | None:
    """The resident server's API URL if it runs and answers, else None: what a command
    that runs flows asks, so a quick look (no record: one stat)."""
    found = _read()
    if not isinstance(found, Resident) or not _is_server(found) or not _healthy(found.url):
        return None
    return found.url


@dataclass(frozen=True, slots=True)
class Started:
    server: Resident
    already: bool  # it was running: nothing was started
    answering: bool  # it passed its health check (a server already running may not, yet)


def start(port: int, timeout: float, progress: Callable[[str], None]) -> Started:
    """Start the resident server on ``port`` (0: any free port), unless one runs; wait
    until it answers, telling ``progress`` how it goes, for at most ``timeout`` seconds."""
    with locks.held(home() / LOCK):
        now = status()
        if now.server is not None:
            return Started(now.server, True, now.answering)
        if now.stale is not None:
            progress(f"replacing a stale record: {now.stale}")
            record_path().unlink(missing_ok=True)
        chosen = port or free_port()
        _check_free(chosen)
        server = _launch(chosen, progress)
        try:
            _wait_healthy(server, timeout, progress)
        except BaseException:  # a failure, a timeout, a Ctrl-C: leave nothing running
            _terminate(server)
            record_path().unlink(missing_ok=True)
            raise
        return Started(server, False, True)


@dataclass(frozen=True, slots=True)
class Stopped:
    server: Resident | None  # the server that was stopped, if one ran
    stale: str | None  # why the record it removed was stale, if it was


def stop() -> Stopped:
    """Stop the resident server, if one runs, and wait until it has ended."""
    with locks.held(home() / LOCK):
        now = status()
        if now.server is not None:
            _terminate(now.server)
        record_path().unlink(missing_ok=True)
        return Stopped(now.server, now.stale)


# The record -----------------------------------------------------------------------------


def _read() -> Resident | str | None:
    """The record; None if there is none; why not, if it cannot be read or is not a
    record (it names no server, so it is stale)."""
    path = record_path()
    try:
        data = files.read_bounded(path, 4096, follow=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return f"{path} cannot be read: {getattr(exc, 'strerror', None) or exc}"
    try:
        return Resident.from_json(json.loads(data))
    except ValueError:  # a JSON error's message says nothing to the user
        return f"{path} is not a record gnp wrote"


def _write(server: Resident) -> None:
    path = record_path()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
    with os.fdopen(fd, "w") as f:
        json.dump(server.to_json(), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # a reader sees the old record or the new, never half of one


# The process ----------------------------------------------------------------------------


def _is_server(server: Resident) -> bool:
    """Whether the record's pid is still the server gnp started (module doc)."""
    if server.pid <= 0 or not running(server.pid, server.started):
        return False
    try:
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False  # it ended since
    except OSError:
        return server.started is None  # no /proc: the signal's answer is all there is
    return b"prefect" in argv and b"server" in argv and b"start" in argv


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=_HEALTH_SECONDS) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def _check_free(port: int) -> None:
    """Refuse a port something listens on, saying what to do (Prefect would only say
    that it is taken, in a log the user has to open)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Prefect binds it
        try:
            s.bind((HOST, port))
            return
        except OSError:
            pass
    url = f"http://{HOST}:{port}/api"
    other = (
        f" (a Prefect server answers there: set PREFECT_API_URL={url} to use it)"
        if _healthy(url)
        else ""
    )
    raise UsageError(
        f"port {port} on {HOST} is in use{other}; "
        "choose another with --port N, or --port 0 for any free one"
    )


def _launch(port: int, progress: Callable[[str], None]) -> Resident:
    folder = home()
    log = folder / LOG
    # It outlives this command: not the work of a gnp run it may be started from, whose
    # end stops all that carries its marks (gnp.process.proc.stop_marked).
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("GNP_WORKTREE", "GNP_WORKER", "GNP_HUB")
        and not name.startswith("GNP_WORK_")
    }
    for name, value in {**FRAME_SERVER, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}.items():
        env.setdefault(name, value)
    # Its own API, not one PREFECT_API_URL names: its UI tells browsers to call this.
    env["PREFECT_API_URL"] = f"http://{HOST}:{port}/api"
    progress(f"starting a Prefect server at http://{HOST}:{port} (10-20 s); its log: {log}")
    with log.open("wb") as out:
        os.fchmod(out.fileno(), 0o600)
        process = subprocess.Popen(
            # -P: not the current folder first on the path, where a project's own
            # flows/ package would be found instead of ours.
            [sys.executable, "-P", "-m", "prefect", "server", "start", *_WHERE, str(port)],
            env=env,
            cwd=folder,  # a folder that stays: the one it was started from may not
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command, out of its terminal's reach
        )
    server = Resident(process.pid, process_start(process.pid), port, str(log))
    try:
        _write(server)
    except BaseException:
        _terminate(server)
        raise
    return server


def _wait_healthy(server: Resident, timeout: float, progress: Callable[[str], None]) -> None:
    begun = time.monotonic()
    told = begun
    while not _healthy(server.url):
        if not running(server.pid, server.started):
            raise GnpError(
                f"the Prefect server exited before it answered: {_last_line(server.log)} "
                f"(its log: {server.log})"
            )
        now = time.monotonic()
        if now - begun > timeout:
            raise GnpError(
                f"the Prefect server did not answer in {timeout:g} s; see its log "
                f"{server.log}, or give it longer with --timeout"
            )
        if now - told >= _PROGRESS_EVERY:
            told = now
            progress(f"waiting for the Prefect server to answer ({now - begun:.0f} s)")
        time.sleep(0.25)


def _terminate(server: Resident) -> None:
    """SIGTERM to the server's process group, SIGKILL after :data:`STOP_SECONDS`; return
    once the server has ended, and whatever it started with it. The group and session
    are its own (started so), so nothing else is signalled."""
    _signal_group(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while running(server.pid, server.started) and time.monotonic() < deadline:
        time.sleep(0.1)
    if running(server.pid, server.started):
        _signal_group(server.pid, signal.SIGKILL)
        while running(server.pid, server.started):
            time.sleep(0.05)
    for pid in session_members(server.pid):  # what it started and left behind
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _last_line(log: str) -> str:
    with contextlib.suppress(OSError):
        text = Path(log).read_bytes()[-4096:].decode("utf-8", "replace")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return "it said nothing"
