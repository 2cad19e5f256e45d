"""Benchmark of gnp's pure core: ``reduce`` alone, and admit (decode + verify) + reduce.

A frame of N signed deltas, 3 operations each, from 50 workers over 100 state files; the
operations are a mix that combines without conflicts (incr, append, union, and
replace/add on per-worker paths), and every run checks that all N deltas were APPLIED.
Beside it, a comparison of gnp's own RFC 6902 application with the jsonpatch library.

    .venv/bin/python bench/reduce_bench.py [--sizes 100,1000] [--repeat K]
        [--profile N [--top K]] [--no-gc] [--no-jsonpatch] [--seed S]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import os
import platform
import pstats
import random
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

import gnp
from gnp import ABSENT, Op, Outcome, Reader, SigningKey, canonical

FRAME = 1  # the frame reduced; deltas are based on frame 0
N_FILES = 100
N_WORKERS = 50
N_TAGS = 20
OPS_PER_DELTA = 3
FILES = [f"s/f{i:03d}.json" for i in range(N_FILES)]
WORKERS = [f"w{i:02d}" for i in range(N_WORKERS)]
TAGS = [f"t{i:02d}" for i in range(N_TAGS)]
START = datetime(2026, 11, 29, tzinfo=UTC)
UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# (op kind, weight): mostly additive ops, which commute across workers, plus RFC 6902
# writes confined to the worker's own subtree, so nothing should conflict.
MIX: list[tuple[str, int]] = [
    ("incr", 30),
    ("append", 20),
    ("union", 15),
    ("replace", 20),
    ("add", 15),
]
DEFAULT_SIZES = (100, 1_000, 10_000, 100_000)


# Workload ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    """Signed deltas as canonical bytes, what they should do, base state and keyring.

    Only bytes are kept (as an inbox would hold them), so the heap the garbage collector
    walks during a measurement is what an engine would hold, not the whole workload.
    """

    blobs: list[bytes]
    incrs: list[int]  # incrs[n]: number of incr ops in the first n deltas
    appends: list[int]  # appends[n]: number of append ops in the first n deltas
    base: dict[str, bytes]  # file -> canonical bytes of its base document
    keyring: dict[str, Ed25519PublicKey]


def signing_key(worker: str, seed: int) -> SigningKey:
    """A deterministic key per worker, so runs are reproducible."""
    raw = hashlib.sha256(f"gnp-bench/{seed}/{worker}".encode()).digest()
    return SigningKey(Ed25519PrivateKey.from_private_bytes(raw))


def base_document() -> dict[str, Any]:
    """Every state file starts with a counter, a log, a set and one object per worker."""
    return {
        "posts": 0,
        "log": [],
        "tags": [],
        "agents": {w: {"status": "idle"} for w in WORKERS},
    }


def random_op(rng: random.Random, worker: str, i: int, utc: str) -> Op:
    kind = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
    file = rng.choice(FILES)
    if kind == "incr":
        return Op("incr", file, "/posts", 1)
    if kind == "append":
        return Op("append", file, "/log", {"worker": worker, "n": i, "event": "post"})
    if kind == "union":
        return Op("union", file, "/tags", [rng.choice(TAGS)])
    if kind == "replace":
        status = rng.choice(("busy", "idle", "waiting"))
        return Op("replace", file, f"/agents/{worker}/status", status)
    return Op("add", file, f"/agents/{worker}/seen", utc)


def make_workload(n: int, seed: int) -> Workload:
    """``n`` signed deltas in generation order; any prefix is a valid smaller frame."""
    rng = random.Random(seed)
    keys = {w: signing_key(w, seed) for w in WORKERS}
    blobs: list[bytes] = []
    incrs = [0]
    appends = [0]
    for i in range(n):
        worker = rng.choice(WORKERS)
        utc = (START + timedelta(microseconds=137 * i)).strftime(UTC_FORMAT)
        ops = [random_op(rng, worker, i, utc) for _ in range(OPS_PER_DELTA)]
        stamp = gnp.Stamp(utc, f"{seed:08x}{i:024x}")
        delta = gnp.compose(worker, ops, frame=FRAME - 1, stamp=stamp)
        blobs.append(keys[worker].sign(delta).encode())
        incrs.append(incrs[-1] + sum(op.op == "incr" for op in ops))
        appends.append(appends[-1] + sum(op.op == "append" for op in ops))
    base = {f: canonical.encode(base_document()) for f in FILES}
    keyring = {w: k.public_key for w, k in keys.items()}
    return Workload(blobs, incrs, appends, base, keyring)


def make_reader(base: dict[str, bytes]) -> Reader:
    """Decodes the held bytes on every call, so each call returns a fresh document."""

    def reader(file: str) -> Any:
        data = base.get(file)
        return ABSENT if data is None else canonical.decode(data)

    return reader


# Checks -----------------------------------------------------------------------------


def check(result: gnp.FrameResult, n: int, work: Workload) -> dict[str, int]:
    """The verdict counts; refuses a run in which anything but all ``n`` deltas applied."""
    counts = {o.value: result.count(o) for o in Outcome}
    if counts[Outcome.APPLIED.value] != n or len(result.verdicts) != n:
        shown = [v for v in result.verdicts if v.outcome is not Outcome.APPLIED][:5]
        lines = "\n".join(f"  {v.outcome}: {v.code} {v.reason}" for v in shown)
        raise SystemExit(f"expected {n} applied, got {counts}; first others:\n{lines}")
    docs = [d for d in result.documents.values() if d is not ABSENT]
    posts = sum(d["posts"] for d in docs)
    log = sum(len(d["log"]) for d in docs)
    if posts != work.incrs[n] or log != work.appends[n]:
        raise SystemExit(
            f"state is wrong: posts {posts} (expected {work.incrs[n]}), "
            f"log entries {log} (expected {work.appends[n]})"
        )
    return counts


# Timing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """Seconds for a whole frame of ``n`` deltas (best of repeats)."""

    n: int
    applied: int
    reduce: float  # reduce only, on decoded deltas
    reduce_gc: float  # of which in the garbage collector
    admit: float  # admit() of every blob, in the pipeline
    decode: float  # gnp.decode of every blob, timed alone
    verify: float  # gnp.verify of every decoded delta, timed alone
    pipe_reduce: float  # reduce, in the pipeline
    total: float  # admit + reduce, in the pipeline
    total_gc: float  # of which in the garbage collector


class GcClock:
    """Time spent in the cyclic garbage collector, through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start

    def __enter__(self) -> GcClock:
        self.seconds = 0.0
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def best(repeat: int, run: Callable[[], tuple[float, ...]]) -> tuple[float, ...]:
    """The run whose first number (its elapsed time) is smallest."""
    results = []
    for _ in range(repeat):
        gc.collect()
        results.append(run())
    return min(results)


