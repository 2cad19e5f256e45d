"""`python -m gnp.frame.call module:function`: a roster callable in a process of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gnp.frame.call import CALL_PATH, command, resolve


def call(target: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        command(target),  # as the harness starts it
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_the_callable_is_given_the_worktree_and_may_be_nested(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "agents.py").write_text(
        "class Team:\n"
        "    @staticmethod\n"
        "    def work(worktree):\n"
        "        (worktree / 'out.json').write_text('{\"ok\": true}')\n"
    )
    worktree = tmp_path / "wt"
    worktree.mkdir()
    done = call("agents:Team.work", worktree, **{CALL_PATH: str(lib)})
    assert done.returncode == 0, done.stderr
    assert (worktree / "out.json").read_text() == '{"ok": true}'


def test_an_exception_is_status_1_with_its_last_line_last(tmp_path: Path) -> None:
    (tmp_path / "boom.py").write_text("def go(wt):\n    raise ValueError('no model')\n")
    done = call("boom:go", tmp_path, **{CALL_PATH: str(tmp_path)})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "ValueError: no model"


def test_usage_and_bad_targets(tmp_path: Path) -> None:
    usage = subprocess.run([sys.executable, "-m", "gnp.frame.call"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    missing = call("no_such_module_here:go", tmp_path)
    assert missing.returncode == 1 and "ModuleNotFoundError" in missing.stderr
    with pytest.raises(TypeError, match="is not callable"):
        resolve("gnp.frame.call:CALL_PATH")


def test_the_callable_s_process_loads_no_gnp_and_names_are_not_shadowed(tmp_path: Path) -> None:
    """The process starts with the standard library alone, and gnp/frame/'s own module
    names (summary, workers...) are not on its path before the callable's."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "summary.py").write_text(
        "import sys\n"
        "def work(worktree):\n"
        "    print(sorted(m for m in sys.modules if m == 'gnp' or m.startswith('gnp.')))\n"
    )
    done = call("summary:work", tmp_path, **{CALL_PATH: str(lib)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
