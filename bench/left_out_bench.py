"""What winners that fail cost a frame: N plain deltas plus K stale compare-and-swaps.

    .venv/bin/python bench/left_out_bench.py [--deltas 10000] [--left-out 0 10 100 1000]
                                             [--own]

Each stale compare-and-swap (authority 1: ``test`` a value that is not there, then
``replace`` it) beats a lower-priority writer of the same key and then fails, so it is
left out and the frame decided again (rule 4, :mod:`gnp.core.rounds`). Such a delta is
doomed (it fails wherever it wins) and is judged without a new round. With ``--own``,
its worker first sent another delta that touches the same object, so it is not doomed
and each costs a try. Prints seconds per reduce (best of ``--repeat``) for each K.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gnp import ABSENT, Op, canonical, compose, reduce
from gnp.core.delta import Delta, Stamp


def stamp(utc: str) -> Stamp:
    return Stamp(utc, secrets.token_hex(16))


def frame(n: int, k: int, own: bool) -> tuple[list[Delta], dict[str, Any]]:
    base = {"s.json": {"n": 0, "x": {str(i): {"v": 0} for i in range(k)}}}
    deltas = [
        compose(
            f"w{i % 50}",
            [Op("incr", "s.json", "/n", 1), Op("add", "s.json", f"/y{i}", i)],
            frame=0,
            stamp=stamp(f"2026-11-29T00:00:{i / 1e6:09.6f}Z"),
        )
        for i in range(n)
    ]
    for i in range(k):
        if own:
            earlier = [Op("add", "s.json", f"/x/{i}/w", 1)]
            at = stamp(f"2026-11-29T00:00:59.{i:06d}Z")
            deltas.append(compose(f"cas{i}", earlier, frame=0, stamp=at))
        stale = [Op("test", "s.json", f"/x/{i}", {"v": 5}), Op("replace", "s.json", f"/x/{i}/v", 1)]
        deltas.append(
            compose(
                f"cas{i}",
                stale,
                frame=0,
                authority=1,
                stamp=stamp(f"2026-11-29T00:01:{i / 1e6:09.6f}Z"),
            )
        )
        deltas.append(
            compose(
                f"low{i}",
                [Op("replace", "s.json", f"/x/{i}/v", 2)],
                frame=0,
                stamp=stamp(f"2026-11-29T00:02:{i / 1e6:09.6f}Z"),
            )
        )
    return deltas, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=10_000)
    parser.add_argument("--left-out", type=int, nargs="+", default=[0, 10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--own", action="store_true", help="an earlier delta of each CAS's worker")
    args = parser.parse_args()
    print("| left out (K) | deltas | seconds | verdicts |\n|---:|---:|---:|---|")
    for k in args.left_out:
        deltas, base = frame(args.deltas, k, args.own)
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = reduce(1, deltas, lambda f: canonical.copy(base.get(f, ABSENT)))
            best = min(best, time.perf_counter() - started)
        counts = Counter(v.outcome.value for v in result.verdicts)
        applied = args.deltas + k * (2 if args.own else 1)
        assert counts["rejected"] == k and counts["applied"] == applied, counts
        print(f"| {k:,} | {len(deltas):,} | {best:.2f} | {dict(counts)} |", flush=True)


if __name__ == "__main__":
    main()