def measure(work: Workload, n: int, repeat: int) -> Row:
    blobs = work.blobs[:n]
    keyring = work.keyring
    reader = make_reader(work.base)
    ledger: frozenset[str] = frozenset()
    clock = GcClock()
    verdicts: list[dict[str, int]] = []

    def on_decoded() -> tuple[float, float, float]:
        """Reduce only, and verify only, on deltas decoded before timing."""
        deltas = [gnp.decode(b) for b in blobs]

        def reduce_only() -> tuple[float, float]:
            with clock:
                t0 = time.perf_counter()
                result = gnp.reduce(FRAME, deltas, reader, ledger)
                elapsed = time.perf_counter() - t0
            verdicts.append(check(result, n, work))
            return elapsed, clock.seconds

        def verify_only() -> tuple[float]:
            t0 = time.perf_counter()
            for d in deltas:
                gnp.verify(d, keyring)
            return (time.perf_counter() - t0,)

        reduce_t, reduce_gc = best(repeat, reduce_only)
        (verify_t,) = best(repeat, verify_only)
        return reduce_t, reduce_gc, verify_t

    def pipeline() -> tuple[float, float, float, float]:
        with clock:
            t0 = time.perf_counter()
            admitted = [gnp.admit(b, keyring) for b in blobs]
            t1 = time.perf_counter()
            result = gnp.reduce(FRAME, admitted, reader, ledger)
            t2 = time.perf_counter()
        verdicts.append(check(result, n, work))
        return t2 - t0, t1 - t0, t2 - t1, clock.seconds

    def decode_only() -> tuple[float]:
        t0 = time.perf_counter()
        for b in blobs:
            gnp.decode(b)
        return (time.perf_counter() - t0,)

    reduce_t, reduce_gc, verify_t = on_decoded()  # its deltas are freed on return
    total, admit_t, pipe_reduce, total_gc = best(repeat, pipeline)
    (decode_t,) = best(repeat, decode_only)
    print(f"  N={n:,}: verdicts {verdicts[-1]} in every one of {len(verdicts)} runs")
    applied = min(v["applied"] for v in verdicts)
    return Row(
        n, applied, reduce_t, reduce_gc, admit_t, decode_t, verify_t, pipe_reduce, total, total_gc
    )


