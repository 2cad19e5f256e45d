from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from gnp.core.verdict import Outcome
from gnp.git.connect import open_hub
from gnp.git.hub import Hub
from gnp.git.local import LocalRepo
from gnp.process.janitor import sweep
from gnp.process.proc import mark, marked, proc_stat, session_members, stop_marked
from gnp.process.worktree import create, worktree
from tests.helpers.hubs import worker_key
from tests.helpers.waiting import wait_until
from tests.helpers.worktrees import killed_run, leftovers, proc, records


def test_a_worktree_holds_state_only_and_is_gone_after(hub: Hub, local: LocalRepo) -> None:
    from tests.helpers.hubs import incr, send

    send(hub, "w", incr())
    from gnp.git.engine import run_frame

    run_frame(hub)
    with worktree(local, "w") as wt:
        assert sorted(p.name for p in wt.path.iterdir()) == [".git", "stats.json"]
        assert wt.branch.startswith("refs/heads/gnp/w/")
        assert len(records(local)) == 1
    assert not wt.path.exists()
    assert leftovers(local) == []


def test_the_trap_holds_on_exceptions(local: LocalRepo) -> None:
    with pytest.raises(RuntimeError), worktree(local, "w") as wt:
        raise RuntimeError("the work failed")
    assert not wt.path.exists() and leftovers(local) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_trap_holds_on_sigterm_and_sigint(
    hub: Hub, local: LocalRepo, sig: int, tmp_path: Path
) -> None:
    p = proc(
        "hold_worktree",
        str(hub.path),
        "w",
        env={**os.environ, "GNP_WORKTREES": str(tmp_path / "worktrees")},
    )
    assert p.stdout is not None
    path = Path(p.stdout.readline().strip())
    assert path.exists()
    p.send_signal(sig)
    p.wait(timeout=30)
    assert p.returncode != 0
    assert not path.exists()
    assert leftovers(local) == []


