"""How gnp answers a host's questions, asked directly as libgit2 asks them: each offer
once, then one refusal that says what to fix; never a loop."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pygit2.enums import CredentialType

from gnp.git.address import parse
from gnp.git.credentials import MAX_ASKS, Answers, HostRefused, into_environment

HTTP = CredentialType.USERPASS_PLAINTEXT
SSH = CredentialType.SSH_KEY | CredentialType.SSH_CUSTOM | CredentialType.SSH_INTERACTIVE


@pytest.fixture(autouse=True)
def bare_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME with no keys, no git config, nothing in the environment to offer."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("SSH_AUTH_SOCK", "GNP_SSH_KEY", "GNP_GIT_TOKEN", "GNP_GIT_USER", "GIT_ASKPASS"):
        monkeypatch.delenv(name, raising=False)
    return home


def offers(answers: Answers, allowed: CredentialType) -> list[tuple[str, ...]]:
    """Ask as libgit2 does after each refusal, until the answer is a refusal."""
    seen: list[tuple[str, ...]] = []
    for _ in range(MAX_ASKS + 5):
        try:
            credential = answers.credentials(answers.address.url, None, allowed)
        except HostRefused:
            return seen
        seen.append(tuple(str(part) for part in credential.credential_tuple))
    pytest.fail("asked past MAX_ASKS without a refusal")


def test_http_offers_the_urls_password_the_token_then_the_helper_once_each(
    bare_machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper = bare_machine / "helper.sh"
    helper.write_text("#!/bin/sh\necho username=alice\necho password=from-helper\n")
    helper.chmod(0o755)
    (bare_machine / ".gitconfig").write_text(f"[credential]\n\thelper = {helper}\n")
    monkeypatch.setenv("GNP_GIT_TOKEN", "from-env")
    answers = Answers(parse("https://alice:from-url@h.invalid/hub.git"))
    assert offers(answers, HTTP) == [
        ("alice", "from-url"),
        ("alice", "from-env"),
        ("alice", "from-helper"),
    ]


def test_http_with_nothing_to_offer_says_how_to_give_it_something() -> None:
    answers = Answers(parse("https://h.invalid/hub.git"))
    with pytest.raises(HostRefused, match=r"configure a git credential helper.*GNP_GIT_TOKEN"):
        answers.credentials("https://h.invalid/hub.git", None, HTTP)


def test_inside_a_runs_work_the_refusal_says_gnps_credentials_were_kept_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GNP_WORKTREE", str(tmp_path))
    answers = Answers(parse("https://h.invalid/hub.git"))
    with pytest.raises(HostRefused, match=r"does not get GNP_GIT_TOKEN or GNP_SSH_KEY"):
        answers.credentials("https://h.invalid/hub.git", None, HTTP)


def test_ssh_offers_the_named_key_the_agent_then_the_default_keys(
    bare_machine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssh = bare_machine / ".ssh"
    ssh.mkdir()
    # Shaped like private keys: only libssh2 reads further. A file that is not one at
    # all is not offered.
    shaped = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    (ssh / "id_ed25519").write_text(shaped)
    (ssh / "id_rsa").write_text("not a key: libssh2 would only say it cannot read it\n")
    # One with a passphrase only the agent can use: never offered from its file.
    keygen = ["ssh-keygen", "-q", "-t", "ecdsa", "-N", "a passphrase", "-f", str(ssh / "id_ecdsa")]
    subprocess.run(keygen, check=True)
    named = tmp_path / "deploy"
    named.write_text(shaped)
    monkeypatch.setenv("GNP_SSH_KEY", str(named))
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    answers = Answers(parse("ssh://git@h.invalid/hub.git"))
    assert answers.credentials("u", None, CredentialType.USERNAME).credential_tuple == ("git",)
    assert offers(answers, SSH) == [
        ("git", "None", str(named), ""),
        ("git", "None", "None", "None"),  # the agent
        ("git", "None", str(ssh / "id_ed25519"), ""),
    ]
    with pytest.raises(HostRefused, match=r"refused every ssh key .*\(\S+deploy, ssh-agent, "):
        answers.credentials("u", None, SSH)


def test_ssh_with_no_key_says_how_to_get_one() -> None:
    answers = Answers(parse("git@h.invalid:hub.git"))
    with pytest.raises(HostRefused, match=r"no ssh key to offer.*ssh-add"):
        answers.credentials("u", None, SSH)


def test_a_key_named_in_the_environment_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNP_SSH_KEY", "/nowhere/key")
    with pytest.raises(HostRefused, match="GNP_SSH_KEY names /nowhere/key, which is not a file"):
        Answers(parse("ssh://h.invalid/x")).credentials("u", None, SSH)


def test_a_named_key_with_a_passphrase_is_sent_to_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "locked"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(key)], check=True
    )
    monkeypatch.setenv("GNP_SSH_KEY", str(key))
    with pytest.raises(HostRefused, match=r"has a passphrase: add it to ssh-agent \(ssh-add "):
        Answers(parse("ssh://h.invalid/x")).credentials("u", None, SSH)


def test_an_unverified_host_key_is_refused_with_the_command_to_learn_it() -> None:
    answers = Answers(parse("ssh://git@h.invalid:2222/hub.git"))
    assert answers.certificate_check(None, True, b"h.invalid")
    with pytest.raises(HostRefused, match=r"'ssh-keyscan -p 2222 h.invalid >> ~/.ssh/known_hosts'"):
        answers.certificate_check(None, False, b"h.invalid")
    with pytest.raises(HostRefused, match=r"TLS certificate of h.invalid does not verify"):
        Answers(parse("https://h.invalid/x")).certificate_check(None, False, b"h.invalid")


def test_a_urls_secret_handed_on_moves_into_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("GNP_GIT_USER", "GNP_GIT_TOKEN"):
        monkeypatch.setenv(name, "")  # put back as it was after the test
    assert into_environment("https://alice:tok@h.invalid/x.git") == "https://h.invalid/x.git"
    assert (os.environ["GNP_GIT_USER"], os.environ["GNP_GIT_TOKEN"]) == ("alice", "tok")
    assert into_environment("/srv/hub.git") == "/srv/hub.git"