def frame_read_cost(work: Workload) -> float:
    """Seconds to read (decode) all base files once: a fixed cost inside every reduce."""
    reader = make_reader(work.base)
    return min(timeit.repeat(lambda: [reader(f) for f in FILES], number=20, repeat=5)) / 20


def print_table(rows: list[Row]) -> None:
    """A Markdown table; per-delta costs in µs, ratios against the smallest N."""
    ref = rows[0]
    print(
        f"| N | applied | reduce | (GC) | admit (decode+verify) | decode | verify "
        f"| reduce in pipeline "
        f"| total | (GC) | deltas/s total | reduce x | total x |\n"
        f"|{'---:|' * 13}"
    )
    for r in rows:
        cells = [
            f"{r.n:,}",
            f"{r.applied:,}",
            *(
                f"{t / r.n * 1e6:.1f}"
                for t in (
                    r.reduce,
                    r.reduce_gc,
                    r.admit,
                    r.decode,
                    r.verify,
                    r.pipe_reduce,
                    r.total,
                    r.total_gc,
                )
            ),
            f"{r.n / r.total:,.0f}",
            f"{(r.reduce / r.n) / (ref.reduce / ref.n):.2f}",
            f"{(r.total / r.n) / (ref.total / ref.n):.2f}",
        ]
        print("| " + " | ".join(cells) + " |")
    print(
        f"\nµs per delta; (GC): of which in the cyclic garbage collector; "
        f"'x': per-delta cost vs N={ref.n:,}; decode and verify are timed alone "
        f"(admit = decode + verify)."
    )


def profile(work: Workload, n: int, top: int) -> None:
    """cProfile one full pipeline run (admit every blob, then reduce) at ``n``."""
    blobs = work.blobs[:n]
    reader = make_reader(work.base)
    keyring = work.keyring

    def run() -> gnp.FrameResult:
        return gnp.reduce(FRAME, [gnp.admit(b, keyring) for b in blobs], reader, ())

    profiler = cProfile.Profile()
    gc.collect()
    result = profiler.runcall(run)
    check(result, n, work)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs()
    for order in ("cumulative", "tottime"):
        print(f"\n--- cProfile, full pipeline, N={n}: top {top} by {order} ---")
        stats.sort_stats(order).print_stats(top)


# jsonpatch comparison ---------------------------------------------------------------


PATCH_FILE = "s/doc.json"
PATCH_CASES = (
    "gnp Workspace.apply",
    "gnp fresh Workspace",
    "jsonpatch apply_patch (copy)",
    "jsonpatch in_place=True",
)


