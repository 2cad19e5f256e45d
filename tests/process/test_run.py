"""The run harness (gnp.process.run): every run ends in exactly one verdict, a delta,
nothing, or a fallback in the inbox saying why, whatever the work left behind."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from gnp.core.delta import Delta, decode
from gnp.core.verdict import Outcome
from gnp.git.connect import open_hub
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot, take
from gnp.git.local import LocalRepo
from gnp.process import run as harness
from gnp.process.run import RunResult, run
from tests.helpers.cli import cli
from tests.helpers.hubs import incr, send
from tests.helpers.worktrees import leftovers


def inbox(hub: Hub) -> list[Delta]:
    opened = open_hub(hub.path)  # afresh: what the hub holds now
    return [decode(take(opened, item)) for item in snapshot(opened)]


def ended_in_one_fallback(hub: Hub, local: LocalRepo, result: RunResult) -> str:
    """The run's fallback, the only delta in the inbox, and nothing left behind: its reason."""
    assert result.status == "fallback", result
    [delta] = inbox(hub)
    assert (delta.id, delta.status, delta.ops) == (result.delta_id, "fallback", ())
    assert delta.error == result.error and "\n" not in (delta.error or "")
    assert leftovers(local) == []
    assert list(Path(os.environ["GNP_WORKTREES"]).iterdir()) == []
    return delta.error or ""


@pytest.fixture
def seeded(hub: Hub, local: LocalRepo) -> Hub:
    """A hub whose main holds stats.json, {"count": 1}."""
    send(hub, "w", incr())
    run_frame(hub)
    return hub


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def test_a_number_json_cannot_carry_is_a_fallback_naming_the_file(
    hub: Hub, local: LocalRepo
) -> None:
    result = run(hub, "w", sh("echo '{\"big\": 1e400}' > x.json"))  # decodes to infinity
    reason = ended_in_one_fallback(hub, local, result)
    assert reason.startswith("x.json holds a number too large for JSON")
    assert "write a finite number" in reason


def test_a_state_file_nested_900_deep_is_a_fallback_naming_the_file(
    hub: Hub, local: LocalRepo
) -> None:
    deep = "[" * 900 + "]" * 900
    result = run(hub, "w", sh(f"echo '{deep}' > x.json"))
    reason = ended_in_one_fallback(hub, local, result)
    assert reason == (
        "x.json nests deeper than 256 levels after the work, deeper than a state file may: "
        "flatten it"
    )


def _recurse(*args: Any, **kwargs: Any) -> Any:
    return _recurse(*args, **kwargs)


def _out_of_memory(*args: Any, **kwargs: Any) -> Any:
    raise MemoryError


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a step of the harness broke")


@pytest.mark.parametrize(
    ("step", "said"),
    [
        (_recurse, "RecursionError: maximum recursion depth exceeded"),
        (_out_of_memory, "MemoryError: "),
        (_broken, "RuntimeError: a step of the harness broke"),
    ],
)
def test_any_failure_of_the_harness_after_the_command_is_a_fallback_saying_so(
    hub: Hub, local: LocalRepo, monkeypatch: pytest.MonkeyPatch, step: Any, said: str
) -> None:
    monkeypatch.setattr(harness, "fitted", step)  # a step between the edits and the delta
    result = run(hub, "w", sh("echo '{\"n\": 1}' > n.json"))
    reason = ended_in_one_fallback(hub, local, result)
    assert reason.startswith(f"gnp failed on the work's edits after the command ran ({said}")
    assert reason.endswith("run the work again, and report this if it happens again")


