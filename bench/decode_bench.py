"""Decoding: ``gnp.decode`` of 10,000 signed append-heavy deltas, as ``edge_bench.py
--own-lists`` makes them (append, add at the worker's own list's end, incr).

Run in each checkout's environment, alternated, and compare the medians:

    /tmp/bench-before/.venv/bin/python bench/decode_bench.py before
    .venv/bin/python bench/decode_bench.py after
"""

from __future__ import annotations

import hashlib
import random
import statistics
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import gnp
from gnp import Op, SigningKey

N_DELTAS = 10_000
N_WORKERS = 50


def main(label: str) -> None:
    workers = [f"w{i:02d}" for i in range(N_WORKERS)]
    keys = {
        w: SigningKey(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(w.encode()).digest()))
        for w in workers
    }
    rng = random.Random(1)
    encoded = []
    for i in range(N_DELTAS):
        w = rng.choice(workers)
        ops = [
            Op("append", "posts.json", "/log", {"worker": w, "n": i}),
            Op("add", "posts.json", f"/own/{w}/-", {"by": w, "n": i, "text": "hi"}),
            Op("incr", "posts.json", "/count", 1),
        ]
        stamp = gnp.Stamp("2026-12-04T00:00:00.000000Z", f"{i:032x}")
        encoded.append(keys[w].sign(gnp.compose(w, ops, frame=0, stamp=stamp)).encode())
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for data in encoded:
            gnp.decode(data)
        times.append(time.perf_counter() - t0)
    print(f"{label}: {statistics.median(times) / N_DELTAS * 1e6:.1f} µs/delta to decode")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "this checkout")