def patch_costs(size: int) -> list[float]:
    """µs per patch for each of :data:`PATCH_CASES`, on a document of ``size`` keys."""
    import jsonpatch  # a dev dependency, used only here

    doc = {f"k{i:05d}": {"n": i, "name": f"item {i}"} for i in range(size)}
    patch: list[dict[str, Any]] = [
        {"op": "replace", "path": "/k00000", "value": {"n": -1, "name": "changed"}},
        {"op": "add", "path": "/new", "value": {"n": 1, "name": "new"}},
        {"op": "test", "path": "/k00001", "value": {"n": 1, "name": "item 1"}},
    ]
    ops = [Op.from_json({**p, "file": PATCH_FILE}) for p in patch]

    def read(file: str) -> Any:
        return canonical.copy(doc) if file == PATCH_FILE else ABSENT

    check_ws = gnp.Workspace(read)
    check_ws.apply(ops)
    expected = jsonpatch.apply_patch(doc, patch)
    if not canonical.equal(check_ws.document(PATCH_FILE), expected):
        raise SystemExit("gnp and jsonpatch disagree on the patch result")

    # The patch is idempotent, so applying it again and again to one document is valid.
    warm = gnp.Workspace(read)  # document already read, as within a frame
    warm.document(PATCH_FILE)
    target = canonical.copy(doc)

    def gnp_warm() -> object:
        return warm.apply(ops)

    def gnp_fresh() -> object:  # the reader copies the document: copy-on-apply, like jsonpatch
        return gnp.Workspace(read).apply(ops)

    def jsonpatch_copy() -> object:
        return jsonpatch.apply_patch(doc, patch)

    def jsonpatch_in_place() -> object:  # not atomic: a failing op leaves earlier ones applied
        return jsonpatch.apply_patch(target, patch, in_place=True)

    costs = []
    for case in (gnp_warm, gnp_fresh, jsonpatch_copy, jsonpatch_in_place):
        timer = timeit.Timer(case)
        number, _ = timer.autorange()
        costs.append(min(timer.repeat(repeat=5, number=number)) / number * 1e6)
    return costs


def jsonpatch_comparison() -> None:
    """One 3-op patch (replace, add, test) on a document of 10 and of 10,000 keys."""
    print("\nOne 3-op patch (replace, add, test), µs per patch:\n")
    print("| keys | " + " | ".join(PATCH_CASES) + " |")
    print("|" + "---:|" * (len(PATCH_CASES) + 1))
    for size in (10, 10_000):
        cells = [f"{c:,.1f}" if c >= 100 else f"{c:.2f}" for c in patch_costs(size)]
        print(f"| {size:,} | " + " | ".join(cells) + " |")


# Main -------------------------------------------------------------------------------


def default_repeat(n: int) -> int:
    return 5 if n <= 1_000 else 3 if n <= 10_000 else 1


def parse_sizes(text: str) -> list[int]:
    sizes = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes are positive integers, e.g. 100,1000")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated frame sizes (default: 100,1000,10000,100000)",
    )
    parser.add_argument(
        "--repeat", type=int, help="repeats per size, best kept (default 5/5/3/1 by size)"
    )
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    parser.add_argument("--profile", type=int, metavar="N", help="also cProfile the pipeline at N")
    parser.add_argument("--top", type=int, default=20, help="profile rows to show (default 20)")
    parser.add_argument(
        "--no-gc", action="store_true", help="disable the cyclic GC in timed runs (diagnosis)"
    )
    parser.add_argument("--no-jsonpatch", action="store_true", help="skip the jsonpatch side")
    args = parser.parse_args(argv)
    sizes: list[int] = args.sizes
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")

    print(
        f"gnp {gnp.__version__} reduce benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; single thread"
    )
    print(
        f"workload: {N_WORKERS} workers, {N_FILES} files, {OPS_PER_DELTA} ops/delta, mix "
        + ", ".join(f"{k} {w}%" for k, w in MIX)
    )
    started = time.perf_counter()
    n_max = max(sizes + ([args.profile] if args.profile else []))
    work = make_workload(n_max, args.seed)
    print(
        f"generated {n_max:,} signed deltas in {time.perf_counter() - started:.1f} s "
        f"(mean {sum(map(len, work.blobs)) / n_max:.0f} bytes each); reading all "
        f"{N_FILES} base files costs {frame_read_cost(work) * 1e3:.2f} ms per frame\n"
    )
    if args.no_gc:
        gc.disable()  # best() still collects between runs
        print("cyclic garbage collector DISABLED during timed runs")
    rows = []
    for n in sizes:
        repeat = args.repeat or default_repeat(n)
        rows.append(measure(work, n, repeat))
        print(f"  N={n:,}: best of {repeat}, {time.perf_counter() - started:.0f} s so far")
    gc.enable()
    print()
    print_table(rows)
    if args.profile:
        profile(work, args.profile, args.top)
    if not args.no_jsonpatch:
        jsonpatch_comparison()
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
