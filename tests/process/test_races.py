"""Real processes racing on one hub: the failures of the essay, which gnp must not have."""

from __future__ import annotations

import subprocess
import sys

from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot
from tests.helpers import ROOT
from tests.helpers.hubs import git, worker_key


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.procs", *args],
        cwd=ROOT,
        text=True,
        stderr=subprocess.PIPE,
    )


def finish(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err


def drain(hub: Hub) -> None:
    while run_frame(hub).frame is not None:
        pass
    assert snapshot(hub) == []


def test_read_modify_write_race_16_processes_x_50_increments_is_exact(hub: Hub) -> None:
    workers = [f"w{i:02d}" for i in range(16)]
    for w in workers:
        worker_key(hub, w)
    engine = start("engine_loop", str(hub.path), "3")  # frames run while workers submit
    finish([start("submit_incr", str(hub.path), w, "50") for w in workers])
    finish([engine])
    drain(hub)
    assert hub.state().document("stats.json") == {"count": 800}
    assert git("-C", str(hub.path), "fsck", "--strict").returncode == 0


def test_two_engines_racing_never_both_win_and_nothing_doubles(hub: Hub) -> None:
    workers = [f"w{i}" for i in range(4)]
    for w in workers:
        worker_key(hub, w)
    engines = [start("engine_loop", str(hub.path), "3") for _ in range(2)]
    finish([start("submit_incr", str(hub.path), w, "25") for w in workers])
    finish(engines)
    drain(hub)
    assert hub.state().document("stats.json") == {"count": 100}
    # main is one line of frames: every frame commit's parent is the previous frame's.
    frames = []
    commit = hub.main()
    while commit.parents:
        if commit.message.startswith("gnp frame "):
            frames.append(hub.state(commit).frame)
        commit = commit.parents[0]
    assert frames == list(range(len(frames), 0, -1))


def test_engines_killed_at_random_points_lose_nothing_and_double_nothing(hub: Hub) -> None:
    import random
    import signal
    import time

    from gnp.git.replay import replay
    from gnp.process.janitor import sweep

    workers = [f"w{i}" for i in range(3)]
    for w in workers:
        worker_key(hub, w)
    submitters = [start("submit_incr", str(hub.path), w, "300") for w in workers]
    rng = random.Random(7)
    kills = 0
    while any(p.poll() is None for p in submitters) or kills < 12:
        engine = start("engine_loop", str(hub.path), "30")
        time.sleep(rng.uniform(0.3, 1.2))  # in start-up, or anywhere in a frame
        engine.send_signal(signal.SIGKILL)  # anywhere: mid-settle, mid-commit, mid-swap
        engine.wait(timeout=30)
        kills += 1
    finish(submitters)
    sweep(hub, lock_age=0)  # a killed engine may leave a ref lock; the janitor removes it
    drain(hub)
    assert hub.state().document("stats.json") == {"count": 900}
    for frame in range(1, hub.state().frame + 1):
        assert replay(hub, frame).identical, frame
    assert git("-C", str(hub.path), "fsck", "--strict").returncode == 0
