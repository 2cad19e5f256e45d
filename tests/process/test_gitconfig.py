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
