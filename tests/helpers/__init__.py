"""What tests share: hubs and deltas, the command line, other processes, waiting, the
Hypothesis strategies, and the suite's Prefect server. No test module imports another."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
