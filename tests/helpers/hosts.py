"""Real git hosts on loopback for tests, and the machines that reach them.

* :func:`sshd`: OpenSSH's server with a host key of its own, logging in by key alone
  (root may: the tests run as root), authorized keys in a file the test controls;
* :func:`smart_http`: nginx in front of fcgiwrap and ``git-http-backend``, with HTTP
  basic auth (a password file made by ``openssl passwd -apr1``), serving every
  repository under a folder;
* :func:`ssh_agent`: an ``ssh-agent`` holding the keys it is given;
* :class:`Machine`: a ``HOME`` and a ``$GNP_HOME`` of their own, as another computer
  would have: its own ``~/.ssh`` (keys, ``known_hosts``) and ``~/.gitconfig``. The
  real ``~/.ssh`` is never read or written.

Everything is made under a temporary folder, with throwaway keys and passwords, and
stopped when the ``with`` ends.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.real import missing, need

SSHD = "/usr/sbin/sshd"
_USER = getpass.getuser()  # who logs in: this process's user (root, in CI)
BACKEND = "/usr/lib/git-core/git-http-backend"
# What would make a machine's git or ssh answer from outside its HOME.
FOREIGN = (
    "SSH_AUTH_SOCK",
    "GNP_SSH_KEY",
    "GNP_GIT_TOKEN",
    "GNP_GIT_USER",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "XDG_CONFIG_HOME",
    "GIT_CONFIG_GLOBAL",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


def _listening(
    port: int, address: str = "127.0.0.1", proc: subprocess.Popen[bytes] | None = None
) -> None:
    for _ in range(200):
        with socket.socket() as probe:
            if probe.connect_ex((address, port)) == 0:
                return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    err = proc.stderr.read().decode(errors="replace") if proc and proc.stderr else ""
    pytest.fail(f"nothing listens on {address}:{port}: {err.strip()[-500:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def keypair(path: Path, comment: str = "gnp-test") -> Path:
    """A new passphrase-less ed25519 key at ``path`` (and ``path.pub``)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )
    return path


@dataclass(frozen=True, slots=True)
class SshHost:
    address: str
    port: int
    host_key: str  # "ssh-ed25519 AAAA..."
    authorized_keys: Path

    def url(self, hub: Path) -> str:
        return f"ssh://{_USER}@{self.address}:{self.port}{hub.resolve()}"

    def scp_url(self, hub: Path) -> str:
        """``user@host:path``: only on port 22 (scp-like URLs name no port)."""
        assert self.port == 22
        return f"{_USER}@{self.address}:{hub.resolve()}"

    @property
    def known_as(self) -> str:
        """The host's name in known_hosts."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    def authorize(self, public_key: Path) -> None:
        with self.authorized_keys.open("a") as out:
            out.write(public_key.read_text())


@contextmanager
def sshd(folder: Path, address: str = "127.0.0.1", port: int | None = None) -> Iterator[SshHost]:
    """A real sshd on ``address:port`` (a free port if none), logging in by key only."""
    from gnp_cli.server import free_port

    need(SSHD, "ssh-keygen")
    folder.mkdir(parents=True, exist_ok=True)
    host_key = keypair(folder / "host_ed25519", "gnp-test-host")
    authorized = folder / "authorized_keys"
    authorized.touch()
    port = port or free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress {address}\nHostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized}\nPidFile {folder / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nLogLevel VERBOSE\n"
    )
    # sshd insists on its privilege separation folder, which the service makes at boot.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _listening(port, address, proc)
        line = (folder / "host_ed25519.pub").read_text().split()
        yield SshHost(address, port, f"{line[0]} {line[1]}", authorized)
    finally:
        _stop(proc)


@contextmanager
def ssh_agent(folder: Path, *keys: Path) -> Iterator[str]:
    """An ssh-agent holding ``keys``; its socket's path."""
    need("ssh-agent", "ssh-add")
    sock = folder / "agent.sock"
    proc = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for _ in range(200):
            if sock.exists():
                break
            time.sleep(0.05)
        for key in keys:
            env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
            subprocess.run(["ssh-add", "-q", str(key)], check=True, env=env, capture_output=True)
        yield str(sock)
    finally:
        _stop(proc)


