"""gnp decides what is state, not the user's git configuration: excludes, attributes and
their filters, line ends and hooks change nothing in a worktree or in what `gnp run`
submits. Each test runs the real `gnp` with a hostile HOME, as a user's would be."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnp import Op
from gnp.core.delta import decode
from gnp.core.verdict import Outcome
from gnp.git import trees
from gnp.git.connect import open_hub
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot, take
from gnp.git.local import LocalRepo
from tests.helpers.cli import cli
from tests.helpers.hubs import incr, send
from tests.helpers.worktrees import leftovers

FAILING_HOOK = "#!/bin/sh\necho 'hook says no' >&2\nexit 1\n"
HOOKS = ("pre-commit", "commit-msg", "post-checkout", "reference-transaction", "pre-push")
# Each hostile setting: what it puts in the global configuration, in the global
# excludes file and in the global attributes file.
SETTINGS: dict[str, tuple[str, str, str]] = {
    "excludes": ("", "*.json\n*.txt\n", ""),
    "autocrlf": ("[core]\n\tautocrlf = true\n", "", ""),
    "eol": ("", "", "* text eol=crlf\n"),
    "ident": ("", "", "*.json ident\n"),
    "rewriting filter": (
        '[filter "evil"]\n\tsmudge = sed s/count/EVIL/\n\tclean = sed s/count/EVIL/\n',
        "",
        "*.json filter=evil\n",
    ),
    "failing filter": (
        '[filter "evil"]\n\tsmudge = false\n\tclean = false\n\trequired = true\n',
        "",
        "*.json filter=evil\n",
    ),
    "hooks": ("[core]\n\thooksPath = {hooks}\n", "", ""),
    "untracked hidden": ("[status]\n\tshowUntrackedFiles = no\n", "", ""),
}


def hostile_home(home: Path, layout: str, settings: list[str]) -> dict[str, str]:
    """A HOME whose git configuration holds ``settings`` (of SETTINGS), each of which
    would change what a worker submits if it counted. ``layout``: ``explicit`` names the
    excludes and attributes files in ~/.gitconfig; ``xdg`` leaves everything where git
    looks by default, under $XDG_CONFIG_HOME/git/. Returns the environment."""
    xdg = home / ".config"
    (xdg / "git").mkdir(parents=True)
    hooks = home / "hooks"
    hooks.mkdir()
    for hook in HOOKS:
        (hooks / hook).write_text(FAILING_HOOK)
        (hooks / hook).chmod(0o755)
    config = "".join(SETTINGS[s][0] for s in settings).replace("{hooks}", str(hooks))
    ignore = "".join(SETTINGS[s][1] for s in settings)
    attributes = "".join(SETTINGS[s][2] for s in settings)
    if layout == "explicit":
        (home / "ignore").write_text(ignore)
        (home / "attributes").write_text(attributes)
        config += f"[core]\n\texcludesFile = {home / 'ignore'}\n"
        config += f"\tattributesFile = {home / 'attributes'}\n"
        (home / ".gitconfig").write_text(config)
    else:
        (xdg / "git" / "ignore").write_text(ignore)
        (xdg / "git" / "attributes").write_text(attributes)
        (xdg / "git" / "config").write_text(config)
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}


@pytest.mark.parametrize(
    ("layout", "settings"),
    [("explicit", [s]) for s in SETTINGS]
    + [("explicit", [s for s in SETTINGS if s != "failing filter"]), ("xdg", list(SETTINGS))],
    ids=[*SETTINGS, "all but the failing filter", "all, where git looks by default"],
)
def test_the_users_git_configuration_changes_nothing_a_run_submits(
    hub: Hub, local: LocalRepo, tmp_path: Path, layout: str, settings: list[str]
) -> None:
    # main: stats.json, {"count": 1}, pretty-printed over lines; id.json, which git's
    # ident attribute would expand
    send(hub, "w", incr(), Op("add", "id.json", "", {"v": "$Id$"}))
    run_frame(hub)
    env = hostile_home(tmp_path / "home", layout, settings)
    seen = tmp_path / "seen"
    work = (
        f"cat stats.json id.json > {seen} && "  # the checkout as the work finds it
        "echo '{\"count\": 5}' > stats.json && echo '{\"n\": 1}' > new.json && "
        "mkdir sub && echo '{\"d\": [1]}' > sub/deep.json && echo note > notes.txt && "
        # The work commits too, through the same configuration (whose hooks refuse).
        "{ git add -A; git -c user.name=a -c user.email=a@b commit -qm work; } >/dev/null 2>&1; "
        "true"
    )
    done = cli("run", "--hub", str(hub.path), "--worker", "w", "--", "sh", "-c", work, env=env)
    assert done.returncode == 0, done.stderr
    checked_out = [trees.read(hub.main().tree, f) or b"" for f in ("stats.json", "id.json")]
    assert b"\r" not in checked_out[0] and b"$Id$" in checked_out[1]
    assert seen.read_bytes() == b"".join(checked_out)  # main's blobs, byte for byte
    opened = open_hub(hub.path)
    [delta] = [decode(take(opened, item)) for item in snapshot(opened)]
    assert done.stdout == f"{delta.id}\n"
    assert [op.to_json() for op in delta.ops] == [
        {"op": "add", "file": "new.json", "path": "", "value": {"n": 1}},
        {"op": "test", "file": "stats.json", "path": "/count", "value": 1},
        {"op": "replace", "file": "stats.json", "path": "/count", "value": 5},
        {"op": "append", "file": "sub/deep.json", "path": "/d", "value": 1},  # makes it
    ]
    assert "not merged: notes.txt" in done.stderr  # not state, and said so, not hidden
    assert run_frame(hub).count(Outcome.APPLIED) == 1
    state = hub.state()
    assert state.document("stats.json") == {"count": 5}
    assert state.document("new.json") == {"n": 1}
    assert state.document("sub/deep.json") == {"d": [1]}
    assert leftovers(local) == []


# Where a FIFO is planted: each is a file git opens for a checkout.
FIFOS = {
    "named excludes": ("[core]\n\texcludesFile = {fifo}\n", "fifo"),
    "named attributes": ("[core]\n\tattributesFile = {fifo}\n", "fifo"),
    "an include": ("[include]\n\tpath = {fifo}\n", "fifo"),
    "a conditional include": ('[includeIf "gitdir:/"]\n\tpath = {fifo}\n', "fifo"),
    "default excludes": ("", ".config/git/ignore"),
    "default attributes": ("", ".config/git/attributes"),
    "the configuration itself": (None, ".gitconfig"),
}


@pytest.mark.parametrize("where", list(FIFOS))
def test_a_fifo_in_the_users_git_configuration_is_refused_not_waited_on(
    hub: Hub, local: LocalRepo, tmp_path: Path, where: str
) -> None:
    """A FIFO would keep git, and libgit2's checkout, waiting for a writer for ever. Any
    process running as the user (a worker) can plant one: the run is refused in one line
    naming it, and leaves nothing behind."""
    import os

    home = tmp_path / "home"
    (home / ".config" / "git").mkdir(parents=True)
    config, planted = FIFOS[where]
    fifo = home / planted
    os.mkfifo(fifo)
    if config is not None:
        (home / ".gitconfig").write_text(config.replace("{fifo}", str(fifo)))
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    done = cli("run", "--hub", str(hub.path), "--worker", "w", "--", "true", env=env, timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and f"{fifo}" in done.stderr, done.stderr
    assert "is a FIFO" in done.stderr and "make it a regular file, or remove it" in done.stderr
    assert snapshot(open_hub(hub.path)) == []
    assert leftovers(local) == []


def test_excludes_at_dev_null_or_a_folder_are_no_reason_to_refuse(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    import os

    home = tmp_path / "home"
    (home / ".config" / "git" / "attributes").mkdir(parents=True)  # a folder: passed over
    os.mkfifo(home / "tool")  # a path of another section: git does not read it as config
    (home / ".gitconfig").write_text(
        "[core]\n\texcludesFile = /dev/null ; a comment\n"
        f'[mergetool "mine"]\n\tpath = {home / "tool"}\n'
    )
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    work = "echo '{\"n\": 1}' > n.json"
    done = cli("run", "--hub", str(hub.path), "--worker", "w", "--", "sh", "-c", work, env=env)
    assert done.returncode == 0, done.stderr
    assert run_frame(hub).count(Outcome.APPLIED) == 1
    assert leftovers(local) == []


@pytest.mark.parametrize("command", ["init", "inbox"])
def test_a_fifo_for_a_git_configuration_stops_any_command_with_one_line(
    hub: Hub, tmp_path: Path, command: str
) -> None:
    import os

    home = tmp_path / "home"
    home.mkdir()
    os.mkfifo(home / ".gitconfig")
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    where = str(tmp_path / "new.git") if command == "init" else str(hub.path)
    args = [where] if command == "init" else ["--hub", where]
    done = cli(command, *args, env=env, timeout=60)
    assert done.returncode == 1
    assert (
        done.stderr.count("\n") == 1
        and f"{home / '.gitconfig'}, a git configuration file, is a FIFO" in done.stderr
    )
    assert not (tmp_path / "new.git").exists()


def test_a_configuration_that_includes_itself_is_refused_at_once(hub: Hub, tmp_path: Path) -> None:
    """Four includes of itself: git and libgit2 stop at their depth limit; a reading of
    every branch would take 4**11 reads. gnp refuses it as git does, at once."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[include]\n" + "\tpath = ~/.gitconfig\n" * 4)
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    done = cli("inbox", "--hub", str(hub.path), env=env, timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "remove the loop of include.path" in done.stderr


@pytest.mark.parametrize("where", ["hub config", "local config", "local exclude", "an include"])
def test_a_fifo_in_gnps_own_repositories_is_refused_not_waited_on(
    hub: Hub, local: LocalRepo, tmp_path: Path, where: str
) -> None:
    """A worker runs as the user, and can plant a FIFO in the hub's or gnp's own
    repository as well as in the user's configuration."""
    import os

    repo = Path(hub.repo.path) if where == "hub config" else local.path
    if where == "an include":
        fifo = tmp_path / "included"
        with (repo / "config").open("a") as config:
            config.write(f"[include]\n\tpath = {fifo}\n")
    else:
        fifo = repo / ("info/exclude" if where == "local exclude" else "config")
        fifo.parent.mkdir(exist_ok=True)
        saved = fifo.read_bytes() if fifo.exists() else None
        fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    done = cli("run", "--hub", str(hub.path), "--worker", "w", "--", "true", timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and f"{fifo}" in done.stderr and "is a FIFO" in done.stderr
    fifo.unlink()
    if where == "an include":
        text = (repo / "config").read_text()
        (repo / "config").write_text(text.replace(f"[include]\n\tpath = {fifo}\n", ""))
    elif saved is not None:
        fifo.write_bytes(saved)
    assert snapshot(open_hub(hub.path)) == []
    assert leftovers(local) == []
