"""A real Prefect server on loopback, started once per test session when a test needs it.

The environment is set when the test session starts (before anything imports Prefect,
which reads its settings once), but the server starts only when the first test that
runs a flow asks for it, and stops when the process exits. If ``PREFECT_API_URL`` is
already set, that server is used as it is.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from gnp_cli.runs import FRAME_SERVER
from gnp_cli.server import free_port

STARTUP_SECONDS = 180  # a cold start takes 10-20 s here, more on a loaded machine


class PrefectServer:
    def __init__(self) -> None:
        self.external = "PREFECT_API_URL" in os.environ
        self.home = Path(tempfile.mkdtemp(prefix="gnp-prefect-"))
        self.process: subprocess.Popen[bytes] | None = None
        if self.external:
            self.url = os.environ["PREFECT_API_URL"]
            return
        # Stopped at exit, after Prefect's own exit handlers (registered later, so run
        # earlier) have sent their last logs to it.
        atexit.register(self.stop)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        os.environ.update(
            PREFECT_API_URL=self.url,
            PREFECT_HOME=str(self.home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            # The UI too, for the test that opens a frame's artifact in a browser; it
            # talks to this server's API, not the default port's.
            PREFECT_SERVER_UI_ENABLED="true",
            PREFECT_UI_API_URL=self.url,
            PREFECT_LOGGING_LEVEL="WARNING",
            **FRAME_SERVER,
        )

    def start(self) -> str:
        if self.external or self.process is not None:
            return self.url
        log = (self.home / "server.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prefect server exited; see {self.home / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"prefect server did not start in {STARTUP_SECONDS} s")

    def stop(self) -> None:
        if self.process is None:
            shutil.rmtree(self.home, ignore_errors=True)
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        shutil.rmtree(self.home, ignore_errors=True)