@dataclass(frozen=True, slots=True)
class HttpHost:
    port: int
    tls_port: int  # the same, over TLS, with a certificate signed by ``ca``
    ca: Path  # trust it with SSL_CERT_FILE
    root: Path  # every repository under it is served
    user: str
    password: str

    def url(self, hub: Path, userinfo: str | None = None, *, tls: bool = False) -> str:
        path = hub.resolve().relative_to(self.root)
        at = f"{userinfo}@" if userinfo else ""
        scheme, port = ("https", self.tls_port) if tls else ("http", self.port)
        return f"{scheme}://{at}127.0.0.1:{port}/{path}"


@contextmanager
def smart_http(folder: Path, root: Path, user: str, password: str) -> Iterator[HttpHost]:
    """nginx + fcgiwrap + git-http-backend on loopback, serving the repositories under
    ``root`` to ``user`` with ``password`` (basic auth), over HTTP and over TLS (a
    self-signed certificate for 127.0.0.1); pushes run the hubs' hooks."""
    from gnp_cli.server import free_port

    found = need("nginx", "fcgiwrap", "openssl")
    if not os.access(BACKEND, os.X_OK):
        missing(f"needs {BACKEND} (git's smart HTTP server), not installed here")
    folder.mkdir(parents=True, exist_ok=True)
    hashed = subprocess.run(
        [found["openssl"], "passwd", "-apr1", password], check=True, capture_output=True, text=True
    ).stdout.strip()
    (folder / "htpasswd").write_text(f"{user}:{hashed}\n")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [found["openssl"], "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    sock = folder / "fcgi.sock"
    port, tls_port = free_port(), free_port()
    temp = "\n".join(
        f"  {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        f"""daemon off;
user root;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"};
events {{ worker_connections 64; }}
http {{
  access_log {folder / "access.log"};
{temp}
  server {{
    listen 127.0.0.1:{port};
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{
      auth_basic "gnp hub";
      auth_basic_user_file {folder / "htpasswd"};
      client_max_body_size 0;
      fastcgi_pass unix:{sock};
      fastcgi_param SCRIPT_FILENAME {BACKEND};
      fastcgi_param GIT_PROJECT_ROOT {root};
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO $uri;
      fastcgi_param REMOTE_USER $remote_user;
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param CONTENT_TYPE $content_type;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param HTTP_CONTENT_ENCODING $http_content_encoding;
      fastcgi_param GIT_PROTOCOL $http_git_protocol;
    }}
  }}
}}
"""
    )
    wrap = subprocess.Popen(
        [found["fcgiwrap"], "-s", f"unix:{sock}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for _ in range(200):
            if sock.exists() or wrap.poll() is not None:
                break
            time.sleep(0.05)
        nginx = subprocess.Popen(
            [found["nginx"], "-c", str(folder / "nginx.conf"), "-p", str(folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _listening(port, proc=nginx)
            _listening(tls_port, proc=nginx)
            yield HttpHost(port, tls_port, cert, root.resolve(), user, password)
        finally:
            _stop(nginx)
    finally:
        _stop(wrap)


@dataclass(frozen=True, slots=True)
class Machine:
    """Another computer: its own HOME (``~/.ssh``, ``~/.gitconfig``) and ``$GNP_HOME``."""

    home: Path

    @property
    def gnp_home(self) -> Path:
        return self.home / ".gnp"

    @property
    def ssh(self) -> Path:
        return self.home / ".ssh"

    def enter(self, monkeypatch: pytest.MonkeyPatch) -> Machine:
        """Be this machine, in this process and the commands it starts."""
        self.ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
        monkeypatch.setenv("HOME", str(self.home))
        monkeypatch.setenv("GNP_HOME", str(self.gnp_home))
        monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for name in FOREIGN:
            monkeypatch.delenv(name, raising=False)
        return self

    def key(self, name: str = "id_ed25519") -> Path:
        """A key pair in this machine's ~/.ssh (made once)."""
        path = self.ssh / name
        return path if path.exists() else keypair(path, f"gnp-test-{self.home.name}")

    def trust(self, host: SshHost, key: str | None = None) -> None:
        """Put ``host``'s key (or ``key``) in this machine's known_hosts."""
        self.ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
        with (self.ssh / "known_hosts").open("a") as out:
            out.write(f"{host.known_as} {key or host.host_key}\n")

    def git_config(self, *lines: str) -> None:
        with (self.home / ".gitconfig").open("a") as out:
            out.write("".join(f"{line}\n" for line in lines))
