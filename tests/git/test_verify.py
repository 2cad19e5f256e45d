"""`gnp verify`: a hub checked end to end, each check shown failing on a hub damaged by
plain git in the one way it guards against; and the engine refusing a main that
something other than gnp moved, until the recovery it names is done."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pytest

from gnp import GnpError, Op, canonical
from gnp.core.layout import KEYRING_FILE, MAIN, ledger_path, ref_name
from gnp.core.verdict import Outcome
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.verify import Verification, verify
from tests.helpers.hubs import git, incr, push_raw, send, state


def _frames(hub: Hub, count: int = 3) -> None:
    for n in range(count):
        send(hub, "alice", incr())
        send(hub, "bob", Op("append", "log.json", "/items", n))
        run_frame(hub)


def _failing(result: Verification) -> dict[str, list[str]]:
    return {c.name: [f.line() for f in c.findings] for c in result.checks if not c.ok}


def _plain(hub: Hub, *args: str, stdin: str | None = None) -> str:
    """A plain git command on the hub (``git --git-dir HUB ...``); its output."""
    import subprocess

    done = subprocess.run(
        ["git", "--git-dir", str(hub.path), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _commit_on_main(
    hub: Hub, message: str, files: dict[str, str], *, parent: str = "main", amend: bool = False
) -> str:
    """A commit made by plain git on main (its tree: ``parent``'s, plus ``files``, a
    value of '' removing one), main moved to it with `git update-ref`."""
    index = {"GIT_INDEX_FILE": str(hub.path / "plain-index")}
    import os
    import subprocess

    env = {**os.environ, **index}

    def run(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(hub.path), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout.strip()

    base = f"{parent}^" if amend else parent
    run("read-tree", "main" if amend else parent)
    for path, text in files.items():
        if text == "":
            run("update-index", "--index-info", stdin=f"0 {'0' * 40}\t{path}\n")
        else:
            blob = run("hash-object", "-w", "--stdin", stdin=text)
            run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    tree = run("write-tree")
    commit = run("commit-tree", tree, "-p", base, stdin=message)
    run("update-ref", MAIN, commit)
    (hub.path / "plain-index").unlink()
    return commit


def test_a_delta_copied_under_another_workers_ref_leaves_the_ledger_sound(hub: Hub) -> None:
    """Mallory pushes alice's delta, bytes and id, under her own ref: refused there (and
    not archived), applied from alice's. The id has two verdicts in one frame, and the
    ledger entry is the applied one's."""
    delta = send(hub, "alice", incr())
    send(hub, "mallory", incr())  # mallory is registered
    push_raw(hub, "mallory", delta.id, delta.encode())
    report = run_frame(hub)
    assert report.count(Outcome.APPLIED) == 2 and report.count(Outcome.REJECTED) == 1
    result = verify(hub)
    assert result.ok, _failing(result)


def test_a_clean_hub_after_several_frames_passes(hub: Hub) -> None:
    from gnp.git.registry import declare

    declare(hub, "stats.json", "/count", "counter")
    _frames(hub)
    send(hub, "alice", incr())  # waiting for the next frame: fine
    result = verify(hub)
    assert result.ok, _failing(result)
    assert [c.name for c in result.checks] == [
        "history",
        "replay",
        "ledger",
        "keyring",
        "grants",
        "inbox",
        "fsck",
    ]
    lines = [c.line() for c in result.checks]
    assert "ok    replay: 3 frames replay exactly" in lines
    assert "ok    ledger: 6 entries, each a delta its frame settled and archived" in lines
    assert result.to_json()["ok"] is True


def test_a_new_hub_passes(hub: Hub) -> None:
    assert verify(hub).ok


@pytest.mark.damages_hub
def test_history_a_plain_git_commit_on_main_fails(hub: Hub) -> None:
    _frames(hub, 1)
    good = str(hub.main().id)
    bad = _commit_on_main(hub, "add a readme\n", {"README.md": "hello\n"})
    failing = _failing(verify(hub))
    assert list(failing) == ["history"]
    [line] = failing["history"]
    assert line.startswith(f"commit {bad[:12]}: 'add a readme' was not made by gnp")
    assert f"update-ref {MAIN} {good}" in line


@pytest.mark.damages_hub
def test_history_a_commit_claiming_an_owner_command_that_changes_more_fails(hub: Hub) -> None:
    _frames(hub, 1)
    message = "gnp keygen: register carol\n\nGnp-Keyring: carol\n"
    bad = _commit_on_main(hub, message, {"stats.json": '{"count": 100}\n'})
    [line] = _failing(verify(hub))["history"]
    assert line.startswith(f"commit {bad[:12]}")
    assert "it changes stats.json, which a gnp keygen commit may not" in line


