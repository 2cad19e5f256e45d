from __future__ import annotations

from typing import Any

from hypothesis import given

from gnp import ABSENT, Op, Workspace, canonical
from gnp.diff import declared, diff_file
from tests.strategies import documents

F = "s.json"


def test_declared_patterns_match_one_token_per_star() -> None:
    types = {"/agents/*/score": "counter", "/posts": "counter"}
    assert declared(types, ("agents", "a1", "score")) == "counter"
    assert declared(types, ("posts",)) == "counter"
    assert declared(types, ("agents", "a1")) is None
    assert declared(types, ("agents", "a", "b", "score")) is None


def test_a_declared_counter_becomes_incr_by_the_difference() -> None:
    assert diff_file(F, {"n": 5}, {"n": 7}, {"/n": "counter"}) == [Op("incr", F, "/n", 2)]


def test_a_declared_append_only_list_becomes_appends() -> None:
    got = diff_file(F, {"l": [1]}, {"l": [1, 2, {"x": 3}]}, {"/l": "append"})
    assert got == [Op("append", F, "/l", 2), Op("append", F, "/l", {"x": 3})]


def test_a_declared_set_becomes_union_unless_members_were_removed() -> None:
    assert diff_file(F, {"t": ["a"]}, {"t": ["a", "b"]}, {"/t": "set"}) == [
        Op("union", F, "/t", ["b"])
    ]
    removed = diff_file(F, {"t": ["a", "b"]}, {"t": ["b"]}, {"/t": "set"})
    assert [o.op for o in removed] == ["test", "replace"]


def test_undeclared_changes_are_guarded_by_a_test_of_the_old_value() -> None:
    got = diff_file(F, {"n": 5, "gone": 1, "same": 0}, {"n": 6, "new": 2, "same": 0}, {})
    assert [(o.op, o.path) for o in got] == [
        ("test", "/gone"),
        ("remove", "/gone"),
        ("test", "/n"),
        ("replace", "/n"),
        ("add", "/new"),
    ]
    assert got[2].value == 5


def test_whole_files_created_and_deleted() -> None:
    assert diff_file(F, ABSENT, {"a": 1}, {}) == [Op("add", F, "", {"a": 1})]
    assert diff_file(F, {"a": 1}, ABSENT, {}) == [Op("test", F, "", {"a": 1}), Op("remove", F, "")]
    assert diff_file(F, ABSENT, ABSENT, {}) == []


def test_a_type_change_is_not_hidden_by_json_equality() -> None:
    assert [o.op for o in diff_file(F, {"a": 1}, {"a": True}, {})] == ["test", "replace"]


@given(documents, documents)
def test_applying_the_diff_to_the_old_document_gives_the_new(old: Any, new: Any) -> None:
    workspace = Workspace(lambda f: canonical.copy(old))
    workspace.apply(diff_file(F, old, new, {}))
    assert canonical.encode(workspace.document(F)) == canonical.encode(new)
