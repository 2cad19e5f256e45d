"""The short chaos soak, in ``make test``: 18 frames of 8 workers with seeded
faults (workers that raise, are SIGKILLed or run twice at once; engines killed at each
step of a frame or racing; janitors killed; late submits; stale locks), every frame
checked against the independent model. ``make soak`` runs the long one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.soak.chaos import soak

SEED = int(os.environ.get("GNP_SOAK_SEED", "20261204"))
FRAMES = 18
WORKERS = 8


def test_chaos_soak_loses_nothing_doubles_nothing_leaves_nothing_and_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNP_WORKTREES", str(tmp_path / "worktrees"))
    said: list[str] = []
    tally = soak(SEED, FRAMES, WORKERS, tmp_path / "soak", say=said.append)
    shown = json.dumps(tally.to_json(), indent=1)
    assert tally.clean, f"seed {SEED}: {shown}\n" + "\n".join(said)
    assert (tally.lost, tally.doubled, tally.leftovers, tally.mismatches) == (0, 0, 0, 0)
    # The faults did happen (the seed is fixed, so the plan is; timing is not).
    for fault in ("worker raised", "worker SIGKILLed", "worker run twice at once", "late submit"):
        assert tally.faults[fault] > 0, (fault, shown)
    assert any(k.startswith("engine killed at ") for k in tally.faults), shown
    assert tally.outcomes["applied"] > 0 and tally.outcomes["fallback"] > 0, shown