@pytest.mark.damages_hub
def test_history_a_merge_commit_on_main_fails(hub: Hub) -> None:
    _frames(hub, 1)
    side = _plain(hub, "commit-tree", "main^{tree}", "-p", "main", "-m", "side")
    merged = _plain(
        hub, "commit-tree", "main^{tree}", "-p", "main", "-p", side, "-m", "Merge branch 'side'"
    )
    _plain(hub, "update-ref", MAIN, merged)
    [line] = _failing(verify(hub))["history"]
    assert line.startswith(f"commit {merged[:12]}") and "was not made by gnp" in line


@pytest.mark.damages_hub
def test_replay_a_forged_frame_commit_fails(hub: Hub) -> None:
    _frames(hub, 2)
    # Frame 2 rewritten by plain git: the same message, trailers and parent, one more
    # post in stats.json. Every path it changes is one a frame may change.
    tip = hub.main()
    forged = _commit_on_main(
        hub, tip.message, {"stats.json": '{\n  "count": 99\n}\n'}, parent="main", amend=True
    )
    failing = _failing(verify(hub))
    assert list(failing) == ["replay"]
    [line] = failing["replay"]
    assert line.startswith(f"frame 2 (commit {forged[:12]}): does not replay")
    assert "stats.json#/count" in line and str(tip.parents[0].id)[:12] in line


@pytest.mark.damages_hub
def test_ledger_a_deleted_entry_fails(hub: Hub) -> None:
    delta = send(hub, "alice", incr())
    run_frame(hub)
    _commit_on_main(
        hub, "gnp seed: nothing\n", {ledger_path(delta.id): ""}
    )  # history fails too: a seed after frame 1, changing the ledger
    failing = _failing(verify(hub))
    assert "ledger" in failing
    [line] = failing["ledger"]
    assert line.startswith(f"delta {delta.id[:12]}: frame 1 settled it")
    assert "is missing; it could be applied again" in line


@pytest.mark.damages_hub
def test_ledger_an_entry_naming_no_archived_delta_fails(hub: Hub) -> None:
    _frames(hub, 1)
    invented = "ab" * 32
    tip = hub.main()
    _commit_on_main(hub, tip.message, {ledger_path(invented): "1\n"}, amend=True)
    lines = _failing(verify(hub))["ledger"]
    assert any(
        line.startswith(ledger_path(invented)) and "says frame 1, whose archive has no" in line
        for line in lines
    )


@pytest.mark.damages_hub
@pytest.mark.parametrize("orphan", ["settled", "unregistered", "misnamed"])
def test_inbox_an_orphaned_ref_fails(hub: Hub, orphan: str) -> None:
    delta = send(hub, "alice", incr())
    pushed = str(hub.repo.lookup_reference(ref_name("alice", delta.id)).target)
    run_frame(hub)
    if orphan == "settled":  # a frame merged it, and its ref came back (a crashed cleanup)
        ref = ref_name("alice", delta.id)
        why = "holds a delta the ledger already settled"
    elif orphan == "unregistered":
        ref = push_raw(hub, "zed", "cd" * 32, b"{}")
        why = "is from 'zed', who has no key on the hub"
    else:
        ref = "refs/gnp/inbox/alice/not-a-delta-id"
        why = "is not named refs/gnp/inbox/<worker>/<delta id>"
    if orphan != "unregistered":
        _plain(hub, "update-ref", ref, pushed)
    failing = _failing(verify(hub))
    assert list(failing) == ["inbox"]
    [line] = failing["inbox"]
    assert line.startswith(f"{ref}: {why}") and f"gnp frame --hub {hub.path}" in line
    run_frame(hub)  # what the line says to do
    assert verify(hub).ok


@pytest.mark.damages_hub
def test_fsck_a_corrupt_object_fails(hub: Hub) -> None:
    _frames(hub, 1)
    # A loose object whose bytes do not hash to its name: rot on disk.
    oid = _plain(hub, "hash-object", "-w", "--stdin", stdin="rotting\n")
    path = hub.path / "objects" / oid[:2] / oid[2:]
    path.chmod(0o644)
    path.write_bytes(zlib.compress(b"blob 7\x00rotted\n"))
    failing = _failing(verify(hub))
    assert list(failing) == ["fsck"]
    [line] = failing["fsck"]
    assert line.startswith(f"{hub.path}: git fsck --strict says: ") and oid[2:9] in line


