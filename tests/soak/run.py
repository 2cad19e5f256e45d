"""``make soak``: the long chaos soak. ``python -m tests.soak.run --seed N --frames N
--workers N`` reproduces a run; the seed is printed at the start and at the end."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.soak.chaos import soak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the hub and keys after")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    root = Path(tempfile.mkdtemp(prefix="gnp-soak-"))
    os.environ["GNP_HOME"] = str(root / "home")  # keys and local repositories of its own
    os.environ["GNP_WORKTREES"] = str(root / "worktrees")
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"soak seed {seed}: {args.frames} frames x {args.workers} workers in {root}", flush=True)
    print(f"started {started}, load average {os.getloadavg()[0]:.2f}", flush=True)
    t0 = time.perf_counter()
    tally = soak(seed, args.frames, args.workers, root, say=lambda s: print(s, flush=True))
    print(json.dumps(tally.to_json(), indent=2))
    print(
        f"soak seed {seed}: {'clean' if tally.clean else 'PROBLEMS'} after "
        f"{time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.2f}; "
        f"reproduce: make soak SEED={seed} FRAMES={args.frames} WORKERS={args.workers}",
        flush=True,
    )
    if tally.clean and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(0 if tally.clean else 1)


if __name__ == "__main__":
    main()
