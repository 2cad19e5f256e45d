"""The core imports nothing but itself, the standard library's pure modules and
``cryptography`` (docs/design.md): an allow-list, beside import-linter's forbidden list
in `make lint`."""

from __future__ import annotations

import ast
from pathlib import Path

import gnp.core

CORE = Path(gnp.core.__file__).parent
PURE = frozenset(
    {
        "__future__",
        "base64",
        "bisect",
        "collections",
        "cryptography",
        "dataclasses",
        "datetime",  # dates are parsed and formatted; the clock is read by gnp.host.clock
        "enum",
        "fnmatch",  # grants' globs, name by name (fnmatchcase: no os.path, no files)
        "functools",
        "gc",  # a frame holds off the cyclic collector while it reduces
        "hashlib",
        "itertools",
        "json",
        "math",
        "re",
        "typing",
        "unicodedata",
    }
)


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_core_imports_only_pure_modules_and_itself() -> None:
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) > 15
    for path in modules:
        for name in imports(path):
            top = name.split(".")[0]
            inside = name == "gnp.core" or name.startswith("gnp.core.")
            assert inside or (top != "gnp" and top in PURE), f"{path.name} imports {name}"


def test_the_core_reads_no_clock_and_draws_no_randomness() -> None:
    for path in CORE.glob("*.py"):
        text = path.read_text()
        for call in ("datetime.now", ".utcnow(", "time.time", "secrets.", "random.", "uuid"):
            assert call not in text, f"{path.name} uses {call}"