def test_a_recursion_error_while_diffing_a_file_is_a_fallback_naming_it(
    seeded: Hub, local: LocalRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnp.process import edits

    monkeypatch.setattr(edits, "diff_file", _recurse)
    result = run(seeded, "w", sh("echo '{\"count\": 2}' > stats.json"))
    reason = ended_in_one_fallback(seeded, local, result)
    assert reason.startswith("stats.json nests too deeply after the work")


@pytest.mark.parametrize(
    "make",
    [
        "ln -s /tmp x.json",  # a link to a folder
        "mkdir -p some/other && echo '{\"secret\": 1}' > some/other/file.json && "
        "ln -s some/other/file.json x.json",  # a link to a state file of the worktree
        "ln -s /dev/zero x.json",
        "rm stats.json && ln -s /etc/hostname stats.json",  # a state file become a link
    ],
)
def test_a_link_named_like_a_state_file_is_refused_never_followed(
    seeded: Hub, local: LocalRepo, make: str
) -> None:
    result = run(seeded, "w", sh(make))
    reason = ended_in_one_fallback(seeded, local, result)
    name = make.rsplit(" ", 1)[1]
    assert reason == (
        f"{name} is a symbolic link after the work, and gnp never follows links: "
        "leave a regular file there, or none"
    )


def test_a_fifo_named_like_a_state_file_is_refused_not_waited_on(
    hub: Hub, local: LocalRepo
) -> None:
    result = run(hub, "w", sh("mkfifo x.json"))
    reason = ended_in_one_fallback(hub, local, result)
    assert reason.startswith("x.json is a FIFO after the work, not a regular file")


@pytest.mark.parametrize(
    "make",
    [
        "ln {outside} x.json",  # a second name of a file outside the worktree
        "echo '{{}}' > a.json && ln a.json x.json",  # two names inside it
    ],
    ids=["to a file outside", "within the worktree"],
)
def test_a_hard_link_named_like_a_state_file_is_refused_never_read(
    hub: Hub, local: LocalRepo, tmp_path: Path, make: str
) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text('{"secret": 1}')
    result = run(hub, "w", sh(make.format(outside=outside)))
    reason = ended_in_one_fallback(hub, local, result)
    assert "is a hard link after the work" in reason and "secret" not in reason
    assert outside.read_text() == '{"secret": 1}'


def test_a_state_file_in_a_folder_swapped_for_a_link_is_gone_never_read_through_it(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    """The work replaces the folder holding a state file with a link to a folder outside
    the worktree holding a file of the same name: the state file is gone (the link is
    listed, not followed), and nothing of the outside file is read."""
    outside = tmp_path / "outside" / "d"
    outside.mkdir(parents=True)
    (outside / "a.json").write_text('{"secret": 1}')
    hub.commit_on_main(lambda _: {"d/a.json": b'{"n": 1}\n'}, "gnp seed: d/a.json\n")
    result = run(hub, "w", sh(f"rm -r d && ln -s {outside} d"))
    assert (result.status, result.ignored) == ("ok", ("d",))
    [delta] = inbox(hub)
    assert [(op.op, op.file) for op in delta.ops if op.op != "test"] == [("remove", "d/a.json")]
    assert "secret" not in delta.encode().decode()


def test_a_file_of_too_many_changes_is_a_fallback_without_working_them_all_out(
    hub: Hub, local: LocalRepo
) -> None:
    """300,000 new keys (5 MB) would take the diff long: it stops at its bound."""
    hub.commit_on_main(lambda _: {"big.json": b'{"a": 0}\n'}, "gnp seed: big.json\n")
    make = "import json; json.dump({f'k{i}': i for i in range(300_000)}, open('big.json', 'w'))"
    result = run(hub, "w", ["python3", "-c", make])
    reason = ended_in_one_fallback(hub, local, result)
    assert reason == (
        "big.json: the edits make more than 4000 operations, more than a delta can carry "
        "(1000): make smaller edits"
    )


def test_the_runs_timeout_covers_reading_its_edits(hub: Hub, local: LocalRepo) -> None:
    """The command ends in time, but reading what it left takes the run past its
    timeout: the run ends in its fallback saying so, not in a delta late or never."""
    past = time.monotonic() - 1
    original = harness._verdict

    def late(*args: Any) -> Any:
        return original(*args[:-1], past)  # the deadline as it is once the time is up

    harness._verdict = late  # type: ignore[assignment]
    try:
        result = run(hub, "w", sh("for i in $(seq 50); do echo '{}' > f$i.json; done"), timeout=60)
    finally:
        harness._verdict = original  # type: ignore[assignment]
    reason = ended_in_one_fallback(hub, local, result)
    assert reason.startswith("the run's --timeout passed while gnp read the work's edits")


def permissions_hold(tmp_path: Path) -> bool:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        os.listdir(locked)
    except PermissionError:
        return True
    finally:
        locked.rmdir()
    return False


@pytest.mark.parametrize(
    ("work", "said"),
    [
        ("echo '{}' > \"$(printf 'a\\377b.json')\"", "a\\udcffb.json is not named in UTF-8"),
        ('cd .. && rm -rf "$GNP_WORKTREE"', "the worktree "),
        ("mkdir d && echo '{}' > d/x.json && chmod 0 d", "the folder d of the worktree could not"),
    ],
    ids=["a name not in UTF-8", "the worktree removed", "a folder that cannot be read"],
)
def test_what_the_work_leaves_that_cannot_be_read_is_a_fallback_saying_what(
    hub: Hub, local: LocalRepo, tmp_path: Path, work: str, said: str
) -> None:
    if "chmod" in work and not permissions_hold(tmp_path):
        pytest.skip("this process reads a folder whatever its mode (root, CAP_DAC_OVERRIDE)")
    result = run(hub, "w", sh(work))
    assert ended_in_one_fallback(hub, local, result).startswith(said)


def test_links_and_fifos_that_are_not_state_are_listed_never_followed(
    seeded: Hub, local: LocalRepo
) -> None:
    work = "ln -s / root && ln -s /etc/hostname notes.txt && mkfifo pipe && echo '{}' > n.json"
    result = run(seeded, "w", sh(work))
    assert (result.status, result.ops, result.ignored) == ("ok", 1, ("notes.txt", "pipe", "root"))


def worked_without_its_git(hub: Hub, local: LocalRepo, result: RunResult) -> None:
    """The run's delta holds the work's edits, and they land: the worktree's .git, whatever
    the work did to it, played no part."""
    assert (result.status, result.error, result.ops) == ("ok", None, 3)  # test, replace, add
    [delta] = inbox(hub)
    assert delta.id == result.delta_id
    assert leftovers(local) == []
    assert list(Path(os.environ["GNP_WORKTREES"]).iterdir()) == []
    assert run_frame(hub).count(Outcome.APPLIED) == 1
    assert hub.state().document("stats.json") == {"count": 7}
    assert hub.state().document("new.json") == {"n": 1}


EDIT = "echo '{\"count\": 7}' > stats.json && echo '{\"n\": 1}' > new.json && "
COMMIT = "git add -A && git -c user.name=a -c user.email=a@b commit -qm work"


def test_a_work_that_deletes_its_git_still_submits_its_edits(seeded: Hub, local: LocalRepo) -> None:
    worked_without_its_git(seeded, local, run(seeded, "w", sh(EDIT + "rm -rf .git")))


def test_a_work_that_makes_a_new_git_still_submits_its_edits(seeded: Hub, local: LocalRepo) -> None:
    script = EDIT + f"rm -rf .git && git init -q && {COMMIT}"
    worked_without_its_git(seeded, local, run(seeded, "w", sh(script)))


def test_a_work_that_points_its_git_at_the_hub_leaves_the_hub_alone(
    seeded: Hub, local: LocalRepo
) -> None:
    hub = seeded

    def refs() -> dict[str, str]:
        repo = open_hub(hub.path).repo
        return {name: str(repo.references[name].target) for name in repo.references}

    before, main = refs(), hub.main().id
    result = run(hub, "w", sh(EDIT + f"printf 'gitdir: %s\\n' '{hub.path}' > .git"))
    after = refs()
    [inbox_ref] = set(after) - set(before)
    assert inbox_ref.startswith("refs/gnp/inbox/w/")  # the run's delta, and nothing else
    assert {n: t for n, t in after.items() if n != inbox_ref} == before
    assert hub.main().id == main
    assert (hub.path / "HEAD").read_text() == "ref: refs/heads/main\n"
    worked_without_its_git(hub, local, result)


def test_gnp_run_ends_a_refused_edit_with_its_fallback_and_one_line(tmp_path: Path) -> None:
    hub = str(tmp_path / "hub.git")
    assert cli("init", hub).returncode == 0
    assert cli("keygen", "w", "--hub", hub).returncode == 0
    env = {"GNP_WORKTREES": str(tmp_path / "wt")}
    work = "echo '{\"big\": 1e400}' > x.json"
    done = cli("run", "--hub", hub, "--worker", "w", "--", "sh", "-c", work, env=env)
    assert done.returncode == 1
    [delta] = inbox(open_hub(hub))
    assert done.stdout == f"{delta.id}\n"
    assert done.stderr == f"gnp: {delta.error}; submitted a fallback delta\n"
    assert (delta.error or "").startswith("x.json holds a number too large for JSON")
    assert list((tmp_path / "wt").iterdir()) == []


def test_a_run_claiming_more_authority_than_its_grant_is_refused_before_any_work(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    from gnp.core.errors import OverGrant
    from gnp.git.registry import grant

    grant(hub, "w", authority=1)
    marker = tmp_path / "ran"
    with pytest.raises(OverGrant, match="'w' claims authority 2, but its grant allows at most 1"):
        run(hub, "w", sh(f"touch {marker}; echo '{{}}' > a.json"), authority=2)
    assert not marker.exists() and inbox(hub) == [] and leftovers(local) == []
    assert run(hub, "w", sh("echo '{\"a\": 1}' > a.json"), authority=1).status == "ok"


def test_edits_outside_the_workers_grant_are_a_fallback_naming_the_file(
    hub: Hub, local: LocalRepo
) -> None:
    from gnp.git.registry import grant

    grant(hub, "w", files=["posts/*.json"])
    result = run(hub, "w", sh("mkdir posts; echo '{}' > posts/a.json; echo '{}' > stats.json"))
    reason = ended_in_one_fallback(hub, local, result)
    assert reason.startswith("'w' may not write 'stats.json': its grant covers posts/*.json")


def test_the_work_does_not_get_gnps_credentials_for_git_hosts(
    hub: Hub, local: LocalRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With the token gnp pushes with, a worker's command could push to the hub as whoever
    runs gnp (a frame's engine, which moves main). It gets its worktree and its names."""
    monkeypatch.setenv("GNP_GIT_TOKEN", "s3cret-token")
    monkeypatch.setenv("GNP_GIT_USER", "engine")
    monkeypatch.setenv("GNP_SSH_KEY", str(tmp_path / "engine-key"))
    monkeypatch.setenv("GNP_ANYTHING_ELSE", "kept")
    seen = tmp_path / "environment"
    result = run(hub, "w", sh(f"env > {seen}"))
    assert result.status == "unchanged", result
    names = {line.split("=", 1)[0] for line in seen.read_text().splitlines() if "=" in line}
    assert not names & {"GNP_GIT_TOKEN", "GNP_GIT_USER", "GNP_SSH_KEY"}
    assert {"GNP_ANYTHING_ELSE", "GNP_WORKER", "GNP_WORKTREE", "GNP_HUB"} <= names
    assert "s3cret-token" not in seen.read_text()
