"""The command line without Prefect: what `gnp` says, and how, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gnp.git.connect import open_hub
from gnp.git.hub import Hub
from tests.helpers.cli import GNP, cli


def test_usage_errors_are_one_line_on_stderr() -> None:
    done = cli("no-such-command")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gnp: No such command 'no-such-command'. (see 'gnp --help')"
    ]
    assert "Traceback" not in done.stderr
    misused = cli("lineage", "--hub", "x", "--frame", "z")  # the hint names its command
    assert misused.returncode == 2 and misused.stderr.rstrip().endswith(
        "(see 'gnp lineage --help')"
    )


@pytest.mark.parametrize(
    "stdin, message",
    [
        ("not json", "not JSON"),
        ('{"ops": [], "x": 1}', "unknown field(s): x"),
        ("[]", "needs at least one operation"),
        ('[{"op": "incr", "file": "../x.json", "path": "/a", "value": 1}]', "'..' is not allowed"),
        (
            '[{"op": "incr", "file": ".gnp/k.json", "path": "/a", "value": 1}]',
            "belongs to the protocol",
        ),
        ('[{"op": "incr", "file": "a.json", "path": "/a", "value": true}]', "needs a number"),
        ('[{"op": "zap", "file": "a.json", "path": "/a"}]', "unknown op 'zap'"),
    ],
)
def test_submit_refuses_what_it_can_see_is_wrong(tmp_path: Path, stdin: str, message: str) -> None:
    hub = str(tmp_path / "hub.git")
    cli("init", hub)
    cli("keygen", "alice", "--hub", hub)
    done = cli("submit", "--hub", hub, "--worker", "alice", stdin=stdin)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gnp: refused") and message in lines[0]


def test_usage_errors_name_the_fix(tmp_path: Path) -> None:
    missing = cli("frame", "--hub", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert "is not a hub; create one with 'gnp init" in missing.stderr
    hub = str(tmp_path / "hub.git")
    cli("init", hub)
    ops = '[{"op": "incr", "file": "a.json", "path": "/n", "value": 1}]'
    nokey = cli("submit", "--hub", hub, "--worker", "zed", stdin=ops)
    assert f"create one with 'gnp keygen zed --hub {hub}'" in nokey.stderr  # the real hub


def test_option_help_says_what_the_readme_says() -> None:
    import typer

    from gnp_cli.app import app

    helps: dict[tuple[str, str], str] = {}
    for name, command in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        for param in command.params:
            if param.param_type_name == "option":  # typer vendors click: match by shape
                helps[name, param.opts[0]] = param.help or ""
    hubs = [help for (_, option), help in helps.items() if option == "--hub"]
    assert len(hubs) >= 8 and all("git URL" in help for help in hubs)
    assert "goes" in helps["frame", "--lineage"]
    assert "read" in helps["lineage", "--lineage"] and "goes" not in helps["lineage", "--lineage"]
    assert "{id, call|command, authority, timeout, cwd}" in helps["frame", "--roster"]


def test_run_messages_are_one_line_when_stderr_is_a_pipe(tmp_path: Path) -> None:
    hub = str(tmp_path / "hub.git")
    cli("init", hub)
    cli("keygen", "alice", "--hub", hub)
    env = {"GNP_WORKTREES": str(tmp_path / "wt"), "COLUMNS": "80"}
    broken = "echo '{not json' > stats.json"
    done = cli("run", "--hub", hub, "--worker", "alice", "--", "sh", "-c", broken, env=env)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("gnp: stats.json is not valid JSON") and len(line) > 80
    assert line.endswith("; submitted a fallback delta")


def test_lineage_of_a_frame_the_hub_never_ran_is_an_error(hub: Hub) -> None:
    from gnp.git.engine import run_frame
    from tests.helpers.hubs import incr, send

    where = str(hub.path)
    early = cli("lineage", "--hub", where, "--frame", "1")
    assert (early.returncode, early.stderr) == (1, "gnp: the hub has no frames yet\n")
    for _ in range(2):
        send(hub, "alice", incr())
        run_frame(hub)  # frames without lineage rows: only a frame flow writes them
    beyond = cli("lineage", "--hub", where, "--frame", "9")
    assert beyond.returncode == 1 and beyond.stdout == ""
    assert beyond.stderr == "gnp: frames run from 1 to 2; there is no frame 9\n"
    known = cli("lineage", "--hub", where, "--frame", "2")
    assert known.returncode == 0
    assert known.stdout.startswith(f"no lineage yet for frame 2 in {where}/gnp-lineage (")


def test_submit_from_a_terminal_says_it_reads_stdin_and_a_pipe_stays_quiet(hub: Hub) -> None:
    import os
    import pty

    from tests.helpers.hubs import worker_key

    worker_key(hub, "alice")
    ops = '[{"op": "incr", "file": "stats.json", "path": "/n", "value": 1}]'
    piped = cli("submit", "--hub", str(hub.path), "--worker", "alice", stdin=ops)
    assert piped.returncode == 0 and piped.stderr == ""
    terminal, stdin = pty.openpty()
    try:
        typed = subprocess.Popen(
            [GNP, "submit", "--hub", str(hub.path), "--worker", "alice"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(terminal, ops.encode() + b"\n\x04")  # what a user types, then Ctrl-D
        out, err = typed.communicate(timeout=60)
    finally:
        os.close(stdin)
        os.close(terminal)
    assert typed.returncode == 0 and len(out.strip()) == 64
    assert err == "gnp: reading ops from stdin (end with Ctrl-D)\n"


@pytest.mark.parametrize(
    ("stop", "code", "said"),
    [("SIGINT", 130, "gnp: interrupted\n"), ("SIGTERM", 143, "")],
)
def test_stopping_gnp_run_stops_the_command_and_leaves_its_fallback(
    tmp_path: Path, stop: str, code: int, said: str
) -> None:
    import os
    import signal

    from gnp.core.delta import decode
    from gnp.git.inbox import snapshot, take
    from tests.helpers.waiting import wait_until

    env = {**os.environ, "GNP_WORKTREES": str(tmp_path / "wt")}
    hub = str(tmp_path / "hub.git")
    assert cli("init", hub).returncode == 0
    assert cli("keygen", "w", "--hub", hub).returncode == 0
    started = tmp_path / "started"
    command = [GNP, "run", "--hub", hub, "--worker", "w", "--", "sh", "-c"]
    work = subprocess.Popen(
        [*command, f"touch {started}; echo '{{\"n\": 1}}' > n.json; sleep 60"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(started.exists, "the command started", 60)
        os.killpg(work.pid, signal.Signals[stop])  # SIGINT: as a terminal's Ctrl-C
        out, err = work.communicate(timeout=60)
    finally:
        if work.poll() is None:
            os.killpg(work.pid, signal.SIGKILL)
    assert (work.returncode, out, err) == (code, "", said)
    assert list((tmp_path / "wt").iterdir()) == []  # its worktree went with it
    opened = open_hub(hub)
    [delta] = [decode(take(opened, item)) for item in snapshot(opened)]
    assert (delta.worker, delta.status, delta.ops) == ("w", "fallback", ())  # n.json: not
    assert delta.error == f"stopped: the process running it was told to stop ({stop})"


def test_gnp_run_warns_of_files_that_are_not_state(tmp_path: Path) -> None:
    hub = str(tmp_path / "hub.git")
    cli("init", hub)
    cli("keygen", "alice", "--hub", hub)
    env = {"GNP_WORKTREES": str(tmp_path / "wt")}
    work = "echo '{\"n\": 1}' > n.json && echo hello > notes.txt"
    done = cli("run", "--hub", hub, "--worker", "alice", "--", "sh", "-c", work, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "gnp: warning: not state files (state files end in .json), not merged: notes.txt\n"
    )
    quiet = cli("run", "--hub", hub, "--worker", "alice", "--", "sh", "-c", "echo 2 > n.json")
    assert quiet.returncode == 0 and quiet.stderr == ""  # a state file alone: nothing to say


def test_a_worker_whose_output_is_markup_is_shown_as_text(demo_hub: Hub) -> None:
    from rich.console import Console

    from gnp.frame.pipeline import run_plain
    from gnp.frame.roster import parse
    from gnp_cli.show import workers_table

    flaky = {"id": "flaky", "command": ["sh", "-c", "echo '[/oops] x'; exit 1"]}
    summary = run_plain(str(demo_hub.path), parse([flaky]))
    console = Console(record=True, width=200)
    console.print(workers_table(summary.workers))
    assert "[/oops] x" in console.export_text()


def test_help_loads_nothing_of_gnp() -> None:
    """`gnp --help` and a usage error pay for the command line alone, not for the core."""
    probe = (
        "import sys\n"
        "from gnp_cli.entry import main\n"
        "sys.argv = ['gnp', *sys.argv[1:]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    loaded = [m for m in sys.modules if m == 'gnp' or m.startswith('gnp.')]\n"
        "    print(exit.code, loaded, file=sys.__stderr__)\n"
    )
    for args, code in ((["--help"], 0), (["frame", "--help"], 0), (["no-such"], 2)):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60
        )
        assert done.stderr.splitlines()[-1] == f"{code} []", done.stderr


def test_grant_records_the_owners_grant_and_submit_keeps_to_it(tmp_path: Path) -> None:
    hub = str(tmp_path / "hub.git")
    cli("init", hub)
    nokey = cli("grant", "--hub", hub, "bob", "--authority", "2")
    assert nokey.returncode == 1
    assert (
        nokey.stderr == f"gnp: bob has no key on this hub; run 'gnp keygen bob --hub {hub}' first\n"
    )
    cli("keygen", "bob", "--hub", hub)
    done = cli(
        "grant",
        "--hub",
        hub,
        "bob",
        "--authority",
        "2",
        "--files",
        "posts/*.json",
        "--files",
        "agents.json",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "granted bob authority 2, files posts/*.json and agents.json\n"
    assert open_hub(hub).state().grants.of("bob").files == ("posts/*.json", "agents.json")
    bad = cli("grant", "--hub", hub, "bob", "--files", ".gnp/keyring.json")
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1
    assert bad.stderr.startswith("gnp: glob '.gnp/keyring.json' refused: .gnp is not state")
    op = '{"op": "incr", "file": "posts/a.json", "path": "/n", "value": 1}'
    over = f'{{"ops": [{op}], "authority": 3}}'
    refused = cli("submit", "--hub", hub, "--worker", "bob", stdin=over)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "gnp: refused (over-grant): 'bob' claims authority 3, but its grant allows at most 2; "
        "the hub's owner can raise it (gnp grant --authority)"
    ]
    within = cli("submit", "--hub", hub, "--worker", "bob", stdin=over.replace('": 3}', '": 2}'))
    assert within.returncode == 0, within.stderr
    every = cli("grant", "--hub", hub, "bob")
    assert every.stdout == "granted bob authority 0, files **\n"


@pytest.mark.damages_hub
def test_verify_prints_a_line_per_check_and_exits_0_only_when_all_hold(tmp_path: Path) -> None:
    import json

    from tests.helpers.hubs import git

    hub = str(tmp_path / "hub.git")
    cli("init", hub)
    cli("keygen", "alice", "--hub", hub)
    ops = '[{"op": "incr", "file": "a.json", "path": "/n", "value": 1}]'
    cli("submit", "--hub", hub, "--worker", "alice", stdin=ops)
    clean = cli("verify", "--hub", hub)
    assert clean.returncode == 0, clean.stderr
    lines = clean.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok    history",
        "ok    replay",
        "ok    ledger",
        "ok    keyring",
        "ok    grants",
        "ok    inbox",
        "ok    fsck",
    ]
    # A commit by plain git on main.
    tree = git("--git-dir", hub, "rev-parse", "main^{tree}").stdout.strip()
    sneak = git("--git-dir", hub, "commit-tree", tree, "-p", "main", "-m", "sneak").stdout.strip()
    git("--git-dir", hub, "update-ref", "refs/heads/main", sneak)
    damaged = cli("verify", "--hub", hub)
    assert damaged.returncode == 1
    assert damaged.stderr.strip().splitlines() == [f"gnp: {hub} fails 1 check(s): history"]
    assert f"FAIL  history: commit {sneak[:12]}: 'sneak' was not made by gnp" in damaged.stdout
    as_json = json.loads(cli("verify", "--hub", hub, "--json").stdout)
    assert as_json["ok"] is False
    [history] = [c for c in as_json["checks"] if not c["ok"]]
    assert history["check"] == "history" and history["findings"][0]["where"].startswith("commit ")


def test_owner_commands_are_authored_by_the_owners_git_identity(tmp_path: Path) -> None:
    """init, keygen, declare and grant carry the owner's git identity as author (the
    engine stays committer); with none configured, the engine's; frames stay the engine's."""
    owner_home = tmp_path / "owner"
    owner_home.mkdir()
    (owner_home / ".gitconfig").write_text(
        "[user]\n\tname = Ada Owner\n\temail = ada@example.org\n"
    )
    nobody = tmp_path / "nobody"
    nobody.mkdir()
    plain = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "GIT_CONFIG_NOSYSTEM": "1"}
    hub = str(tmp_path / "hub.git")
    as_owner = {**plain, "HOME": str(owner_home)}
    for args in (
        ["init", hub],
        ["keygen", "alice", "--hub", hub],
        ["declare", "--hub", hub, "stats.json", "/n", "counter"],
        ["grant", "--hub", hub, "alice", "--authority", "1"],
    ):
        done = cli(*args, env=as_owner)
        assert done.returncode == 0, done.stderr
    assert cli("keygen", "bob", "--hub", hub, env={**plain, "HOME": str(nobody)}).returncode == 0
    log = subprocess.run(
        ["git", "--git-dir", hub, "log", "--format=%an <%ae> | %cn | %s", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [line.split(" | ")[0] for line in log] == [
        "gnp engine <engine@gnp.invalid>",  # bob's key: no identity where it was made
        *["Ada Owner <ada@example.org>"] * 4,
    ]
    assert {line.split(" | ")[1] for line in log} == {"gnp engine"}
