"""The read-modify-write race of the essay: W workers x K increments of one counter.

Every worker process increments ``stats.json:/count`` K times, all W of them at once,
started together by a barrier. Variants:

* ``force``: naive git, each worker in its own clone of a bare hub: fetch, reset --hard
  origin/main, read, increment, write, commit, ``git push --force``. No retries.
* ``retry``: the same, but a rejected push makes the worker fetch, reset and redo the
  increment until it lands (at most ``--max-retries`` times per increment). Each worker
  commits under its own name and e-mail. This is the correct naive way.
* ``bot``: ``retry`` with one shared bot identity and ``GIT_AUTHOR_DATE`` /
  ``GIT_COMMITTER_DATE`` fixed to one second, as a fleet of bots committing within the
  same second would: two workers that make the same edit on the same parent make the
  same commit, and the second push reports "Everything up-to-date" (exit 0) while its
  increment is lost.
* ``gnp``: each worker submits K signed deltas ``incr stats.json:/count 1`` with
  ``gnp.git.inbox.submit`` (keys registered first, untimed) while one engine process runs
  ``gnp.git.engine.run_frame`` in a loop; after the workers finish, frames run until the
  inbox is empty.
* ``gnp-push`` (not in the default set): as ``gnp``, but each delta reaches the hub the
  way a remote worker's would, by a git push (libgit2, ``gnp.git.local.LocalRepo``) to the
  worker's inbox ref after a fetch of main.

Wall time runs from the barrier until the final state is on main: the last push for the
naive variants, the last frame for gnp. Lost updates are W*K - final count. The naive
variants' git runs without automatic gc/maintenance and without fsync (libgit2, hence
gnp, does not fsync by default either), through GIT_CONFIG_* so the hub side gets it too.
Everything lives in one temporary folder (GNP_HOME included), removed at the end.

    .venv/bin/python bench/race_bench.py [--workers 16] [--increments 20]
        [--variants force,retry,bot,gnp] [--max-retries 200] [--idle 0.005]
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import os
import platform
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
NAIVE = ("force", "retry", "bot")
ALL_VARIANTS = (*NAIVE, "gnp", "gnp-push")
DEFAULT_VARIANTS = ("force", "retry", "bot", "gnp")
MESSAGE = "increment count"
BOT_NAME = "state-bot"
BOT_EMAIL = "bot@example.invalid"
UP_TO_DATE = "Everything up-to-date"
SETUP_TIMEOUT = 120.0  # seconds for every process to reach the start barrier
VARIANT_TIMEOUT = 900.0  # seconds for every process to report, once started


# Results ----------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """What one worker (or the engine) did; sent back to the parent as a dict."""

    landed: int = 0  # increments the worker believes landed (push exit 0 / submitted)
    pushes: int = 0  # pushes (or submissions) attempted
    rejected: int = 0  # pushes that exited non-zero
    lock_lost: int = 0  # of which "cannot lock ref": another push held main's lock
    up_to_date: int = 0  # pushes that exited 0 but said "Everything up-to-date"
    gave_up: int = 0  # increments abandoned after --max-retries rejections
    retried: int = 0  # gnp-push: fetches or pushes that raised and were tried again
    landed_anyway: int = 0  # gnp-push: pushes that raised although the hub had the delta
    frames: int = 0  # engine: frames merged
    verdicts: dict[str, int] = field(default_factory=dict)  # engine: outcome -> count
    frame_log: list[tuple[float, int, float]] = field(default_factory=list)  # (end, n, s)
    oddities: list[str] = field(default_factory=list)  # anything unexpected, verbatim
    done: float = 0.0  # time.monotonic() when the worker finished (system-wide clock)
    cpu: float = 0.0  # CPU seconds from the barrier to done, its git subprocesses included
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    variant: str
    workers: int
    increments: int
    final: int
    wall: float
    submit_wall: float  # until the last worker finished (gnp: before the final frames)
    tallies: list[Tally]
    start: float  # time.monotonic() at the barrier
    engine: Tally | None = None

    @property
    def expected(self) -> int:
        return self.workers * self.increments

    @property
    def lost(self) -> int:
        return self.expected - self.final

    @property
    def rate(self) -> float:
        return self.final / self.wall if self.wall > 0 else 0.0

    def total(self, name: str) -> int:
        return sum(getattr(t, name) for t in self.tallies)


# Naive git --------------------------------------------------------------------------


# Given to every git process of the naive variants through the environment, so that the
# hub's receive-pack and upload-pack get them too: no automatic gc or maintenance in the
# middle of a run, and no fsync, as libgit2 (hence gnp) does not fsync by default either.
GIT_CONFIG = {
    "gc.auto": "0",
    "maintenance.auto": "false",
    "receive.autogc": "false",
    "core.fsync": "none",
}


def git_env(variant: str, index: int, bot_date: int) -> dict[str, str]:
    """The environment of one naive worker's git commands: its identity, no user config."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    env["GIT_TERMINAL_PROMPT"] = "0"
    config = dict(GIT_CONFIG)
    if os.environ.get("RACE_BENCH_GIT_FSYNC"):
        del config["core.fsync"]  # git's default: fsync refs and packs
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    if variant == "bot":
        name, email = BOT_NAME, BOT_EMAIL
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{bot_date} +0000"
    else:
        name, email = f"worker{index:02d}", f"worker{index:02d}@example.invalid"
    env.update(
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email,
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=email,
    )
    return env


