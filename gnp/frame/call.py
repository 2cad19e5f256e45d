"""Run a roster worker's Python callable, in a process of its own:
``python -m gnp.frame.call package.module:function``.

The harness starts this in the worker's worktree (the current directory), so a timeout
can stop the process however the callable blocks. The callable is given the worktree's
path and edits state files there; an exception ends the process with status 1 and its
last line becomes the reason recorded in the fallback delta.

The harness runs this file as a script (:func:`command`), with the standard library alone:
as ``-m gnp.frame.call`` it would first load ``gnp`` and its whole core, about 60 ms of
every worker's start that the callable may not need.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


def resolve(target: str) -> Callable[..., Any]:
    module_name, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target} is not callable")
    return obj  # type: ignore[no-any-return]


CALL_PATH = "GNP_CALL_PATH"  # where the frame's process imports from


def command(target: str) -> list[str]:
    """The process that calls ``target``: this file as a script, and ``-P`` so that its
    folder (gnp/frame/, whose module names are common ones) is not first on the path."""
    return [sys.executable, "-P", os.path.abspath(__file__), target]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m gnp.frame.call package.module:function", file=sys.stderr)
        return 2
    for entry in os.environ.get(CALL_PATH, "").split(os.pathsep):
        if entry and entry not in sys.path:
            sys.path.append(entry)  # after our own: nothing here shadows the stdlib
    try:
        resolve(argv[0])(Path.cwd())
    except Exception:
        traceback.print_exc()  # its last line, "Type: message", becomes the reason
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
