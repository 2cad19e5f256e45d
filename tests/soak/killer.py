"""The engine and the janitor, each run in a process of its own that kills itself at a
chosen step: ``python -m tests.soak.killer engine HUB STEP N`` runs one frame as the
plain pipeline merges it (the engine, then the frame's lineage) and SIGKILLs itself
right after the Nth call of STEP returns; ``janitor HUB STEP N LOCK_AGE`` sweeps.
``STEP`` ``none`` kills nothing.

No fault hook is in gnp: the steps are gnp's own functions, wrapped here. A step that
is never reached N times kills nothing; the process says which step it died at on
stdout (``killed at STEP#N``) so that the soak counts the faults that happened.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

# step -> (module, attribute): the function whose return is the step. Dotted attributes
# are methods, patched on their class, so every caller sees them.
ENGINE_STEPS = {
    "snapshot": ("gnp.git.engine", "snapshot"),  # the boundary is read
    "arrivals": ("gnp.git.engine", "arrivals"),  # the deltas are taken
    "settle": ("gnp.git.engine", "settle_on"),  # settled, nothing written
    "blobs": ("gnp.git.trees", "edit"),  # blobs and trees written
    "commit": ("gnp.git.engine", "build_commit"),  # the commit made, main not moved
    "advance": ("gnp.git.hub", "Hub.advance_main"),  # main moved (or not), refs remain
    "remove": ("gnp.git.engine", "remove"),  # between ref removals
    "merged": ("__main__", "_merged"),  # frame merged, lineage not written (this module)
    "lineage": ("gnp.lineage.store", "write"),  # a lineage partition written
}
JANITOR_STEPS = {
    "records": ("gnp.process.owners", "read_all"),  # records read, nothing done yet
    "stop": ("gnp.process.proc", "stop_marked"),  # a dead owner's work stopped
    "fallback": ("gnp.git.inbox", "delta_commit"),  # a fallback made, not on the branch
    "push": ("gnp.git.local", "LocalRepo.push"),  # a dead worker's delta pushed
    "tree": ("gnp.process.worktree", "remove_tree"),  # a worktree's folder removed
    "owner": ("gnp.process.owners", "remove"),  # an ownership record removed
    "delete_ref": ("gnp.git.hub", "Hub.delete_ref"),  # an inbox ref removed
    "unlink": ("pathlib", "Path.unlink"),  # a stale lock (or anything) unlinked
}


def _die(step: str, n: int) -> None:
    print(f"killed at {step}#{n}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def arm(steps: dict[str, tuple[str, str]], step: str, n: int) -> None:
    """Make the Nth return of ``step`` the process's last moment."""
    if step == "none":
        return
    module_name, attribute = steps[step]
    module = importlib.import_module(module_name)
    owner: Any = module
    name = attribute
    if "." in attribute:
        cls, name = attribute.split(".", 1)
        owner = getattr(module, cls)
    original: Callable[..., Any] = getattr(owner, name)
    calls = [0]

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        calls[0] += 1
        if calls[0] == n:
            _die(step, n)
        return result

    setattr(owner, name, wrapped)
    # Names imported with ``from x import y`` are the caller's own: patch those too.
    for caller in ("gnp.git.engine", "gnp.process.janitor", "gnp.process.worktree"):
        other = importlib.import_module(caller)
        if "." not in attribute and getattr(other, name, None) is original:
            setattr(other, name, wrapped)


def _merged(report: Any) -> Any:
    return report


def engine(hub_path: str, step: str, n: int) -> None:
    from gnp.git.connect import open_hub
    from gnp.git.engine import run_frame
    from gnp.lineage.frames import record_lineage

    arm(ENGINE_STEPS, step, n)
    this = sys.modules[__name__]  # as run: __main__, where arm() wrapped _merged
    hub = open_hub(hub_path)
    report = this._merged(run_frame(hub))
    if report.frame is not None:
        record_lineage(hub, report.frame)
    print(f"frame {report.frame} deltas {len(report.verdicts)}", flush=True)


def janitor(hub_path: str, step: str, n: int, lock_age: float) -> None:
    from gnp.git.connect import open_hub
    from gnp.process.janitor import sweep

    arm(JANITOR_STEPS, step, n)
    report = sweep(open_hub(hub_path), lock_age=lock_age)
    print(
        f"removed {len(report.removed)} rescued {len(report.rescued)} "
        f"fallbacks {len(report.fallbacks)} kept {len(report.kept)}",
        flush=True,
    )


if __name__ == "__main__":
    role, hub_arg, step_arg, n_arg, *rest = sys.argv[1:]
    if role == "engine":
        engine(hub_arg, step_arg, int(n_arg))
    else:
        janitor(hub_arg, step_arg, int(n_arg), float(rest[0]))
