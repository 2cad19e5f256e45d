"""The relay: ``gnp submit`` handed to a resident ``gnp relay``, with nothing lost or doubled."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot
from gnp.git.registry import register
from gnp_cli import relay, relay_server
from gnp_cli.relay_server import answer
from tests.helpers.hubs import state
from tests.helpers.waiting import wait_until

GNP = str(Path(sys.executable).with_name("gnp"))
INCR = '[{"op": "incr", "file": "stats.json", "path": "/count", "value": 1}]'


def gnp(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GNP, *args], capture_output=True, text=True, input=stdin, cwd=cwd, timeout=120
    )


class Relay:
    """A real ``gnp relay`` process in this test's GNP_HOME."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [GNP, "relay"], stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True
        )
        deadline = time.monotonic() + 60
        while (conn := relay.connect()) is None:
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the relay did not start"
            time.sleep(0.05)
        conn.close()

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    hub = Hub.init(tmp_path / "hub.git")
    register(hub, "alice")
    return hub


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Relay]:
    started = Relay(tmp_path / "relay.log")
    yield started
    if started.proc.poll() is None:
        started.stop()


@pytest.mark.parametrize(
    ("args", "parsed"),
    [
        (["--hub", "h", "--worker", "w"], ("h", "w", "-")),
        (["--worker=w", "--hub=h", "f.json"], ("h", "w", "f.json")),
        (["f.json", "--hub", "h", "--worker", "w"], ("h", "w", "f.json")),
        (["--hub", "h", "--worker", "w", "--", "-x.json"], ("h", "w", "-x.json")),
        (["--hub", "h", "--worker", "w", "-"], ("h", "w", "-")),
        (["--hub", "h"], None),  # the full command line says what is missing
        (["--hub", "h", "--worker", "w", "--help"], None),
        (["--hub", "h", "--hub", "i", "--worker", "w"], None),
        (["--hub", "h", "--worker", "w", "a", "b"], None),
        (["--hub", "h", "--worker"], None),
        (["--hub", "h", "--worker", "w", "--authority", "3"], None),
    ],
)
def test_only_plain_submits_are_relayed(args: list[str], parsed: tuple[str, ...] | None) -> None:
    assert relay.parse_submit(args) == parsed