def git(
    args: Sequence[str], cwd: Path, env: dict[str, str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done


def make_naive_hub(root: Path, workers: int) -> tuple[Path, list[Path]]:
    """A bare hub with stats.json = {"count": 0} on main, and one clone per worker."""
    env = git_env("retry", 99, 0)
    hub = root / "hub.git"
    git(["init", "--quiet", "--bare", "-b", "main", str(hub)], root, env)
    seed = root / "seed"
    git(["clone", "--quiet", str(hub), str(seed)], root, env)
    (seed / "stats.json").write_text('{"count": 0}\n')
    git(["add", "stats.json"], seed, env)
    git(["commit", "--quiet", "-m", "initial state"], seed, env)
    git(["push", "--quiet", "origin", "HEAD:main"], seed, env)
    clones = []
    for i in range(workers):
        clone = root / f"w{i:02d}"
        git(["clone", "--quiet", str(hub), str(clone)], root, env)
        clones.append(clone)
    return hub, clones


def naive_worker(
    variant: str,
    index: int,
    clone: str,
    increments: int,
    max_retries: int,
    bot_date: int,
    barrier: Barrier,
    results: mp.Queue[dict[str, Any]],
) -> None:
    tally = Tally()
    try:
        cwd = Path(clone)
        env = git_env(variant, index, bot_date)
        push = ["push", "origin", "HEAD:main"] + (["--force"] if variant == "force" else [])
        barrier.wait()
        cpu = _cpu()
        for _ in range(increments):
            for attempt in range(max_retries + 1):
                git(["fetch", "--quiet", "origin"], cwd, env)
                git(["reset", "--quiet", "--hard", "origin/main"], cwd, env)
                path = cwd / "stats.json"
                count = int(path.read_text().split(":")[1].strip(" }\n"))
                path.write_text(f'{{"count": {count + 1}}}\n')
                git(["commit", "--quiet", "-am", MESSAGE], cwd, env)
                tally.pushes += 1
                pushed = git(push, cwd, env, check=False)
                if pushed.returncode == 0:
                    tally.landed += 1
                    if UP_TO_DATE in pushed.stderr:
                        tally.up_to_date += 1
                    break
                tally.rejected += 1
                if "cannot lock ref" in pushed.stderr:
                    tally.lock_lost += 1  # a concurrent push moved main under the lock
                elif "[rejected]" not in pushed.stderr:  # not a plain non-fast-forward
                    _note(tally, pushed.stderr.strip().replace("\n", " | "))
                if variant == "force":
                    break  # the force variant never retries
                if attempt == max_retries:
                    tally.gave_up += 1
        tally.done = time.monotonic()
        tally.cpu = _cpu() - cpu
    except Exception:
        tally.error = traceback.format_exc()
    results.put({"index": index, **_as_dict(tally)})


def naive_final(hub: Path) -> int:
    shown = git(["show", "main:stats.json"], hub, git_env("retry", 99, 0))
    return int(shown.stdout.split(":")[1].strip(" }\n"))


# gnp --------------------------------------------------------------------------------


def make_gnp_hub(root: Path, workers: int) -> Path:
    """A hub with stats.json = {"count": 0} on main and every worker's key registered."""
    from gnp import canonical
    from gnp.git.hub import Hub
    from gnp.git.registry import register

    hub = Hub.init(root / "gnp-hub.git")
    hub.commit_on_main(
        lambda _state: {"stats.json": canonical.encode_pretty({"count": 0})}, "initial state\n"
    )
    for i in range(workers):
        register(hub, f"w{i:02d}")
    return hub.path


def gnp_worker(
    variant: str,
    index: int,
    hub_path: str,
    increments: int,
    barrier: Barrier,
    results: mp.Queue[dict[str, Any]],
) -> None:
    tally = Tally()
    try:
        from gnp import Op, compose
        from gnp.git.connect import open_hub
        from gnp.git.inbox import submit
        from gnp.host import clock, keys

        worker = f"w{index:02d}"
        hub = open_hub(hub_path)
        key = keys.load(hub.state().hub_id, worker)
        op = Op("incr", "stats.json", "/count", 1)
        if variant == "gnp-push":
            from gnp.core.layout import delta_path, ref_name
            from gnp.git.local import LocalRepo

            local = LocalRepo.for_hub(hub)
        barrier.wait()
        cpu = _cpu()
        for _ in range(increments):
            tally.pushes += 1
            if variant == "gnp":
                frame = hub.state().frame
                submit(hub, key.sign(compose(worker, [op], frame=frame, stamp=clock.stamp())))
            else:
                base = _retrying(tally, "fetch", local.fetch_main)
                frame = hub.state(base).frame
                delta = key.sign(compose(worker, [op], frame=frame, stamp=clock.stamp()))
                branch = _delta_branch(local, worker, base, delta, delta_path)
                target = ref_name(worker, delta.id)
                landed = functools.partial(_in_hub, hub, target, delta.id)
                push = functools.partial(local.push, branch, target)
                _retrying(tally, "push", push, landed)
            tally.landed += 1
        tally.done = time.monotonic()
        tally.cpu = _cpu() - cpu
    except Exception:
        tally.error = traceback.format_exc()
    results.put({"index": index, **_as_dict(tally)})


def _retrying(
    tally: Tally,
    what: str,
    action: Callable[[], T],
    landed: Callable[[], bool] | None = None,
    tries: int = 20,
) -> T:
    """``action()``, tried again on a git error, as a worker (or the janitor) would: a
    re-push of the same delta is the same ref, and the ledger settles it at most once.
    ``landed`` tells, after an error, whether the push had reached the hub anyway."""
    import pygit2

    from gnp.core.errors import GnpError

    for attempt in range(1, tries + 1):
        try:
            return action()
        except (GnpError, pygit2.GitError) as exc:
            if attempt == tries:
                raise
            tally.retried += 1
            if landed is not None and landed():
                tally.landed_anyway += 1
            reason = re.sub(r"[0-9a-f]{32,64}", "<id>", str(exc))
            _note(tally, f"{what} raised, tried again: {reason}")
            time.sleep(0.01)
    raise AssertionError("unreachable")


def _in_hub(hub: Any, ref: str, delta_id: str) -> bool:
    """Whether the hub holds ``ref`` in its inbox or has already settled the delta."""
    return ref in hub.repo.references or hub.state().settled(delta_id)


def _delta_branch(local: Any, worker: str, base: Any, delta: Any, delta_path: Any) -> str:
    """Commit the delta on a local ref of the worker's own, as ``gnp run`` does."""
    import pygit2

    from gnp.git import trees

    tree = trees.edit(local.repo, base.tree, {delta_path(worker, delta.id): delta.encode()})
    sig = pygit2.Signature(worker, f"{worker}@gnp.invalid")
    commit = local.repo.create_commit(
        None, sig, sig, f"gnp delta {delta.id[:12]}\n", tree, [base.id]
    )
    name = f"refs/heads/bench/{worker}"
    local.repo.references.create(name, commit, force=True)
    return name


def engine(
    hub_path: str,
    idle: float,
    barrier: Barrier,
    stop: Event,
    results: mp.Queue[dict[str, Any]],
) -> None:
    """Frames back to back (a short sleep when the inbox held nothing) until ``stop``."""
    tally = Tally()
    try:
        from gnp.git.connect import open_hub
        from gnp.git.engine import run_frame

        hub = open_hub(hub_path)
        barrier.wait()
        cpu = _cpu()
        while not stop.is_set():
            began = time.monotonic()
            if not _count_frame(tally, run_frame(hub), began):
                time.sleep(idle)
        tally.done = time.monotonic()
        tally.cpu = _cpu() - cpu
    except Exception:
        tally.error = traceback.format_exc()
    results.put({"index": -1, **_as_dict(tally)})


def _count_frame(tally: Tally, report: Any, began: float) -> bool:
    """Add a frame report (of a frame begun at ``began``) to ``tally``; True if it merged."""
    if report.attempts > 1:
        _note(tally, f"a frame took {report.attempts} attempts (main moved)")
    if report.swept:
        _note(tally, f"swept {len(report.swept)} already-merged ref(s)")
    if report.frame is None:
        return False
    tally.frames += 1
    end = time.monotonic()
    tally.frame_log.append((end, len(report.verdicts), end - began))
    for verdict in report.verdicts:
        outcome = verdict.outcome.value
        tally.verdicts[outcome] = tally.verdicts.get(outcome, 0) + 1
        if outcome != "applied":
            _note(tally, f"{outcome} {verdict.code}: {verdict.reason}")
    return True


def gnp_final(hub_path: Path) -> int:
    from gnp.git.connect import open_hub

    return int(open_hub(hub_path).state().document("stats.json")["count"])


# Running a variant ------------------------------------------------------------------


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (git commands)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _note(tally: Tally, line: str) -> None:
    if len(tally.oddities) < 50:
        tally.oddities.append(line)


def _as_dict(tally: Tally) -> dict[str, Any]:
    return {name: getattr(tally, name) for name in Tally.__slots__}


def _tally(data: dict[str, Any]) -> Tally:
    return Tally(**{k: v for k, v in data.items() if k != "index"})


def collect(
    procs: Sequence[mp.process.BaseProcess], results: mp.Queue[dict[str, Any]], n: int
) -> list[dict[str, Any]]:
    """``n`` results from ``results``; fails loudly if a process died without one."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + VARIANT_TIMEOUT
    while len(out) < n:
        try:
            out.append(results.get(timeout=1.0))
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise SystemExit(
                    f"{len(dead)} process(es) died, e.g. exit {dead[0].exitcode}"
                ) from None
            if time.monotonic() > deadline:
                raise SystemExit(f"no result after {VARIANT_TIMEOUT:.0f} s; giving up") from None
    return out


def run_naive(variant: str, root: Path, workers: int, increments: int, max_retries: int) -> Result:
    hub, clones = make_naive_hub(root, workers)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 1, timeout=SETUP_TIMEOUT)
    results: mp.Queue[dict[str, Any]] = ctx.Queue()
    bot_date = int(time.time())
    procs = [
        ctx.Process(
            target=naive_worker,
            args=(variant, i, str(clone), increments, max_retries, bot_date, barrier, results),
            daemon=True,  # killed if the parent gives up
        )
        for i, clone in enumerate(clones)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.monotonic()
    tallies = [_tally(d) for d in sorted(collect(procs, results, workers), key=_index)]
    for p in procs:
        p.join()
    _raise_errors(tallies)
    end = max(t.done for t in tallies)
    final = naive_final(hub)
    return Result(variant, workers, increments, final, end - start, end - start, tallies, start)


def run_gnp(variant: str, root: Path, workers: int, increments: int, idle: float) -> Result:
    from gnp.git.connect import open_hub
    from gnp.git.engine import run_frame
    from gnp.git.inbox import snapshot

    hub_path = make_gnp_hub(root, workers)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 2, timeout=SETUP_TIMEOUT)
    results: mp.Queue[dict[str, Any]] = ctx.Queue()
    engine_results: mp.Queue[dict[str, Any]] = ctx.Queue()
    stop = ctx.Event()
    procs = [
        ctx.Process(
            target=gnp_worker,
            args=(variant, i, str(hub_path), increments, barrier, results),
            daemon=True,
        )
        for i in range(workers)
    ]
    engine_proc = ctx.Process(
        target=engine, args=(str(hub_path), idle, barrier, stop, engine_results), daemon=True
    )
    for p in (*procs, engine_proc):
        p.start()
    barrier.wait()
    start = time.monotonic()
    tallies = [_tally(d) for d in sorted(collect(procs, results, workers), key=_index)]
    submitted = time.monotonic()
    stop.set()
    engine_tally = _tally(collect([engine_proc], engine_results, 1)[0])
    for p in (*procs, engine_proc):
        p.join()
    _raise_errors([*tallies, engine_tally])
    hub = open_hub(hub_path)
    cpu = time.process_time()
    while True:  # the final frames, in this process, until the inbox is empty
        began = time.monotonic()
        merged = _count_frame(engine_tally, run_frame(hub), began)
        if not merged and not snapshot(hub):
            break
    end = time.monotonic()
    engine_tally.cpu += time.process_time() - cpu
    final = gnp_final(hub_path)
    return Result(
        variant,
        workers,
        increments,
        final,
        end - start,
        submitted - start,
        tallies,
        start,
        engine_tally,
    )


def _index(data: dict[str, Any]) -> int:
    return int(data["index"])


def _raise_errors(tallies: Sequence[Tally]) -> None:
    errors = [t.error for t in tallies if t.error]
    if errors:
        raise SystemExit(f"{len(errors)} process(es) failed; the first:\n{errors[0]}")


# Report -----------------------------------------------------------------------------

LABELS = {
    "force": "naive git, push --force, no retry",
    "retry": "naive git, retry on rejection, own identities",
    "bot": "naive git, retry, one bot identity, same second",
    "gnp": "signed deltas by gnp.inbox.submit, frames",
    "gnp-push": "signed deltas by git push (libgit2), frames",
}


def table(results: Sequence[Result]) -> str:
    head = (
        "| variant | final count | lost updates | pushes attempted | rejected (of which "
        "ref lock) | 'up-to-date' (exit 0) | gave up | wall s | landed/s |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        cells = [
            f"{r.variant}: {LABELS[r.variant]}",
            f"{r.final} / {r.expected}",
            f"{r.lost}",
            f"{r.total('pushes'):,}",
            f"{r.total('rejected'):,} ({r.total('lock_lost'):,})",
            f"{r.total('up_to_date'):,}",
            f"{r.total('gave_up'):,}",
            f"{r.wall:.2f}",
            f"{r.rate:,.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def details(r: Result) -> list[str]:
    lines = [f"{r.variant}:"]
    believed = r.total("landed")
    if r.variant in NAIVE:
        pushes = r.total("pushes")
        lines.append(
            f"  workers believe {believed} increments landed; main has {r.final}; "
            f"{pushes / max(r.expected, 1):.1f} pushes per increment"
        )
    cpu = r.total("cpu")
    lines.append(
        f"  CPU: workers {cpu:.1f} s ({1000 * cpu / max(r.total('pushes'), 1):.1f} ms per "
        f"push/submission, git commands included)"
        + (f", engine {r.engine.cpu:.2f} s" if r.engine else "")
        + f"; wall {r.wall:.2f} s"
    )
    if r.engine is not None:
        e = r.engine
        per_frame = r.final / e.frames if e.frames else 0.0
        lines.append(
            f"  {e.frames} frames ({per_frame:.1f} deltas per frame); verdicts {e.verdicts}; "
            f"workers done submitting at {r.submit_wall:.2f} s, settled at {r.wall:.2f} s"
        )
        frames = ", ".join(
            f"{n} in {seconds:.2f} s (done at {end - r.start:.2f} s)"
            for end, n, seconds in e.frame_log
        )
        lines.append(f"  frames: {frames}")
    if r.total("retried"):
        lines.append(
            f"  {r.total('retried')} fetches/pushes raised and were tried again; "
            f"{r.total('landed_anyway')} of the pushes that raised had reached the hub"
        )
    oddities = [o for t in (*r.tallies, *([r.engine] if r.engine else [])) for o in t.oddities]
    for line in sorted(set(oddities))[:10]:
        lines.append(f"  note: {line} (x{oddities.count(line)})")
    return lines


def parse_variants(text: str) -> tuple[str, ...]:
    chosen = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in chosen if v not in ALL_VARIANTS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"variants are {', '.join(ALL_VARIANTS)}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", type=int, default=16, help="worker processes (16)")
    parser.add_argument("--increments", type=int, default=20, help="increments each (20)")
    parser.add_argument(
        "--variants",
        type=parse_variants,
        default=DEFAULT_VARIANTS,
        help=f"comma-separated, from {','.join(ALL_VARIANTS)} (default: the first four)",
    )
    parser.add_argument(
        "--max-retries", type=int, default=200, help="rejections per increment before giving up"
    )
    parser.add_argument(
        "--idle", type=float, default=0.005, help="engine sleep (s) after an empty frame"
    )
    args = parser.parse_args(argv)
    if args.workers < 1 or args.increments < 1:
        parser.error("--workers and --increments must be at least 1")

    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
    print(
        f"{args.workers} workers x {args.increments} increments; {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; {git_version.strip()}"
    )
    started = time.monotonic()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="gnp-race-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        os.environ["GNP_HOME"] = str(root / "gnp-home")  # keys (and local repos) go here
        for variant in args.variants:
            folder = root / variant
            folder.mkdir()
            if variant in NAIVE:
                result = run_naive(variant, folder, args.workers, args.increments, args.max_retries)
            else:
                result = run_gnp(variant, folder, args.workers, args.increments, args.idle)
            results.append(result)
            print(
                f"  {variant}: final {result.final}/{result.expected}, lost {result.lost}, "
                f"{result.wall:.2f} s ({time.monotonic() - started:.0f} s so far)",
                flush=True,
            )
            shutil.rmtree(folder, ignore_errors=True)
    print()
    print(table(results))
    print()
    for r in results:
        print("\n".join(details(r)))
    by_name = {r.variant: r for r in results}
    correct = by_name.get("retry")
    for name in ("gnp", "gnp-push"):
        if name in by_name and correct is not None and correct.rate > 0:
            ratio = by_name[name].rate / correct.rate
            print(f"\n{name} rate / retry rate = {ratio:.1f}x")
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    failed = [
        r.variant
        for r in results
        if r.engine is not None and (r.lost != 0 or r.engine.verdicts != {"applied": r.expected})
    ]
    if failed:
        print(f"FAILED: {', '.join(failed)} did not apply every delta exactly once")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