def test_a_killed_owner_not_yet_reaped_is_dead_to_the_janitor(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    """Killed, its parent has not reaped it (yet, or ever): a zombie holds no work."""
    env = {**os.environ, "GNP_WORKTREES": str(tmp_path / "worktrees")}
    doomed = proc("hold_worktree", str(hub.path), "w", env=env)
    try:
        assert doomed.stdout is not None
        path = Path(doomed.stdout.readline().strip())
        os.kill(doomed.pid, signal.SIGKILL)  # and no wait(): it stays a zombie
        wait_until(lambda: (proc_stat(doomed.pid) or ["?"])[0] == "Z", "it became a zombie")
        report = sweep(hub)
        assert any(path.name in line for line in report.removed)
        assert not path.exists() and leftovers(local) == []
    finally:
        doomed.kill()
        doomed.wait(timeout=30)


def test_sigkill_then_janitor_leaves_nothing_and_spares_the_living(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    env = {**os.environ, "GNP_WORKTREES": str(tmp_path / "worktrees")}
    doomed = proc("hold_worktree", str(hub.path), "w", env=env)
    living = proc("hold_worktree", str(hub.path), "w", env=env)
    try:
        assert doomed.stdout is not None and living.stdout is not None
        dead_path = Path(doomed.stdout.readline().strip())
        live_path = Path(living.stdout.readline().strip())
        doomed.kill()
        doomed.wait(timeout=30)
        assert dead_path.exists()  # SIGKILL: no trap could run
        report = sweep(hub)
        assert any(dead_path.name in line for line in report.removed)
        [fallback] = report.fallbacks  # the dead worker's alone
        assert f"the janitor swept its worktree {dead_path.name}" in fallback
        assert not dead_path.exists()
        assert live_path.exists()  # the living worker's worktree is untouched
        assert [o.name for o in records(local)] == [live_path.name]
        assert sweep(hub).removed == []  # nothing more to do
    finally:
        living.kill()
        living.wait(timeout=30)
    sweep(hub)
    assert leftovers(local) == []


def test_work_left_running_by_a_killed_worker_is_stopped_by_the_janitor(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    """The command runs in a session of its own, so SIGKILL of the process running it
    leaves it running, unsupervised and past any timeout: the janitor stops it."""

    sid = killed_run(hub, local, tmp_path, []).session
    assert sid is not None
    try:
        assert session_members(sid)  # still running, its supervisor gone
        report = sweep(hub)
        # SIGKILL is sent, and takes effect soon after.
        wait_until(lambda: not session_members(sid), "the work ended", seconds=10)
        assert session_members(sid) == []
        assert any("process(es) of worktree" in line for line in report.removed)
        assert len(report.removed) == 2  # the work and the worktree, each said once
        assert leftovers(local) == []
    finally:
        for pid in session_members(sid):
            os.kill(pid, signal.SIGKILL)


def test_only_the_work_of_that_worktree_is_stopped(tmp_path: Path) -> None:
    """What the janitor kills names the dead owner's worktree in its environment: not
    another worktree's work (a second run of the same worker), nor anything else."""

    mine = str(tmp_path / "wt" / "w-1-abcd")
    env = {**os.environ, **dict([mark(mine)])}
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    twin = subprocess.Popen(
        ["sleep", "60"], start_new_session=True, env={**os.environ, **dict([mark(mine + "0")])}
    )
    work = subprocess.Popen(["sleep", "60"], start_new_session=True, env=env)
    try:
        assert stop_marked(mine) == 1
        assert work.wait(timeout=30) == -signal.SIGKILL
        assert other.poll() is None and twin.poll() is None
        assert stop_marked(mine) == 0
        assert session_members(work.pid) == []
    finally:
        for process in (other, twin, work):
            process.kill()
            process.wait(timeout=30)


def test_janitor_pushes_a_committed_but_unpushed_delta(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    from gnp.git.engine import run_frame
    from gnp.git.inbox import snapshot

    p = proc(
        "commit_then_die",
        str(hub.path),
        "w",
        env={**os.environ, "GNP_WORKTREES": str(tmp_path / "worktrees")},
    )
    out, err = p.communicate(timeout=60)
    assert p.returncode == 9, err
    delta_id = out.strip()
    assert snapshot(hub) == []  # it never reached the hub
    report = sweep(hub)
    assert report.rescued == [f"delta {delta_id[:12]} of w (pushed to the inbox)"]
    assert report.fallbacks == []  # its own delta is its report
    assert run_frame(hub).count(Outcome.APPLIED) == 1
    assert hub.state().document("stats.json") == {"count": 1}
    assert leftovers(local) == []


def test_many_processes_adding_and_pruning_worktrees_never_fail(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    env = {**os.environ, "GNP_WORKTREES": str(tmp_path / "worktrees")}
    procs = [proc("worktree_cycles", str(hub.path), "w", "50", env=env) for _ in range(8)]
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=300)
        if p.returncode != 0:
            errors.append(err)
    assert errors == [], errors[:2]
    assert leftovers(local) == []


def test_a_stale_worktree_entry_without_its_folder_is_pruned(local: LocalRepo) -> None:
    import shutil

    wt = create(local, "w")
    shutil.rmtree(wt.path)
    (local.path / "gnp-owners" / f"{wt.name}.json").unlink()
    assert wt.name in local.repo.list_worktrees()
    report = sweep(local.hub)
    assert any(wt.name in line for line in report.removed)
    assert leftovers(local) == []
    wt.removed = True


def test_branches_use_the_worker_id_exactly(local: LocalRepo) -> None:
    # The origin system rebuilt branch names wrongly in its trap and leaked them.
    for worker in ("w", "agent.7", "a-b_c"):
        with worktree(local, worker) as wt:
            assert local.repo.lookup_reference(wt.branch).name == wt.branch
    assert leftovers(local) == []
    assert isinstance(local.repo, pygit2.Repository)


def test_a_relative_program_and_hub_mean_from_where_gnp_runs(
    hub: Hub, local: LocalRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command runs in its worktree, elsewhere: ./agent.sh and a hub given as a
    relative path still name what they named where gnp was run."""
    from gnp.process.run import run

    agent = tmp_path / "agent.sh"
    agent.write_text('#!/bin/sh\ntest -d "$GNP_HUB" || exit 3\necho \'{"n": 1}\' > n.json\n')
    agent.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    relative = open_hub(os.path.relpath(hub.path, tmp_path))
    result = run(relative, "w", ["./agent.sh"])
    assert (result.status, result.error) == ("ok", None)


def test_two_workers_editing_a_declared_counter_both_count(hub: Hub, local: LocalRepo) -> None:
    # The read-modify-write race with real edits: both read 5 and write 6.
    from gnp import Op
    from gnp.git.engine import run_frame
    from gnp.git.registry import declare
    from gnp.process.run import run
    from tests.helpers.hubs import send

    send(hub, "w", Op("add", "stats.json", "", {"posts": 5, "title": "x"}))
    run_frame(hub)
    declare(hub, "stats.json", "/posts", "counter")
    worker_key(hub, "v")
    bump = (
        "python3 -c \"import json; d=json.load(open('stats.json')); d['posts']+=1; "
        "json.dump(d, open('stats.json','w'))\""
    )
    for worker in ("w", "v"):  # both from the same base: neither sees the other's edit
        assert run(hub, worker, ["sh", "-c", bump]).status == "ok"
    assert run_frame(hub).count(Outcome.APPLIED) == 2
    assert hub.state().document("stats.json")["posts"] == 7  # incr, not a racy set
    # An undeclared value edited by both is a conflict: reported, never a silent overwrite.
    retitle = (
        "python3 -c \"import json, os; d=json.load(open('stats.json')); "
        "d['title']=os.environ['GNP_WORKER']; json.dump(d, open('stats.json','w'))\""
    )
    for worker in ("w", "v"):
        assert run(hub, worker, ["sh", "-c", retitle]).status == "ok"
    report = run_frame(hub)
    assert report.count(Outcome.APPLIED) == 1 and report.count(Outcome.CONFLICT) == 1
    assert hub.state().document("stats.json")["title"] == "w"


def test_two_workers_creating_a_declared_counter_both_count(hub: Hub, local: LocalRepo) -> None:
    """The file, or the key, does not exist yet: each worker's edit creates it. They
    must count as incr, not collide as two adds (which lost one of them)."""
    from gnp.git.engine import run_frame
    from gnp.git.registry import declare
    from gnp.process.run import run

    declare(hub, "stats.json", "/posts", "counter")
    declare(hub, "stats.json", "/likes", "counter")
    worker_key(hub, "v")
    post = (
        "python3 -c \"import json, os; p='stats.json'; "
        "d=json.load(open(p)) if os.path.exists(p) else {}; "
        "d['posts']=d.get('posts', 0)+1; json.dump(d, open(p,'w'))\""
    )
    for worker in ("w", "v"):  # both from a main without stats.json
        assert run(hub, worker, ["sh", "-c", post]).status == "ok"
    assert run_frame(hub).count(Outcome.APPLIED) == 2
    assert hub.state().document("stats.json") == {"posts": 2}
    like = post.replace("posts", "likes")  # a key new to a file that exists
    for worker in ("w", "v"):
        assert run(hub, worker, ["sh", "-c", like]).status == "ok"
    assert run_frame(hub).count(Outcome.APPLIED) == 2
    assert hub.state().document("stats.json")["likes"] == 2


def test_a_big_new_declared_list_is_added_whole_rather_than_refused(
    hub: Hub, local: LocalRepo
) -> None:
    """Made piece by piece, a new list of 1,001 items is 1,001 appends, over the limit of
    operations per delta; added whole, as before merge operations made new paths, it fits."""
    from gnp.git.engine import run_frame
    from gnp.git.registry import declare
    from gnp.process.run import run

    declare(hub, "log.json", "/log", "append")
    write = (
        "python3 -c \"import json; json.dump({'log': list(range(1001))}, open('log.json', 'w'))\""
    )
    result = run(hub, "w", ["sh", "-c", write])
    assert (result.status, result.error) == ("ok", None)
    assert run_frame(hub).count(Outcome.APPLIED) == 1
    assert hub.state().document("log.json") == {"log": list(range(1001))}


def test_edits_too_large_for_a_delta_are_a_fallback_at_once(hub: Hub, local: LocalRepo) -> None:
    """The frame would refuse a delta over the hub's size limit: the run says so itself,
    with a fallback, instead of reporting success for a delta that cannot land."""
    from gnp.process.run import run

    big = "python3 -c \"import json; json.dump({'x': 'a' * 1200000}, open('big.json', 'w'))\""
    result = run(hub, "w", ["sh", "-c", big])
    assert result.status == "fallback"
    assert result.error is not None and "over 1048576 bytes" in result.error


def test_a_failed_push_keeps_the_delta_for_the_janitor(hub: Hub, local: LocalRepo) -> None:
    from gnp import GnpError
    from gnp.git.engine import run_frame
    from gnp.process.run import run

    blocker = hub.path / "refs" / "gnp" / "inbox" / "w"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the worker's ref folder must go\n")  # pushes fail
    try:
        said = f"'gnp janitor --hub {hub.named}' will push it"  # the hub as it is named
        with pytest.raises(GnpError, match=re.escape(said)):
            run(hub, "w", ["sh", "-c", "echo '{\"n\": 1}' > s.json"])
    finally:
        blocker.unlink()
    assert [r for r in local.repo.references if r.startswith("refs/heads/gnp/")]  # kept
    report = sweep(hub)
    assert len(report.rescued) == 1
    assert run_frame(hub).count(Outcome.APPLIED) == 1
    assert leftovers(local) == []


def test_a_timeout_ends_everything_the_command_started(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    from gnp.process.run import run

    marker = tmp_path / "still-running"
    script = f"(sleep 2; touch {marker}) & sleep 30"
    result = run(hub, "w", ["sh", "-c", script], timeout=0.5)
    assert result.status == "fallback" and "timed out" in (result.error or "")
    import time

    time.sleep(2.5)
    assert not marker.exists()  # the background grandchild was killed with the group
    assert leftovers(local) == []


def test_a_timeout_ends_background_jobs_in_process_groups_of_their_own(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    import shutil
    import time

    from gnp.process.run import run

    if shutil.which("bash") is None:
        pytest.skip("needs bash for job control")
    marker = tmp_path / "still-running"
    script = f"set -m; (sleep 2; touch {marker}) & sleep 30"  # set -m: a group of its own
    result = run(hub, "w", ["bash", "-c", script], timeout=0.5)
    assert result.status == "fallback" and "timed out" in (result.error or "")
    time.sleep(2.5)
    assert not marker.exists()  # killed with the session, though not in the group


ESCAPE = (  # a daemon's double fork into a session of its own, its pid written down
    "import os, sys, time\n"
    "if os.fork(): os._exit(0)\n"
    "os.setsid()\n"
    "if os.fork(): os._exit(0)\n"
    "open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid()))\n"
    "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
    "time.sleep(60)\n"
)


def escaped_is_killed(written: Path) -> None:
    """The process that wrote its pid to ``written`` (ESCAPE) ends soon; killed here if not."""
    from gnp.process.proc import running

    wait_until(written.exists, "the escaped process wrote its pid", seconds=10)
    pid = int(written.read_text())
    try:
        wait_until(lambda: not running(pid, None), "the escaped process was killed", seconds=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("ends", ["times-out", "exits"])
def test_work_that_leaves_its_session_is_stopped_with_the_rest(
    hub: Hub, local: LocalRepo, tmp_path: Path, ends: str
) -> None:
    """A process that setsid(2)s out of the command's session and group still names the
    worktree in its environment: it is killed when the command times out, or exits."""
    from gnp.process.run import run

    written = tmp_path / "escaped.pid"
    escape = f"{shlex.quote(sys.executable)} -c {shlex.quote(ESCAPE)} {written}"
    wait = "sleep 30" if ends == "times-out" else f"while [ ! -e {written} ]; do sleep 0.05; done"
    result = run(hub, "w", ["sh", "-c", f"{escape}; {wait}"], timeout=5 if ends == "exits" else 1)
    if ends == "times-out":
        assert result.status == "fallback" and "timed out" in (result.error or "")
    else:
        assert result.status == "unchanged", result
    escaped_is_killed(written)
    assert leftovers(local) == []


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf")])
def test_a_nonsense_timeout_is_a_usage_error(hub: Hub, local: LocalRepo, timeout: float) -> None:
    from gnp import UsageError
    from gnp.process.run import run

    with pytest.raises(UsageError, match="--timeout must be a positive number"):
        run(hub, "w", ["true"], timeout=timeout)


def test_a_push_to_a_local_hub_copies_only_the_objects_it_lacks(hub: Hub, local: LocalRepo) -> None:
    from gnp.core.layout import ref_name
    from gnp.git.engine import run_frame
    from gnp.process.run import commit_on_branch
    from tests.helpers.hubs import git, incr, make

    hub.commit_on_main(
        lambda _: {f"s/f{i:03d}.json": b'{"n": 0}\n' for i in range(200)}, "gnp seed: 200 files\n"
    )
    before = {str(o) for o in _objects(hub)}
    delta = make(hub, "w", incr())
    with worktree(local, "w") as wt:
        commit = commit_on_branch(local, wt, delta)
        local.push(wt.branch, ref_name("w", delta.id))
    assert hub.repo.lookup_reference(ref_name("w", delta.id)).target == commit
    # The commit, the trees on the path .gnp/inbox/w/, and the delta file: nothing else.
    added = {str(o) for o in _objects(hub)} - before
    assert len(added) == 6
    assert git("--git-dir", str(hub.path), "fsck", "--strict").returncode == 0
    assert run_frame(hub).count(Outcome.APPLIED) == 1


def _objects(hub: Hub) -> list[pygit2.Oid]:
    return list(hub.repo.odb)


def test_edits_the_work_committed_still_count(hub: Hub, local: LocalRepo) -> None:
    from gnp.git.engine import run_frame
    from gnp.process.run import run

    script = (
        "echo '{\"n\": 1}' > s.json && git add s.json && "
        "git -c user.name=a -c user.email=a@b commit -qm work && echo '{}' > t.json"
    )
    result = run(hub, "w", ["sh", "-c", script])
    assert result.status == "ok" and result.ops == 2
    run_frame(hub)
    assert hub.state().document("s.json") == {"n": 1}
    assert hub.state().document("t.json") == {}


def test_traps_set_from_a_thread_first_still_catch_sigterm_later() -> None:
    code = (
        "import signal, threading\n"
        "from gnp.process import worktree\n"
        "t = threading.Thread(target=worktree.install_traps); t.start(); t.join()\n"
        "assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL\n"
        "worktree.install_traps()\n"
        "print(signal.getsignal(signal.SIGTERM) is worktree._on_sigterm)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "True", done.stderr


CLEARED = (  # leaves its session, then starts a child with a cleared environment
    "import os, subprocess, sys, time\n"
    "if os.fork(): os._exit(0)\n"
    "os.setsid()\n"
    "child = subprocess.Popen(['env', '-i', 'sleep', '60'])\n"
    "open(sys.argv[1] + '.tmp', 'w').write(str(child.pid))\n"
    "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
    "time.sleep(60)\n"
)


def test_work_that_clears_its_environment_goes_with_its_process_group(
    tmp_path: Path,
) -> None:
    """A process that carries the mark is killed with its whole process group: what it
    started there goes too, though it started with a cleared environment."""
    from gnp.process.proc import running

    mine = str(tmp_path / "wt" / "w-1-clear")
    written = tmp_path / "child.pid"
    env = {**os.environ, **dict([mark(mine)])}
    subprocess.run([sys.executable, "-c", CLEARED, str(written)], env=env, check=True)
    wait_until(written.exists, "the child started", seconds=10)
    child = int(written.read_text())
    try:
        assert stop_marked(mine) == 1  # the one that carries the mark
        wait_until(lambda: not running(child, None), "the child was killed", seconds=10)
        assert marked(mine) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_work_of_a_gnp_run_inside_the_work_is_stopped_with_it(
    hub: Hub, local: LocalRepo, tmp_path: Path
) -> None:
    """A worker's command that runs `gnp run` itself: when the outer run times out, the
    inner run's work (which carries both runs' marks) goes too, though the inner gnp,
    killed outright, could not stop it."""
    from gnp.process.run import run
    from tests.helpers.cli import GNP

    written = tmp_path / "escaped.pid"
    escape = f"{shlex.quote(sys.executable)} -c {shlex.quote(ESCAPE)} {written}"
    inner = [
        GNP,
        "run",
        "--hub",
        str(hub.path),
        "--worker",
        "w",
        "--",
        "sh",
        "-c",
        escape + "; sleep 60",
    ]
    result = run(hub, "w", inner, timeout=8)
    assert result.status == "fallback" and "timed out" in (result.error or "")
    escaped_is_killed(written)
    sweep(hub)  # the inner run, killed outright, left its worktree: the janitor's
    assert leftovers(local) == []