def test_a_relayed_submit_lands_its_delta(hub: Hub, running: Relay, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = gnp("submit", "--hub", "../hub.git", "--worker", "alice", stdin=INCR, cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    delta_id = done.stdout.strip()
    assert f"submitted {delta_id} for alice" in running.output()  # it went through the relay
    assert [item.ref.rsplit("/", 1)[-1] for item in snapshot(hub)] == [delta_id]
    report = run_frame(hub)
    assert [v.delta for v in report.verdicts] == [delta_id]
    assert state(hub, "stats.json") == {"count": 1}


def test_a_relayed_submit_fails_as_the_command_does(hub: Hub, tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{nope")
    not_a_hub = str(tmp_path / "nowhere.git")
    cases = [
        ("--hub", str(hub.path), "--worker", "alice", str(bad_json)),
        ("--hub", str(hub.path), "--worker", "mallory", str(bad_json)),
        ("--hub", str(hub.path), "--worker", "mallory", "-"),
        ("--hub", not_a_hub, "--worker", "alice", "-"),
        ("--hub", str(hub.path), "--worker", "alice", str(tmp_path / "missing.json")),
        ("--hub", str(hub.path), "--worker", "BAD ID", "-"),
    ]
    alone = [gnp("submit", *args, stdin=INCR) for args in cases]
    running = Relay(tmp_path / "relay.log")
    try:
        relayed = [gnp("submit", *args, stdin=INCR) for args in cases]
    finally:
        running.stop()
    for case, one, other in zip(cases, alone, relayed, strict=True):
        assert (other.returncode, other.stderr) == (one.returncode, one.stderr), case
        assert one.returncode == 1 and one.stderr.startswith("gnp: "), case
        assert len(one.stderr.splitlines()) == 1, case
    assert "refused a request from mallory" in running.output()
    assert snapshot(hub) == []


def test_without_a_relay_or_with_a_dead_ones_socket_submit_runs_in_process(
    hub: Hub, gnp_home: Path
) -> None:
    done = gnp("submit", "--hub", str(hub.path), "--worker", "alice", stdin=INCR)
    assert done.returncode == 0, done.stderr
    gnp_home.mkdir(exist_ok=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(relay.socket_path())  # a socket file nobody listens on, as after kill -9
    dead.close()
    again = gnp("submit", "--hub", str(hub.path), "--worker", "alice", stdin=INCR)
    assert again.returncode == 0, again.stderr  # stdin was still there to read
    assert len(snapshot(hub)) == 2
    run_frame(hub)
    assert state(hub, "stats.json") == {"count": 2}


def test_a_relay_replaces_a_dead_ones_socket_and_refuses_a_second(
    hub: Hub, gnp_home: Path, tmp_path: Path
) -> None:
    gnp_home.mkdir(exist_ok=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(relay.socket_path())
    dead.close()
    first = Relay(tmp_path / "first.log")
    try:
        mode = os.stat(relay.socket_path()).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        second = gnp("relay")
        assert second.returncode == 1
        assert second.stderr == f"gnp: a relay is already running on {relay.socket_path()}\n"
        done = gnp("submit", "--hub", str(hub.path), "--worker", "alice", stdin=INCR)
        assert done.returncode == 0, done.stderr
    finally:
        assert first.stop() == 0
    assert not os.path.exists(relay.socket_path())  # SIGTERM removed it
    assert "relay stopped" in first.output()


def test_concurrent_relayed_submits_all_land_once(hub: Hub, running: Relay) -> None:
    def submit(_: int) -> str:
        done = gnp("submit", "--hub", str(hub.path), "--worker", "alice", stdin=INCR)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(submit, range(24)))
    assert len(set(ids)) == 24
    assert running.output().count("submitted ") == 24
    run_frame(hub)
    assert state(hub, "stats.json") == {"count": 24}


def test_a_relay_that_does_not_answer_is_reported_not_retried(hub: Hub, gnp_home: Path) -> None:
    gnp_home.mkdir(exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(relay.socket_path())
    listener.listen()

    def take_and_hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    taker = threading.Thread(target=take_and_hang_up)
    taker.start()
    try:
        done = gnp("submit", "--hub", str(hub.path), "--worker", "alice", stdin=INCR)
    finally:
        taker.join(timeout=60)
        listener.close()
    assert done.returncode == 1
    assert "may or may not be in the inbox" in done.stderr
    assert snapshot(hub) == []  # not submitted a second time in-process


def loaded_by_submit(hub: Hub) -> str:
    """The exit status of a plain ``gnp submit`` and which heavy modules it loaded."""
    probe = (
        "import sys\n"
        "from gnp_cli.entry import main\n"
        f"sys.argv = ['gnp', 'submit', '--hub', {str(hub.path)!r}, '--worker', 'alice']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    heavy = ('gnp', 'pygit2', 'cryptography', 'typer', 'rich', 'prefect')\n"
        "    print(exit.code, *[name for name in heavy if name in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], input=INCR, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def test_a_plain_submit_loads_only_what_it_needs(hub: Hub, tmp_path: Path) -> None:
    assert loaded_by_submit(hub) == "0 gnp pygit2 cryptography"  # in-process: no CLI libraries
    running = Relay(tmp_path / "relay.log")
    try:
        assert loaded_by_submit(hub) == "0"  # relayed: not even gnp, the standard library only
    finally:
        running.stop()
    assert len(snapshot(hub)) == 2


def test_answer_resolves_paths_against_the_callers_folder(hub: Hub, tmp_path: Path) -> None:
    got = answer("hub.git", str(tmp_path), "alice", INCR.encode())
    assert isinstance(got.get("id"), str)
    missing = answer("hub.git", "/nonexistent", "alice", INCR.encode())
    assert missing["error"] == (
        "/nonexistent/hub.git is not a hub; create one with 'gnp init /nonexistent/hub.git'"
    )
    url = answer("file:///nonexistent/hub.git", "/elsewhere", "alice", INCR.encode())
    assert "/elsewhere" not in str(url["error"])


def test_a_relay_and_its_caller_see_each_others_uid() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert relay.peer_uid(left) == os.getuid()


def test_two_relays_started_at_once_leave_one_running(hub: Hub, tmp_path: Path) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [
        subprocess.Popen([GNP, "relay"], stderr=log.open("w"), stdout=subprocess.DEVNULL)
        for log in logs
    ]
    try:
        wait_until(lambda: any(p.poll() is not None for p in procs), "one relay gave way", 60)
        loser = next(i for i, p in enumerate(procs) if p.poll() is not None)
        assert procs[loser].returncode == 1
        assert "a relay is already running" in logs[loser].read_text()
        done = gnp("submit", "--hub", str(hub.path), "--worker", "alice", stdin=INCR)
        assert done.returncode == 0, done.stderr
        assert "submitted " in logs[1 - loser].read_text()  # the one left serves
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=30)


def test_a_request_too_large_to_relay_is_refused_as_in_process(
    hub: Hub, running: Relay, tmp_path: Path
) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (relay.MAX_REQUEST + 1))
    done = gnp("submit", "--hub", str(hub.path), "--worker", "alice", str(big))
    assert done.returncode == 1
    assert done.stderr.startswith("gnp: refused (too-large): request is ")
    assert "submitted" not in running.output() and "refused a request" not in running.output()


def test_a_submit_from_a_deleted_folder_still_goes_through(
    hub: Hub, running: Relay, tmp_path: Path
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
    script += "from gnp_cli.entry import main; "
    script += f"sys.argv = ['gnp', 'submit', '--hub', {str(hub.path)!r}, '--worker', 'alice']; "
    script += "main()"
    done = subprocess.run(
        [sys.executable, "-c", script], input=INCR, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"submitted {done.stdout.strip()}" in running.output()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to listen as another user")
def test_a_socket_of_another_user_is_told_nothing(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="gnp-shared-"))
    try:
        shared.chmod(0o777)  # a GNP_HOME others can write to, as a shared folder is
        monkeypatch.setenv("GNP_HOME", str(shared))
        ears = Path(tempfile.mkdtemp(prefix="gnp-heard-"))
        ears.chmod(0o777)  # where the impostor writes what it heard
        heard = ears / "heard"
        impostor = (
            "import os, socket, sys\n"
            "os.setuid(65534)\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            f"s.bind({relay.socket_path()!r}); s.listen()\n"
            "print('ready', flush=True)\n"
            "conn, _ = s.accept()\n"
            f"open({str(heard)!r}, 'wb').write(conn.recv(65536))\n"
        )
        fake = subprocess.Popen([sys.executable, "-c", impostor], stdout=subprocess.PIPE, text=True)
        assert fake.stdout is not None and fake.stdout.readline() == "ready\n"
        register(hub, "bob")  # after: gnp makes the GNP_HOME it uses 0700, planted or not
        done = gnp("submit", "--hub", str(hub.path), "--worker", "bob", stdin=INCR)
        assert fake.wait(timeout=30) == 0
        assert done.returncode == 0, done.stderr  # submitted in-process instead
        assert heard.read_bytes() == b""  # the impostor got a connection, and nothing else
        assert len(snapshot(hub)) == 1
    finally:
        import shutil

        shutil.rmtree(shared, ignore_errors=True)
        shutil.rmtree(ears, ignore_errors=True)


class Trickler:
    """A caller that connects and sends its request one byte every 3 s, never finishing
    in time, reading whatever the relay answers meanwhile."""

    def __init__(self) -> None:
        conn = relay.connect()
        assert conn is not None
        self.conn = conn
        self.answer = b""
        self.done = threading.Event()
        header = b'{"hub": "h", "cwd": "/", "worker": "alice", "size": 1000}\n'
        threading.Thread(target=self._send, args=(header,), daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()

    def _send(self, data: bytes) -> None:
        for byte in data:
            if self.done.is_set():
                return
            with contextlib.suppress(OSError):
                self.conn.send(bytes([byte]))
            self.done.wait(3)

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := self.conn.recv(4096):
                self.answer += chunk
        self.done.set()


def test_a_stop_is_not_held_up_by_a_caller_that_trickles(hub: Hub, running: Relay) -> None:
    slow = Trickler()
    time.sleep(4)  # two bytes in: the relay is reading its request
    started = time.monotonic()
    assert running.stop() == 0
    assert time.monotonic() - started < relay_server.STOP_CHECK + 3  # at once, not at the deadline
    assert slow.done.wait(5)
    [line] = slow.answer.splitlines()
    assert json.loads(line)["error"] == "the relay is stopping; nothing was submitted"
    assert snapshot(hub) == []


def test_a_request_that_trickles_past_the_deadline_is_refused(hub: Hub, running: Relay) -> None:
    started = time.monotonic()
    slow = Trickler()
    assert slow.done.wait(relay_server.REQUEST_DEADLINE + 10)
    assert time.monotonic() - started >= relay_server.REQUEST_DEADLINE - 1
    [line] = slow.answer.splitlines()
    assert json.loads(line)["error"] == (
        f"the request did not arrive whole within {relay_server.REQUEST_DEADLINE:g} s; "
        "nothing was submitted"
    )
    assert running.proc.poll() is None  # still serving others
    done = gnp("submit", "--hub", str(hub.path), "--worker", "alice", stdin=INCR)
    assert done.returncode == 0, done.stderr
