"""Hubs on hosts that ask who is there: a real sshd (keys, known_hosts) and real smart
HTTP (nginx, git-http-backend, basic auth), reached from machines of their own.

Workers submit, run and are swept from another machine (its own HOME and $GNP_HOME);
frames run on the host, beside the hub. A refusal is one line that says what to fix,
and leaves no inbox ref and no mirror that would stand in the next try's way. No
credential gnp was given is ever written under $GNP_HOME.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from gnp.core.verdict import Outcome
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot
from gnp.git.registry import register
from gnp.git.remote import mirror_path
from tests.helpers.cli import cli as gnp
from tests.helpers.hosts import HttpHost, Machine, SshHost, keypair, smart_http, ssh_agent, sshd
from tests.helpers.real import missing

USER, PASSWORD = "alice", "s3cret-pass"
OPS = '[{"op": "incr", "file": "stats.json", "path": "/count", "value": 1}]'


def _scp_address() -> str | None:
    """A loopback address whose port 22 is free: scp-like URLs (user@host:path) name
    no port."""
    for _ in range(20):
        address = (
            f"127.{random.randrange(1, 255)}.{random.randrange(1, 255)}.{random.randrange(2, 255)}"
        )
        with socket.socket() as probe:
            try:
                probe.bind((address, 22))
            except OSError:
                continue
        return address
    return None


@pytest.fixture(scope="module")
def ssh_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshHost]:
    with sshd(tmp_path_factory.mktemp("sshd")) as host:
        yield host


@pytest.fixture(scope="module")
def scp_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshHost]:
    address = _scp_address()
    if address is None:
        missing("no loopback address has port 22 free to this user (scp-like URLs name no port)")
    with sshd(tmp_path_factory.mktemp("sshd22"), address, 22) as host:
        yield host


@pytest.fixture(scope="module")
def http_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpHost]:
    root = tmp_path_factory.getbasetemp()
    with smart_http(tmp_path_factory.mktemp("nginx"), root, USER, PASSWORD) as host:
        yield host


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    """The workers' machine: not the hub's host."""
    return Machine(tmp_path / "far").enter(monkeypatch)


@contextmanager
def git_daemon(hub: Path) -> Iterator[str]:
    from gnp_cli.server import free_port

    port = free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
         f"--base-path={hub.parent}", "--listen=127.0.0.1", f"--port={port}", str(hub.parent)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"git://127.0.0.1:{port}/{hub.name}"
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


# How a machine reaches each host: set up its credentials, give the URL.
Reach = Callable[[Machine, Hub, pytest.MonkeyPatch], Iterator[str]]
TRANSPORTS = [
    "file",
    "git-daemon",
    "ssh-agent",
    "ssh-key-file",
    "ssh-scp-like",
    "http-helper",
    "http-token",
    "https-token",
]


@pytest.fixture(params=TRANSPORTS)
def reach(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """A function (machine, hub, monkeypatch) -> the hub's URL, the machine set up to
    be let in; whatever it started stops after the test."""
    kind = request.param
    stack = ExitStack()

    def reach(machine: Machine, hub: Hub, monkeypatch: pytest.MonkeyPatch) -> str:
        if kind == "file":
            return f"file://{hub.path.resolve()}"
        if kind == "git-daemon":
            return stack.enter_context(git_daemon(hub.path))
        if kind.startswith("ssh"):
            host: SshHost = request.getfixturevalue(
                "scp_host" if kind == "ssh-scp-like" else "ssh_host"
            )
            machine.trust(host)
            if kind == "ssh-agent":
                # Not in ~/.ssh: only the agent has it.
                key = keypair(machine.home / "agent" / "key")
                host.authorize(key.with_name("key.pub"))
                agent = stack.enter_context(ssh_agent(key.parent, key))
                monkeypatch.setenv("SSH_AUTH_SOCK", agent)
                return host.url(hub.path)
            key = machine.key()
            host.authorize(key.with_name("id_ed25519.pub"))
            return host.scp_url(hub.path) if kind == "ssh-scp-like" else host.url(hub.path)
        http: HttpHost = request.getfixturevalue("http_host")
        if kind == "http-helper":
            store = machine.home / "git-credentials"  # the user's helper keeps it, not gnp
            store.write_text(f"http://{USER}:{PASSWORD}@127.0.0.1:{http.port}\n")
            machine.git_config("[credential]", f"\thelper = store --file={store}")
            return http.url(hub.path)
        monkeypatch.setenv("GNP_GIT_TOKEN", PASSWORD)
        if kind == "https-token":
            monkeypatch.setenv("SSL_CERT_FILE", str(http.ca))  # the host's CA, trusted
        return http.url(hub.path, userinfo=USER, tls=kind == "https-token")

    with stack:
        yield reach


def submitted(url: str, worker: str, ops: str = OPS) -> str:
    done = gnp("submit", "--hub", url, "--worker", worker, stdin=ops)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_workers_on_other_machines_submit_run_and_are_swept_through_the_host(
    reach: Callable[..., str], machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub.init(tmp_path / "hub.git")
    # Machine one: alice submits, carol's harness dies mid-run and its janitor stops her
    # work and sends her fallback. The owner registers each worker, its key on its machine.
    for worker in ("alice", "carol"):
        register(hub, worker)
    url = reach(machine, hub, monkeypatch)
    monkeypatch.setenv("GNP_WORKTREES", str(machine.home / "worktrees"))
    delta_id = submitted(url, "alice")
    died = gnp(
        "run", "--hub", url, "--worker", "carol", "--",
        "sh", "-c", "kill -KILL $PPID; exec sleep 60 </dev/null >/dev/null 2>&1",
    )  # fmt: skip
    assert died.returncode != 0
    swept = gnp("janitor", "--hub", url)
    assert swept.returncode == 0 and "fallback delta" in swept.stdout, swept.stdout + swept.stderr
    # Machine two, with its own HOME, $GNP_HOME and credentials: bob edits a state file.
    other = Machine(tmp_path / "other").enter(monkeypatch)
    register(hub, "bob")
    url = reach(other, hub, monkeypatch)
    monkeypatch.setenv("GNP_WORKTREES", str(other.home / "worktrees"))
    edit = "echo '{\"x\": 1}' > other.json"
    ran = gnp("run", "--hub", url, "--worker", "bob", "--", "sh", "-c", edit)
    assert ran.returncode == 0, ran.stderr
    assert len(snapshot(hub)) == 3 and delta_id in {i.ref.rsplit("/", 1)[-1] for i in snapshot(hub)}
    report = run_frame(Hub.at(hub.path))  # the engine beside the hub
    assert report.count(Outcome.APPLIED) == 2 and report.count(Outcome.FALLBACK) == 1
    assert hub.state().document("stats.json") == {"count": 1}
    assert hub.state().document("other.json") == {"x": 1}
    assert snapshot(hub) == []


def _inbox(hub: Hub) -> list[str]:
    return [i.ref for i in snapshot(hub)]


def _one_line(done: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for part in parts:
        assert part in lines[0], lines[0]


def test_a_wrong_ssh_key_is_one_refusal_and_the_right_one_then_lands(
    ssh_host: SshHost, machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub.init(tmp_path / "hub.git")
    register(hub, "alice")
    machine.trust(ssh_host)
    machine.key()  # in ~/.ssh, but not authorized on the host
    url = ssh_host.url(hub.path)
    done = gnp("submit", "--hub", url, "--worker", "alice", stdin=OPS)
    _one_line(done, "refused every ssh key gnp offered (~/.ssh/id_ed25519)", "GNP_SSH_KEY")
    assert _inbox(hub) == [] and not mirror_path(url).exists()
    named = keypair(tmp_path / "elsewhere" / "deploy")
    ssh_host.authorize(named.with_name("deploy.pub"))
    monkeypatch.setenv("GNP_SSH_KEY", str(named))
    submitted(url, "alice")
    assert len(_inbox(hub)) == 1


def test_no_ssh_key_at_all_says_how_to_get_one(
    ssh_host: SshHost, machine: Machine, tmp_path: Path
) -> None:
    hub = Hub.init(tmp_path / "hub.git")
    register(hub, "alice")
    machine.trust(ssh_host)
    done = gnp("submit", "--hub", ssh_host.url(hub.path), "--worker", "alice", stdin=OPS)
    _one_line(done, "no ssh key to offer", "ssh-add")
    assert _inbox(hub) == []


def test_an_unknown_or_changed_host_key_is_refused_with_what_to_run(
    ssh_host: SshHost, machine: Machine, tmp_path: Path
) -> None:
    hub = Hub.init(tmp_path / "hub.git")
    register(hub, "alice")
    key = machine.key()
    ssh_host.authorize(key.with_name("id_ed25519.pub"))
    url = ssh_host.url(hub.path)
    scan = f"ssh-keyscan -p {ssh_host.port} {ssh_host.address} >> ~/.ssh/known_hosts"
    done = gnp("submit", "--hub", url, "--worker", "alice", stdin=OPS)  # never seen
    _one_line(done, "not in ~/.ssh/known_hosts", scan)
    assert _inbox(hub) == [] and not mirror_path(url).exists()
    impostor = keypair(tmp_path / "impostor")
    machine.trust(ssh_host, " ".join(impostor.with_name("impostor.pub").read_text().split()[:2]))
    done = gnp("submit", "--hub", url, "--worker", "alice", stdin=OPS)  # another key for it
    _one_line(done, "differs from the one there", scan)
    assert _inbox(hub) == []
    (machine.ssh / "known_hosts").unlink()
    machine.trust(ssh_host)
    submitted(url, "alice")


def test_a_wrong_password_is_one_refusal_and_rejected_to_the_helper(
    http_host: HttpHost, machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub.init(tmp_path / "hub.git")
    register(hub, "alice")
    url = http_host.url(hub.path)
    done = gnp("submit", "--hub", url, "--worker", "alice", stdin=OPS)  # nothing to offer
    _one_line(done, "asks for a user name and password", "credential helper", "GNP_GIT_TOKEN")
    store = machine.home / "git-credentials"
    store.write_text(f"http://{USER}:wrong@127.0.0.1:{http_host.port}\n")
    machine.git_config("[credential]", f"\thelper = store --file={store}")
    done = gnp("submit", "--hub", url, "--worker", "alice", stdin=OPS)
    _one_line(done, "refused the credentials gnp offered (git credential fill)")
    assert "wrong" not in store.read_text()  # git rejected it to the helper, as git would
    assert _inbox(hub) == [] and not mirror_path(url).exists()
    monkeypatch.setenv("GNP_GIT_TOKEN", "also-wrong")
    done = gnp(
        "submit", "--hub", http_host.url(hub.path, userinfo=USER), "--worker", "alice", stdin=OPS
    )
    _one_line(done, "refused the credentials gnp offered ($GNP_GIT_TOKEN)")
    assert "also-wrong" not in done.stderr
    store.write_text(f"http://{USER}:{PASSWORD}@127.0.0.1:{http_host.port}\n")
    monkeypatch.delenv("GNP_GIT_TOKEN")
    submitted(url, "alice")
    assert len(_inbox(hub)) == 1


def test_a_tls_certificate_that_does_not_verify_is_refused(
    http_host: HttpHost, machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub.init(tmp_path / "hub.git")
    register(hub, "alice")
    url = http_host.url(hub.path, userinfo=f"{USER}:{PASSWORD}", tls=True)
    done = gnp("submit", "--hub", url, "--worker", "alice", stdin=OPS)  # its CA is not trusted
    _one_line(done, f"the TLS certificate of 127.0.0.1:{http_host.tls_port} does not verify")
    assert PASSWORD not in done.stderr
    assert _inbox(hub) == [] and not mirror_path(url).exists()
    monkeypatch.setenv("SSL_CERT_FILE", str(http_host.ca))
    submitted(url, "alice")


def test_a_token_in_the_url_is_used_and_never_written(
    http_host: HttpHost, machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub.init(tmp_path / "hub.git")
    register(hub, "alice")
    monkeypatch.setenv("GNP_WORKTREES", str(machine.home / "worktrees"))
    url = http_host.url(hub.path, userinfo=f"{USER}:{PASSWORD}")
    submitted(url, "alice")
    ran = gnp("run", "--hub", url, "--worker", "alice", "--", "sh", "-c", "echo '{}' > e.json")
    assert ran.returncode == 0 and PASSWORD not in ran.stdout + ran.stderr
    wrong = http_host.url(hub.path, userinfo=f"{USER}:not-{PASSWORD}")
    done = gnp("submit", "--hub", wrong, "--worker", "alice", stdin=OPS)
    _one_line(done, "refused the credentials gnp offered (the URL's password)")
    assert f"not-{PASSWORD}" not in done.stderr and USER + ":" not in done.stderr
    submitted(url, "alice", OPS.replace('"value": 1', '"value": 2'))  # the next try lands
    mirror = mirror_path(url)
    assert mirror == mirror_path(http_host.url(hub.path))  # named without the secret
    config = (mirror / "config").read_text()
    assert f"url = {http_host.url(hub.path)}\n" in config and PASSWORD not in config
    for path in machine.gnp_home.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    assert len(_inbox(hub)) == 3


@pytest.mark.parametrize("scheme", ["ssh", "http"])
def test_owner_commands_refused_by_the_host_say_what_to_run_there(
    scheme: str,
    request: pytest.FixtureRequest,
    machine: Machine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = Hub.init(tmp_path / "hub.git")
    register(hub, "alice")
    if scheme == "ssh":
        host: SshHost = request.getfixturevalue("ssh_host")
        machine.trust(host)
        host.authorize(machine.key().with_name("id_ed25519.pub"))
        url, where = host.url(hub.path), str(hub.path.resolve())
    else:
        http: HttpHost = request.getfixturevalue("http_host")
        monkeypatch.setenv("GNP_GIT_TOKEN", PASSWORD)
        url, where = http.url(hub.path, userinfo=USER), "PATH"
    done = gnp("keygen", "dave", "--hub", url)
    _one_line(
        done, "refused to move main", "run this on the hub's host", f"gnp keygen --hub {where} dave"
    )
    done = gnp("grant", "--hub", url, "alice", "--authority", "2", "--files", "a/*.json")
    _one_line(done, f"gnp grant --hub {where} alice --authority 2 --files 'a/*.json'")
    done = gnp("declare", "--hub", url, "stats.json", "/count", "counter")
    _one_line(done, f"gnp declare --hub {where} stats.json /count counter")
    assert "dave" not in hub.state().keyring_text and hub.state().frame == 0


def test_owner_commands_at_a_url_the_host_lets_through_land(hub: Hub) -> None:
    url = f"file://{hub.path.resolve()}"
    assert gnp("keygen", "dave", "--hub", url).returncode == 0
    assert gnp("grant", "--hub", url, "dave", "--authority", "1").returncode == 0
    assert gnp("declare", "--hub", url, "stats.json", "/count", "counter").returncode == 0
    state = hub.state()
    assert "dave" in state.keyring_text and state.types == {"stats.json": {"/count": "counter"}}
    assert state.grants.of("dave").authority == 1


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"not a key at all\n", "not a private key gnp can offer"),
        (b"", "not a private key gnp can offer"),
        (None, "a public key: name the private key beside it"),
    ],
    ids=["garbage", "empty", "public-key"],
)
def test_a_named_key_that_is_no_private_key_is_one_refusal_naming_it(
    ssh_host: SshHost,
    machine: Machine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: bytes | None,
    said: str,
) -> None:
    hub = Hub.init(tmp_path / "hub.git")
    register(hub, "alice")
    machine.trust(ssh_host)
    if content is None:
        named = keypair(tmp_path / "keys" / "deploy").with_name("deploy.pub")
    else:
        named = tmp_path / "keys" / "deploy"
        named.parent.mkdir(parents=True)
        named.write_bytes(content)
    monkeypatch.setenv("GNP_SSH_KEY", str(named))
    done = gnp("submit", "--hub", ssh_host.url(hub.path), "--worker", "alice", stdin=OPS)
    _one_line(done, f"GNP_SSH_KEY names {named}", said)
    assert _inbox(hub) == []
