"""The public JSON Patch conformance vectors, run through gnp's operations.

Vectors: tests/conformance/json-patch-tests/ (Apache-2.0; see the README there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gnp import Op, Refused, Workspace, canonical

VECTORS = Path(__file__).parent / "conformance" / "json-patch-tests"
FILE = "doc.json"


def _records() -> list[Any]:
    params = []
    for name in ("tests.json", "spec_tests.json"):
        for i, record in enumerate(json.loads((VECTORS / name).read_text())):
            marks = [pytest.mark.skip(reason="disabled upstream")] if record.get("disabled") else []
            label = f"{name}:{i}:{record.get('comment', '')[:40]}"
            params.append(pytest.param(record, id=label, marks=marks))
    return params


RECORDS = _records()


def test_all_vectors_are_present() -> None:
    assert len(RECORDS) == 112
    enabled = [p for p in RECORDS if not p.marks]
    assert len(enabled) == 108


def apply_patch(doc: Any, patch: list[Any]) -> Any:
    workspace = Workspace(lambda _file: canonical.copy(doc))
    ops = [Op.from_json({**op, "file": FILE}, strict=False) for op in patch]
    workspace.apply(ops)
    return workspace.document(FILE)


@pytest.mark.parametrize("record", RECORDS)
def test_vector(record: dict[str, Any]) -> None:
    if "error" in record:
        with pytest.raises(Refused):
            apply_patch(record["doc"], record["patch"])
    else:
        result = apply_patch(record["doc"], record["patch"])
        expected = record.get("expected", record["doc"])
        assert canonical.equal(result, expected), (result, expected)
        assert result == expected
