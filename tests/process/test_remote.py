"""A hub reached by URL: the same protocol, with every write a checked push."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gnp.core.errors import GnpError
from gnp.core.verdict import Outcome
from gnp.git.connect import open_hub
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot
from gnp.git.registry import declare, register
from gnp.git.replay import replay
from gnp.host import keys
from gnp.process.run import run
from tests.helpers.hubs import git, incr, send


def remote(hub: Hub) -> Hub:
    opened = open_hub(f"file://{hub.path.resolve()}")
    assert opened.url is not None
    return opened


def test_everything_works_through_a_url(hub: Hub, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "wt"))
    far = remote(hub)
    register(far, "alice")
    register(far, "bob")
    declare(far, "stats.json", "/n", "counter")
    assert set(hub.state().keyring_text) == {"alice", "bob"}  # pushed to the real hub
    send(far, "alice", incr(path="/n"))
    assert len(snapshot(hub)) == 1
    assert run(far, "bob", ["sh", "-c", "echo '{\"n\": 5}' > stats.json"]).status == "ok"
    report = run_frame(far)
    assert report.frame == 1 and report.count(Outcome.APPLIED) == 2  # both create the counter
    assert hub.state().document("stats.json") == {"n": 6}
    assert hub.main().id == far.main().id
    assert snapshot(hub) == []
    assert replay(open_hub(hub.path), 1).identical and replay(far, 1).identical
    assert git("-C", str(hub.path), "fsck", "--strict").returncode == 0


def test_a_remote_engine_racing_a_local_one_never_doubles(hub: Hub) -> None:
    far = remote(hub)
    for i in range(6):
        send(hub, f"w{i % 2}", incr())
        # The local engine merges between the remote engine's read and its push.
        if i % 2:
            run_frame(hub)
    run_frame(far)
    while run_frame(far).frame is not None:
        pass
    assert hub.state().document("stats.json") == {"count": 6}
    assert snapshot(hub) == []


def test_main_moved_on_the_hub_is_a_refused_push_then_a_recompute(hub: Hub) -> None:
    far = remote(hub)
    send(far, "alice", incr())
    original = far.advance_main
    moved: list[bool] = []

    def advance(base, new, message):  # type: ignore[no-untyped-def]
        if not moved:
            moved.append(True)
            register(hub, "carol")  # main moves on the hub itself
        return original(base, new, message)

    far.advance_main = advance  # type: ignore[method-assign]
    report = run_frame(far)
    assert report.attempts == 2 and report.frame == 1
    assert "carol" in hub.state().keyring_text
    assert hub.state().document("stats.json") == {"count": 1}


def test_workers_over_git_daemon_and_the_engine_beside_the_hub(
    hub: Hub, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import socket
    import time

    import pytest

    from gnp_cli.server import free_port

    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={hub.path.parent}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(hub.path.parent),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"git://127.0.0.1:{port}/{hub.path.name}"
        for _ in range(100):  # wait until it listens
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            pytest.fail("git daemon did not start")
        monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "wt"))
        register(hub, "alice")  # the owner registers keys beside the hub
        register(hub, "bob")
        far = open_hub(url)
        send(far, "alice", incr())
        assert run(far, "bob", ["sh", "-c", "echo '{\"x\": 1}' > other.json"]).status == "ok"
        # Over git:// the hub's hook keeps main for the engine: a worker cannot move it.
        base = far.main()
        sig = base.author
        sneak = far.repo.create_commit(None, sig, sig, "sneak", base.tree.id, [base.id])
        with pytest.raises(GnpError, match="the hub refused to move main"):
            far.advance_main(base.id, sneak, "sneak")  # said at once: no retries, no race
        assert hub.main().id == base.id
        # Registering from afar is refused the same way, and leaves no key behind.
        with pytest.raises(GnpError, match="run this on the hub's host"):
            register(far, "carol")
        assert not keys.key_path(hub.state().hub_id, "carol").exists()
        alice_key = keys.key_path(hub.state().hub_id, "alice")
        before = alice_key.read_bytes()
        with pytest.raises(GnpError, match="refused to move main"):
            register(far, "alice", force=True)
        assert alice_key.read_bytes() == before  # still the key the keyring holds
        report = run_frame(hub)  # the engine runs beside the hub
        assert report.count(Outcome.APPLIED) == 2
        assert hub.state().document("stats.json") == {"count": 1}
        assert hub.state().document("other.json") == {"x": 1}
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def test_a_frame_of_workers_on_a_url_hub_merges_them_all_in_their_frame(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnp.frame import roster
    from gnp.frame.pipeline import run_plain

    monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "wt"))
    far = remote(hub)
    workers = [f"w{i}" for i in range(6)]
    for worker in workers:
        register(far, worker)
    edit = 'echo "{\\"by\\": \\"$GNP_WORKER\\"}" > "$GNP_WORKER.json"'
    members = roster.parse([{"id": w, "command": ["sh", "-c", edit]} for w in workers])
    summary = run_plain(str(far.url), members, max_workers=3)
    unsettled = [w for w in summary.workers if w.status != "ok"]
    unsettled += [v for v in summary.verdicts if v.outcome != "applied"]
    assert summary.frame == 1 and summary.counts["applied"] == 6, unsettled
    assert snapshot(hub) == []


def test_first_submits_to_a_url_hub_at_once_all_land(hub: Hub, tmp_path: Path) -> None:
    """Many processes meeting a URL hub for the first time make one mirror between them,
    and their fetches into it take turns."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.helpers.cli import cli as gnp

    url = f"file://{hub.path.resolve()}"
    register(hub, "alice")
    ops = '[{"op": "incr", "file": "stats.json", "path": "/count", "value": 1}]'

    def submit(_: int) -> subprocess.CompletedProcess[str]:
        return gnp("submit", "--hub", url, "--worker", "alice", stdin=ops)

    with ThreadPoolExecutor(12) as pool:
        done = list(pool.map(submit, range(12)))
    assert [d.stderr for d in done if d.returncode != 0] == []
    assert len(snapshot(hub)) == 12
    run_frame(hub)
    assert hub.state().document("stats.json") == {"count": 12}


