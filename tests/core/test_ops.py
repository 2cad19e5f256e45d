from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from gnp import BadFile, BadPointer, Malformed, Op
from gnp.core.ops import ADDITIVE, OPS, RFC6902, Kind
from tests.helpers.strategies import ops


def op(**data: Any) -> Op:
    return Op.from_json({"file": "stats.json", **data})


def test_the_table_has_both_families() -> None:
    assert set(OPS) == RFC6902 | ADDITIVE
    assert {"incr", "append", "union", "max", "min"} == ADDITIVE
    assert all(OPS[name].kind is Kind.ADDITIVE for name in ADDITIVE)


@given(ops)
def test_json_round_trip(o: Op) -> None:
    again = Op.from_json(o.to_json())
    assert again == o
    assert again.tokens == o.tokens


@pytest.mark.parametrize(
    "data, error, message",
    [
        ({"op": "frobnicate", "path": "/a"}, Malformed, "unknown op 'frobnicate'"),
        ({"path": "/a"}, Malformed, "unknown op None"),
        ({"op": "add", "path": "/a"}, Malformed, "needs a 'value'"),
        ({"op": "add", "value": 1}, Malformed, "needs a 'path'"),
        ({"op": "move", "path": "/a"}, Malformed, "needs a 'from'"),
        ({"op": "remove", "path": "/a", "value": 1}, Malformed, "takes no 'value'"),
        ({"op": "test", "path": "/a", "value": 1, "from": "/b"}, Malformed, "takes no 'from'"),
        ({"op": "add", "path": "/a", "value": 1, "extra": 1}, Malformed, "unknown member"),
        ({"op": "add", "path": "a", "value": 1}, BadPointer, "must be empty or start with"),
        ({"op": "add", "path": "/a~2", "value": 1}, BadPointer, "'~' not followed"),
        ({"op": "incr", "path": "/a", "value": True}, Malformed, "needs a number value, not a b"),
        ({"op": "incr", "path": "/a", "value": "1"}, Malformed, "needs a number value"),
        ({"op": "max", "path": "/a", "value": None}, Malformed, "needs a number value, not null"),
        ({"op": "union", "path": "/a", "value": "x"}, Malformed, "needs an array of members"),
        ({"op": "move", "path": "/a/b", "from": "/a"}, Malformed, "into its own child"),
    ],
)
def test_bad_operations_are_refused_with_a_reason(
    data: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        op(**data)


def test_file_is_required_and_checked() -> None:
    with pytest.raises(Malformed, match="needs a 'file'"):
        Op.from_json({"op": "add", "path": "/a", "value": 1})
    with pytest.raises(BadFile, match="belongs to the protocol"):
        Op.from_json({"op": "add", "file": ".gnp/ledger.json", "path": "", "value": 1})


def test_not_an_object() -> None:
    with pytest.raises(Malformed, match="is a JSON object, not an array"):
        Op.from_json([1])


def test_lenient_mode_ignores_what_rfc6902_says_to_ignore() -> None:
    o = Op.from_json(
        {"op": "remove", "file": "a.json", "path": "/x", "value": 1, "junk": 2}, strict=False
    )
    assert o.to_json() == {"op": "remove", "file": "a.json", "path": "/x"}


def test_move_onto_itself_is_allowed() -> None:
    assert op(op="move", path="/a", **{"from": "/a"}).tokens == ("a",)
