"""Benchmarks of gnp's git layer against the naive git way, measured side by side.

    .venv/bin/python bench/git_bench.py [--only submit,frame,worktree] [--repeat N]

* submit: one delta into the hub's inbox, by ``gnp.submit`` in-process, by the ``gnp
  submit`` command alone and through a running ``gnp relay``, vs the naive git CLI cycle
  in a clone (pull, edit a state file, commit, push), on state of 1,000 and 10,000 files.
* frame: the engine's cost for the same 100 deltas on state of 100 vs 100,000 files.
* worktree: a worker's worktree lifecycle (create, commit, remove) by gnp vs
  ``git worktree add`` + commit + ``git worktree remove`` on 10,000 files.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pygit2

from gnp import Op, canonical, compose
from gnp.git.engine import arrivals, build_commit, run_frame, settle_on
from gnp.git.hub import Hub
from gnp.git.inbox import snapshot, submit
from gnp.git.local import LocalRepo
from gnp.git.registry import register
from gnp.host import clock, keys
from gnp.process.run import commit_on_branch
from gnp.process.worktree import worktree
from gnp_cli.relay import connect

GNP = str(Path(sys.executable).with_name("gnp"))


def sh(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def files(n: int) -> dict[str, bytes]:
    """n state files: 100 "hot" ones that the frame benchmark touches, in a folder of their
    own, and the rest in folders of 1,000 that no delta touches."""
    out = {f"hot/f{i:03d}.json": canonical.encode_pretty({"n": i}) for i in range(min(n, 100))}
    out.update(
        {
            f"s/d{i // 1000:03d}/f{i % 1000:03d}.json": canonical.encode_pretty({"n": i})
            for i in range(n - len(out))
        }
    )
    return out


def make_hub(root: Path, n: int, name: str) -> Hub:
    hub = Hub.init(root / name)
    hub.commit_on_main(lambda _: files(n), f"seed {n} state files\n")
    register(hub, "w")
    return hub


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` runs."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_submit(root: Path, repeat: int) -> None:
    installed = _installed_command(root)
    print("\n## submit latency: one delta into the inbox (median ms)\n")
    print(
        "`command`: `gnp submit` alone (in-process); `relayed`: with `gnp relay` running, "
        "from this repository's editable install; `relayed, installed`: the same from a "
        "regular install of the wheel; `python -c pass`: that install's interpreter "
        "starting and doing nothing, the floor of any command written in Python.\n"
    )
    print(
        "| state files | library | command | relayed | relayed, installed | python -c pass "
        "| naive git cycle | naive / library | naive / command | naive / relayed "
        "| naive / relayed, installed |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    relay = subprocess.Popen([GNP, "relay"], stderr=subprocess.DEVNULL)
    while (conn := connect()) is None:
        assert relay.poll() is None, "gnp relay did not start"
        time.sleep(0.05)
    conn.close()
    try:
        for n in (1_000, 10_000):
            lib, cmd, relayed, inst, floor, git = _submit_row(root, n, repeat, installed)
            print(
                f"| {n:,} | {lib:.1f} | {cmd:.1f} | {relayed:.1f} | {inst:.1f} | {floor:.1f} "
                f"| {git:.1f} "
                f"| {git / lib:.1f}x | {git / cmd:.1f}x | {git / relayed:.1f}x "
                f"| {git / inst:.1f}x |"
            )
    finally:
        relay.terminate()
        relay.wait()


def _installed_command(root: Path) -> str:
    """``gnp`` from a regular (not editable) install of this repository's wheel, in a
    venv of its own: what a user's command loads at start-up. It has no dependencies
    installed, which the relayed path does not need."""
    wheels, venv = root / "wheels", root / "installed"
    repo = Path(__file__).resolve().parent.parent
    sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(repo))
    sh(sys.executable, "-m", "venv", str(venv))
    wheel = next(wheels.glob("gnp-*.whl"))
    sh(str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel))
    return str(venv / "bin/gnp")


def _submit_row(root: Path, n: int, repeat: int, installed: str) -> tuple[float, ...]:
    hub = make_hub(root, n, f"submit-{n}.git")
    key = keys.load(hub.state().hub_id, "w")
    op = Op("incr", "hot/f000.json", "/n", 1)
    request = canonical.encode([op.to_json()])

    def library() -> None:
        submit(hub, key.sign(compose("w", [op], frame=hub.state().frame, stamp=clock.stamp())))

    def command(gnp: str, env: dict[str, str] | None = None) -> Callable[[], None]:
        def run() -> None:
            subprocess.run(
                [gnp, "submit", "--hub", str(hub.path), "--worker", "w"],
                input=request,
                check=True,
                capture_output=True,
                env=env,
            )

        return run

    # The in-process command: the same GNP_HOME's keys, through a name with no relay.
    alone = root / "alone"
    if not alone.exists():
        alone.mkdir()
        os.symlink(os.path.join(os.environ["GNP_HOME"], "keys"), alone / "keys")

    plain = root / f"plain-{n}.git"
    sh("git", "clone", "-q", "--bare", str(hub.path), str(plain))
    clone = root / f"clone-{n}"
    sh("git", "clone", "-q", str(plain), str(clone))
    sh("git", "config", "user.email", "w@x", cwd=clone)
    sh("git", "config", "user.name", "w", cwd=clone)
    target = clone / "hot/f000.json"

    def naive() -> None:
        sh("git", "pull", "-q", "--rebase", cwd=clone)
        doc = canonical.decode(target.read_bytes())
        doc["n"] += 1
        target.write_bytes(canonical.encode_pretty(doc))
        sh("git", "commit", "-qam", "incr", cwd=clone)
        sh("git", "push", "-q", cwd=clone)

    variants = (
        library,
        command(GNP, {**os.environ, "GNP_HOME": str(alone)}),
        command(GNP),
        command(installed),
        lambda: sh(str(Path(installed).with_name("python")), "-c", "pass"),
        naive,
    )
    samples: list[list[float]] = [[] for _ in variants]
    for _ in range(repeat):  # alternate, so that drift in the machine hits all alike
        for fn, times in zip(variants, samples, strict=True):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return tuple(statistics.median(times) * 1000 for times in samples)


def bench_frame(root: Path, repeat: int) -> None:
    print("\n## frame commit cost: the same 100 deltas (median ms)\n")
    sizes = (100, 100_000)
    hubs = {n: make_hub(root, n, f"frame-{n}.git") for n in sizes}
    samples: dict[int, list[tuple[float, float, float]]] = {n: [] for n in sizes}
    for _ in range(repeat):
        for n in sizes:  # alternate, so that drift in the machine hits both sizes alike
            samples[n].append(_frame_round(hubs[n]))
    print("| state files | settle | build commit (trees + blobs) | whole run_frame |")
    print("|---:|---:|---:|---:|")
    med = {n: [statistics.median(x[i] for x in samples[n]) * 1000 for i in range(3)] for n in sizes}
    for n in sizes:
        print(f"| {n:,} | {med[n][0]:.1f} | {med[n][1]:.1f} | {med[n][2]:.1f} |")
    small, large = med[100], med[100_000]
    print(
        f"\nratio 100,000 / 100 files: build commit {large[1] / small[1]:.2f}x, "
        f"whole frame {large[2] / small[2]:.2f}x"
    )


def _frame_round(hub: Hub) -> tuple[float, float, float]:

    key = keys.load(hub.state().hub_id, "w")
    for i in range(100):
        op = Op("incr", f"hot/f{i:03d}.json", "/n", 1)
        submit(hub, key.sign(compose("w", [op], frame=hub.state().frame, stamp=clock.stamp())))
    state = hub.state()
    t0 = time.perf_counter()
    taken = arrivals(hub, snapshot(hub), state.limits.max_bytes)
    s = settle_on(state, state.frame + 1, taken, clock.now())
    t1 = time.perf_counter()
    build_commit(hub, state.commit, s)
    t2 = time.perf_counter()
    run_frame(hub)
    t3 = time.perf_counter()
    return (t1 - t0, t2 - t1, t3 - t2)


def bench_worktree(root: Path, repeat: int) -> None:
    print("\n## worktree lifecycle on 10,000 files: create, commit, remove (median ms)\n")
    hub = make_hub(root, 10_000, "worktree.git")
    local = LocalRepo.for_hub(hub)
    key = keys.load(hub.state().hub_id, "w")

    def gnp_cycle() -> None:
        with worktree(local, "w") as wt:
            commit_on_branch(
                local,
                wt,
                key.sign(
                    compose(
                        "w", [Op("incr", "hot/f000.json", "/n", 1)], frame=0, stamp=clock.stamp()
                    )
                ),
            )

    clone = root / "wt-clone"
    sh("git", "clone", "-q", str(hub.path), str(clone))
    sh("git", "config", "user.email", "w@x", cwd=clone)
    sh("git", "config", "user.name", "w", cwd=clone)
    counter = iter(range(10**6))

    def git_cycle() -> None:
        i = next(counter)
        path = root / f"wt-{i}"
        sh("git", "worktree", "add", "-q", "-b", f"w{i}", str(path), cwd=clone)
        (path / "delta.json").write_text("{}")
        sh("git", "add", "delta.json", cwd=path)
        sh("git", "commit", "-qm", "delta", cwd=path)
        sh("git", "worktree", "remove", "--force", str(path), cwd=clone)
        sh("git", "branch", "-qD", f"w{i}", cwd=clone)

    ours, theirs = timed(gnp_cycle, repeat), timed(git_cycle, repeat)
    print("| gnp (tmpfs, state only) | git worktree add/remove | gnp / git |")
    print("|---:|---:|---:|")
    print(f"| {ours * 1000:.1f} | {theirs * 1000:.1f} | {ours / theirs:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--only", default="submit,frame,worktree")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gnp-bench-") as tmp:
        root = Path(tmp)
        os.environ["GNP_HOME"] = str(root / "home")
        os.environ["GNP_WORKTREES"] = os.environ.get("GNP_WORKTREES", "")
        if not os.environ["GNP_WORKTREES"]:
            del os.environ["GNP_WORKTREES"]
        print(
            f"gnp git-layer benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"pygit2 {pygit2.__version__} (libgit2 {pygit2.LIBGIT2_VERSION}), "
            f"{os.cpu_count()} CPUs"
        )
        for name in args.only.split(","):
            {"submit": bench_submit, "frame": bench_frame, "worktree": bench_worktree}[name](
                root, args.repeat
            )


if __name__ == "__main__":
    main()
