"""``$GNP_HOME``, its folders and the key files in it are this user's alone, whatever the
umask: the real commands, run with umask 000."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from tests.helpers.cli import GNP


def gnp_umask_000(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GNP, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "GNP_HOME": str(home), "GNP_WORKTREES": str(cwd / "worktrees")},
        preexec_fn=lambda: os.umask(0),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_with_umask_000_leaves_home_keys_and_key_private(tmp_path: Path) -> None:
    home = tmp_path / "gnp-home"
    assert gnp_umask_000("init", "hub.git", home=home, cwd=tmp_path).returncode == 0
    done = gnp_umask_000("keygen", "alice", "--hub", "hub.git", home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [key] = home.glob("keys/*/alice.pem")
    assert mode(key) == 0o600
    assert mode(home) == mode(home / "keys") == mode(key.parent) == 0o700
    run = ["run", "--hub", "hub.git", "--worker", "alice", "--", "sh", "-c", "echo 1 > n.json"]
    done = gnp_umask_000(*run, home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (home / "repos").is_dir()  # the local repository gnp made for the run
    for folder in (home / "repos", tmp_path / "worktrees"):
        assert mode(folder) == 0o700, folder
    # what git makes inside (objects, refs) follows the umask, behind these closed doors
    assert all(mode(repo) == 0o700 for repo in (home / "repos").iterdir())


def test_an_existing_world_writable_home_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "gnp-home"
    (home / "keys").mkdir(parents=True)
    os.chmod(home, 0o777)
    os.chmod(home / "keys", 0o777)
    assert gnp_umask_000("init", "hub.git", home=home, cwd=tmp_path).returncode == 0
    done = gnp_umask_000("keygen", "alice", "--hub", "hub.git", home=home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert mode(home) == mode(home / "keys") == 0o700
    [key] = home.glob("keys/*/alice.pem")
    assert mode(key) == 0o600 and mode(key.parent) == 0o700