def test_an_unreachable_url_leaves_no_mirror_and_a_used_one_is_kept(
    hub: Hub, tmp_path: Path
) -> None:
    from gnp.git.remote import mirror_path
    from tests.helpers.cli import cli as gnp

    for url in (f"file://{tmp_path}/nope.git", "https://127.0.0.1:9/x.git"):
        done = gnp("keygen", "dave", "--hub", url)
        assert done.returncode == 1 and "cannot reach the hub" in done.stderr
        mirrors = mirror_path(url).parent
        assert not mirrors.exists() or list(mirrors.iterdir()) == []  # no mirror, no leftover
    # A mirror that has fetched may hold pushed work: a later failure leaves it alone.
    url = f"file://{hub.path.resolve()}"
    remote(hub)
    hub.path.rename(tmp_path / "moved.git")
    assert gnp("keygen", "dave", "--hub", url).returncode == 1
    assert (mirror_path(url) / "HEAD").exists()


def test_a_git_repository_that_is_not_a_hub_leaves_no_mirror(tmp_path: Path) -> None:
    from gnp.git.remote import mirror_path
    from tests.helpers.cli import cli as gnp

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "README").write_text("not a hub\n")
    for step in (("init", "-q", "-b", "main"), ("add", "README"), ("commit", "-q", "-m", "one")):
        done = git("-C", str(plain), "-c", "user.name=t", "-c", "user.email=t@t", *step)
        assert done.returncode == 0, done.stderr
    url = f"file://{plain}"
    done = gnp("keygen", "dave", "--hub", url)
    assert done.returncode == 1 and "is not a gnp hub" in done.stderr
    mirrors = mirror_path(url).parent
    assert not mirrors.exists() or list(mirrors.iterdir()) == []
