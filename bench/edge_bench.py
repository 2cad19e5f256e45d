"""Two edge cases, before and after a change, alternated: a worker's run on a 10,000-file
state with one edit, and a frame of 10,000 append-heavy deltas.

``run``: a hub whose main holds 10,000 small state files (``d/NNNN.json``) and one
registered worker; each timed call is ``gnp.process.run.run(hub, worker, command)`` with a
command that edits one file (``sed -i`` on ``d/0001.json``). Main does not move between
runs (no frame is run), so every run starts from the same state. Reported: the whole
run's wall time, and its parts, by wrapping the module's own functions: ``create`` (the
worktree), ``execute`` (the command), ``changed`` (finding the changed files) and
``post`` (everything after the command: changed files, diff, signing, delivery, removal).

``reduce``: pure core, no git. ``gnp.reduce(1, deltas, reader)`` on 10,000 deltas from 50
workers, each with 2-3 ops on ``posts.json``: ``append`` to ``/log``, RFC 6902 ``add`` at
``/pK/comments/-`` (K in 1..5, lists the base holds) and ``incr /count``. Deltas are
composed, signed and decoded before timing (as bench/reduce_bench.py does); only reduce
is timed. The applied/conflicted counts are printed: they may differ between checkouts.

Driver (alternates the two checkouts, each run with its own .venv's python):

    .venv/bin/python bench/edge_bench.py --before /tmp/bench-before --after /tmp/bench-after \\
        [--rounds 4] [--cases run,reduce] [--runs 3] [--files 10000] [--deltas 10000]
        [--own-lists]

One side only (the python must be that checkout's, or have its dependencies):

    /tmp/bench-before/.venv/bin/python bench/edge_bench.py --checkout /tmp/bench-before \\
        --case reduce
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

N_WORKERS = 50
N_POSTS = 5
WORKER = "bench"


# One side -------------------------------------------------------------------------------


def side_run(work: Path, files: int, runs: int) -> dict[str, Any]:
    """Time ``runs`` runs of a one-file edit on a hub of ``files`` state files."""
    os.environ["GNP_HOME"] = str(work / "home")
    os.environ["GNP_WORKTREES"] = str(work / "worktrees")
    (work / "worktrees").mkdir(parents=True, exist_ok=True)
    from gnp.core import canonical
    from gnp.git.hub import Hub
    from gnp.git.registry import register
    from gnp.process import run as run_mod

    hub_path = work / "hub"
    fresh = not hub_path.exists()
    if fresh:
        hub = Hub.init(hub_path)
        docs = {
            f"d/{i:04d}.json": canonical.encode({"n": i, "items": ["xx", "b", "c"]})
            for i in range(files)
        }
        hub.commit_on_main(lambda state: docs, f"seed {files} files")
        register(hub, WORKER)
    hub = Hub.at(hub_path)

    marks: dict[str, float] = {}
    spans: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                t1 = time.perf_counter()
                spans[name] = spans.get(name, 0.0) + t1 - t0
                marks[name + "_end"] = t1

        return wrapper

    run_mod.execute = timed("execute", run_mod.execute)
    run_mod.create = timed("create", run_mod.create)
    if hasattr(run_mod, "changed"):  # before: run.changed(wt) reads the worktree's .git
        run_mod.changed = timed("changed", run_mod.changed)
    else:  # after: edits.changed(root, tree) compares the files with the tree
        from gnp.process import edits

        edits.changed = timed("changed", edits.changed)
    command = ["sh", "-c", "sed -i s/xx/yy/ d/0001.json"]
    if fresh:
        run_mod.run(hub, WORKER, command)  # warm-up: caches, first worktree folder
    rows = []
    for _ in range(runs):
        marks.clear()
        spans.clear()
        t0 = time.perf_counter()
        result = run_mod.run(hub, WORKER, command)
        t1 = time.perf_counter()
        if result.status.value != "ok" or result.ops < 1:
            raise SystemExit(f"unexpected result: {result}")
        rows.append(
            {
                "total": t1 - t0,
                "create": spans.get("create", 0.0),
                "execute": spans.get("execute", 0.0),
                "changed": spans.get("changed", 0.0),
                "post": t1 - marks["execute_end"],
            }
        )
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]} | {"n": runs}


def side_reduce(deltas: int, runs: int, seed: int, own_lists: bool = False) -> dict[str, Any]:
    """Time ``gnp.reduce`` on ``deltas`` append-heavy deltas, ``runs`` times."""
    import gc
    import random
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    import gnp
    from gnp import ABSENT, Op, Outcome, SigningKey, canonical

    workers = [f"w{i:02d}" for i in range(N_WORKERS)]
    keys = {
        w: SigningKey(
            Ed25519PrivateKey.from_private_bytes(
                hashlib.sha256(f"gnp-edge/{seed}/{w}".encode()).digest()
            )
        )
        for w in workers
    }
    rng = random.Random(seed)
    start = datetime(2026, 12, 4, tzinfo=UTC)
    decoded = []
    n_ops = 0
    for i in range(deltas):
        worker = rng.choice(workers)
        utc = (start + timedelta(microseconds=137 * i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        post = f"/p{rng.randint(1, N_POSTS)}/comments/-"
        if own_lists:  # each worker adds to a list of its own: nothing conflicts anywhere
            post = f"/own/{worker}/-"
        ops = [
            Op("append", "posts.json", "/log", {"worker": worker, "n": i}),
            Op("add", "posts.json", post, {"by": worker, "n": i, "text": "hi"}),
            Op("incr", "posts.json", "/count", 1),
        ]
        if i % 3 == 2:  # a third of them have 2 ops
            del ops[rng.choice((0, 2))]
        n_ops += len(ops)
        stamp = gnp.Stamp(utc, f"{seed:08x}{i:024x}")
        delta = gnp.compose(worker, ops, frame=0, stamp=stamp)
        decoded.append(gnp.decode(keys[worker].sign(delta).encode()))
    base = canonical.encode(
        {
            "count": 0,
            "log": [],
            **{f"p{k}": {"title": f"post {k}", "comments": []} for k in range(1, N_POSTS + 1)},
            **({"own": {w: [] for w in workers}} if own_lists else {}),
        }
    )

    def reader(file: str) -> Any:
        return canonical.decode(base) if file == "posts.json" else ABSENT

    times = []
    counts: dict[str, int] = {}
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        result = gnp.reduce(1, decoded, reader)
        times.append(time.perf_counter() - t0)
        counts = {o.value: result.count(o) for o in Outcome if result.count(o)}
    doc = result.documents["posts.json"]
    comments = sum(len(doc[f"p{k}"]["comments"]) for k in range(1, N_POSTS + 1))
    comments += sum(len(v) for v in doc.get("own", {}).values())
    return {
        "reduce": statistics.median(times),
        "best": min(times),
        "per_delta_us": statistics.median(times) / deltas * 1e6,
        "n": runs,
        "ops": n_ops,
        "verdicts": counts,
        "state": {"count": doc["count"], "log": len(doc["log"]), "comments": comments},
    }


# The driver -----------------------------------------------------------------------------


def child(checkout: Path, case: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    python = checkout / ".venv" / "bin" / "python"
    cmd = [
        str(python), str(Path(__file__).resolve()), "--checkout", str(checkout), "--case", case,
        "--work", str(work), "--runs", str(args.runs), "--files", str(args.files),
        "--deltas", str(args.deltas), "--seed", str(args.seed), "--json",
    ] + (["--own-lists"] if args.own_lists else [])  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=checkout)
    return json.loads(out.stdout.strip().splitlines()[-1])


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def drive(args: argparse.Namespace) -> None:
    sides = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    root = Path(tempfile.mkdtemp(prefix="edge-bench-", dir=args.root))
    cases = args.cases.split(",")
    results: dict[str, dict[str, list[dict[str, Any]]]] = {c: {s: [] for s in sides} for c in cases}
    loads = [loadavg()]
    print(f"work in {root}; load average at start {loads[0]}", flush=True)
    for side, path in sides.items():  # hubs are built (and warmed) before any timing
        if "run" in cases:
            t0 = time.perf_counter()
            child(path, "run", argparse.Namespace(**{**vars(args), "runs": 1}), root / side)
            print(f"  {side}: hub of {args.files} files ready in {time.perf_counter() - t0:.1f} s")
    for r in range(args.rounds):
        order = ["before", "after"] if r % 2 == 0 else ["after", "before"]  # ABBA
        for case in cases:
            for side in order:
                res = child(sides[side], case, args, root / side)
                results[case][side].append(res)
                key = "total" if case == "run" else "reduce"
                print(f"  round {r + 1} {case:6} {side:6} {res[key] * 1e3:8.1f} ms  {res}")
        loads.append(loadavg())
        print(f"  load average after round {r + 1}: {loads[-1]}", flush=True)
    print()
    print("| case | measure | before ms (median; min-max) | after ms (median; min-max) "
          "| after/before (median; per-round min-max) |")  # fmt: skip
    print("|---|---|---:|---:|---:|")
    fields = {"run": ["total", "create", "execute", "changed", "post"], "reduce": ["reduce"]}
    for case in cases:
        for f in fields[case]:
            b = [x[f] * 1e3 for x in results[case]["before"]]
            a = [x[f] * 1e3 for x in results[case]["after"]]
            ratios = [y / x for x, y in zip(b, a, strict=True) if x > 0]
            rs = (
                f"{statistics.median(ratios):.2f}; {min(ratios):.2f}-{max(ratios):.2f}"
                if ratios
                else "n/a"
            )
            print(
                f"| {case} | {f} | {statistics.median(b):.1f}; {min(b):.1f}-{max(b):.1f} "
                f"| {statistics.median(a):.1f}; {min(a):.1f}-{max(a):.1f} | {rs} |"
            )
        if case == "reduce":
            for side in sides:
                x = results[case][side][-1]
                per = [y["per_delta_us"] for y in results[case][side]]
                print(
                    f"| reduce | {side}: µs/delta {statistics.median(per):.1f} "
                    f"({min(per):.1f}-{max(per):.1f}); verdicts {x['verdicts']}; "
                    f"ops {x['ops']}; state {x['state']} | | | |"
                )
    print(f"\nload averages (1, 5, 15 min) at start and after each round: {loads}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] + " " + __doc__.splitlines()[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument("--before", help="driver: the checkout before the change")
    parser.add_argument("--after", help="driver: the checkout after the change")
    parser.add_argument("--rounds", type=int, default=4, help="driver: rounds, ABBA (default 4)")
    parser.add_argument("--cases", default="run,reduce", help="driver: run,reduce (default)")
    parser.add_argument(
        "--root", help="driver: folder for hubs, keys and worktrees (default: the temp dir)"
    )
    parser.add_argument("--checkout", help="one side: import gnp from this checkout")
    parser.add_argument("--case", choices=["run", "reduce"], help="one side: what to time")
    parser.add_argument("--work", help="one side, run: folder for hub, keys (default: temp)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per call (default 3)")
    parser.add_argument("--files", type=int, default=10_000, help="state files (default 10000)")
    parser.add_argument("--deltas", type=int, default=10_000, help="deltas (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    parser.add_argument(
        "--own-lists",
        action="store_true",
        help="reduce: each worker's RFC 6902 add goes to a list of its own (no conflicts on "
        "either side), instead of 5 shared lists",
    )
    parser.add_argument("--json", action="store_true", help="one side: print one JSON line")
    args = parser.parse_args(argv)
    if args.before and args.after:
        drive(args)
        return 0
    if not (args.checkout and args.case):
        parser.error("give --before and --after, or --checkout and --case")
    sys.path.insert(0, str(Path(args.checkout).resolve()))
    if args.case == "run":
        work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="edge-run-"))
        res = side_run(work, args.files, args.runs)
    else:
        res = side_reduce(args.deltas, args.runs, args.seed, args.own_lists)
    import gnp

    where = str(Path(gnp.__file__).resolve().parent.parent)
    if where != str(Path(args.checkout).resolve()):
        raise SystemExit(f"gnp was imported from {where}, not {args.checkout}")
    print(json.dumps(res) if args.json else res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