@pytest.mark.damages_hub
def test_keyring_a_malformed_keyring_fails(hub: Hub) -> None:
    _frames(hub, 1)
    ring = {**hub.state().keyring_text, "carol": "ssh-rsa AAAAB3NzaC1yc2E carol"}
    message = "gnp keygen: register carol\n\nGnp-Keyring: carol\n"
    _commit_on_main(hub, message, {KEYRING_FILE: canonical.encode_pretty(ring).decode()})
    failing = _failing(verify(hub))
    assert list(failing) == ["keyring"]
    [line] = failing["keyring"]
    assert line.startswith(f"{KEYRING_FILE} entry 'carol': public key of kind 'ssh-rsa'")


@pytest.mark.damages_hub
def test_keyring_that_is_not_an_object_fails(hub: Hub) -> None:
    message = "gnp keygen: register carol\n\nGnp-Keyring: carol\n"
    _commit_on_main(hub, message, {KEYRING_FILE: '["carol"]\n'})
    assert _failing(verify(hub))["keyring"] == [
        f"{KEYRING_FILE}: is not a JSON object; restore it from git"
    ]


@pytest.mark.damages_hub
def test_grants_naming_an_unregistered_worker_fail(hub: Hub) -> None:
    _frames(hub, 1)
    message = "gnp grant: zed may write anything\n\nGnp-Grant: zed\n"
    _commit_on_main(hub, message, {".gnp/grants.json": '{"zed": {"authority": 3}}\n'})
    failing = _failing(verify(hub))
    assert list(failing) == ["grants"]
    assert failing["grants"][0].startswith(".gnp/grants.json entry 'zed': grants a worker")


def test_the_engine_refuses_a_main_something_else_moved_until_it_is_reset(hub: Hub) -> None:
    _frames(hub, 1)
    good = str(hub.main().id)
    bad = _commit_on_main(hub, "add a readme\n", {"README.md": "hello\n"})
    delta = send(hub, "alice", incr())
    with pytest.raises(GnpError) as refused:
        run_frame(hub)
    said = str(refused.value)
    assert said.startswith(f"main's tip {bad[:12]} was not made by gnp (its subject")
    assert "\n" not in said and f"gnp verify --hub {hub.path}" in said
    assert str(hub.main().id) == bad  # nothing was built on it
    # The recovery it names, as said, with plain git.
    command = re.search(r"`(git [^`]+)`", said)
    assert command is not None
    assert command[1] == f"git -C {hub.path} update-ref {MAIN} {good} {bad}"
    git(*command[1].split()[1:])
    report = run_frame(hub)
    assert report.frame == 2 and report.verdicts[0].delta == delta.id
    assert report.count(Outcome.APPLIED) == 1
    assert state(hub, "stats.json") == {"count": 2}
    assert verify(hub).ok


def test_the_engine_refuses_a_tip_that_claims_a_kind_and_changes_more(hub: Hub) -> None:
    _frames(hub, 1)
    _commit_on_main(hub, "gnp declare: x\n", {".gnp/types.json": "{}\n", "a.json": "{}\n"})
    send(hub, "alice", incr())
    with pytest.raises(GnpError, match=r"it changes a\.json, which a gnp declare commit may not"):
        run_frame(hub)
    _plain(hub, "update-ref", MAIN, "main^")
    assert run_frame(hub).frame == 2


def test_main_moved_during_a_frame_by_something_else_is_refused_not_built_on(
    hub: Hub, tmp_path: Path
) -> None:
    """The compare-and-swap retry reads main again, and judges it again: an owner's
    commit is built on (tests/git/test_engine.py), a foreign one refused."""
    send(hub, "alice", incr())
    original = hub.advance_main
    moved: list[str] = []

    def advance(base, new, message):  # type: ignore[no-untyped-def]
        if not moved:
            moved.append(_commit_on_main(hub, "hotfix\n", {"stats.json": '{"count": 7}\n'}))
        return original(base, new, message)

    hub.advance_main = advance  # type: ignore[method-assign]
    with pytest.raises(GnpError, match=r"main's tip \w+ was not made by gnp"):
        run_frame(hub)
    assert str(hub.main().id) == moved[0]
    hub.advance_main = original  # type: ignore[method-assign]
    _plain(hub, "update-ref", MAIN, "main^")
    assert run_frame(hub).count(Outcome.APPLIED) == 1
    assert state(hub, "stats.json") == {"count": 1}
    assert verify(hub).ok


@pytest.mark.damages_hub
def test_a_hub_at_a_url_is_verified_through_its_mirror(hub: Hub) -> None:
    from gnp.git.connect import open_hub

    _frames(hub, 2)
    far = open_hub(f"file://{hub.path.resolve()}")
    result = verify(far)
    assert result.ok, _failing(result)
    assert result.hub == far.url
    _commit_on_main(hub, "add a readme\n", {"README.md": "hello\n"})
    [line] = _failing(verify(far))["history"]
    assert "`git update-ref refs/heads/main" in line  # on the hub's host, not the mirror
