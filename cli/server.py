"""A Prefect server for one ``gnp`` command, when none is configured.

Prefect would start its own embedded server for the command, as a child in the
command's process group. A Ctrl-C at the terminal reaches every process of that group,
so the server died with it, mid-frame: the frame stopped its workers and left their
fallbacks, and then spent minutes retrying a server that was gone before it could say
so. This one is the same server (the same application, in Prefect's ephemeral mode,
with the same settings), started in a session of its own, so that an interrupt reaches
gnp alone; gnp stops it when the command ends, and on Linux it also ends if gnp is
killed outright.

Run as ``python -P -m gnp_cli.server PORT PARENT_PID``: the server process itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import IO

from gnp.core.errors import GnpError

# The environment Prefect gives its own embedded server: no UI, ephemeral mode.
_SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}
_PORT_IN_USE = 3  # uvicorn's exit status when it cannot bind


@contextlib.contextmanager
def local_server(settings_env: dict[str, str], timeout: float) -> Iterator[str]:
    """Start a server on loopback, yield its API URL, stop it at the end.

    ``settings_env`` holds the Prefect settings in force, as environment variables, so
    that the server uses the same database and settings as Prefect's own would."""
    with tempfile.TemporaryFile() as log:
        process, url = _start(settings_env, timeout, log)
        try:
            yield url
        finally:
            _stop(process)


def _start(
    settings_env: dict[str, str], timeout: float, log: IO[bytes]
) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, **settings_env, **_SERVER_ENV}
    deadline = time.monotonic() + timeout
    while True:
        port = free_port()
        process = subprocess.Popen(
            # -P: not the current folder first on the path, where a project's own
            # flows/ package would be found instead of ours.
            [sys.executable, "-P", "-m", "gnp_cli.server", str(port), str(os.getpid())],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # out of reach of the terminal's Ctrl-C
        )
        url = f"http://127.0.0.1:{port}/api"
        try:
            if _healthy(process, url, deadline):
                return process, url
        except BaseException:
            _stop(process)
            raise
        if process.poll() != _PORT_IN_USE:  # taken meanwhile: try another port
            _stop(process)
            raise GnpError(f"the Prefect server did not start: {_last_line(log)}")


def _healthy(process: subprocess.Popen[bytes], url: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    raise GnpError(
        "the Prefect server did not start in time; raise "
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or set PREFECT_API_URL"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _last_line(log: IO[bytes]) -> str:
    log.seek(0)
    text = log.read().decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "it exited without a word"


def free_port() -> int:
    """A port on loopback that nothing listens on now (taken meanwhile: retry)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _end_with_parent(parent: int) -> None:
    """Linux: be sent SIGTERM when the process that started this one ends, however it
    ends (a gnp killed outright must not leave a server behind)."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # it ended before that took effect
        sys.exit(0)


def main(argv: list[str]) -> None:
    _end_with_parent(int(argv[1]))
    spec = find_spec("prefect")  # found, not imported: the server imports it itself
    assert spec is not None and spec.origin is not None
    app_dir = str(Path(spec.origin).resolve().parent.parent)
    uvicorn = [sys.executable, "-P", "-m", "uvicorn", "--app-dir", app_dir, "--factory"]
    os.execv(  # the death signal is kept across exec
        sys.executable,
        [
            *uvicorn,
            "prefect.server.api.server:create_app",
            *("--host", "127.0.0.1", "--port", argv[0]),
            *("--log-level", "error", "--lifespan", "on"),
        ],
    )


if __name__ == "__main__":
    main(sys.argv[1:])
