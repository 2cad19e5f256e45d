from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gnp import ABSENT, Op, Workspace, canonical, pointer
from gnp.core.diff import declared, diff_file, differing_paths
from tests.helpers.strategies import documents

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


def test_a_declared_path_created_merges_instead_of_adding() -> None:
    """A counter, list or set that did not exist is made by its merge operation, so two
    workers creating it both count; the rest of what is new is added after."""
    types = {"/posts": "counter", "/agents/*/seen": "append", "/tags": "set"}
    new = {"posts": 2, "title": "x", "agents": {"a": {"seen": [1], "name": "a"}}, "tags": ["t"]}
    assert diff_file(F, ABSENT, new, types) == [
        Op("append", F, "/agents/a/seen", 1),
        Op("incr", F, "/posts", 2),
        Op("union", F, "/tags", ["t"]),
        Op("add", F, "/agents/a/name", "a"),
        Op("add", F, "/title", "x"),
    ]
    assert diff_file(F, {"title": "x"}, {"title": "x", "posts": 1}, types) == [
        Op("incr", F, "/posts", 1)
    ]
    # Nothing declared within, or nothing a merge operation could make: added whole.
    assert diff_file(F, ABSENT, {"posts": "many"}, types) == [Op("add", F, "", {"posts": "many"})]
    assert diff_file(F, ABSENT, {"tags": ["t", "t"]}, types) == [
        Op("add", F, "", {"tags": ["t", "t"]})
    ]


def test_a_type_change_is_not_hidden_by_json_equality() -> None:
    assert [o.op for o in diff_file(F, {"a": 1}, {"a": True}, {})] == ["test", "replace"]


@given(documents, documents)
def test_applying_the_diff_to_the_old_document_gives_the_new(old: Any, new: Any) -> None:
    workspace = Workspace(lambda f: canonical.copy(old))
    workspace.apply(diff_file(F, old, new, {}))
    assert canonical.encode(workspace.document(F)) == canonical.encode(new)


TYPES = st.sampled_from(
    [{"/*": "counter"}, {"/*": "append"}, {"/*": "set"}, {"/*/*": "counter", "/*": "append"}]
)


@given(documents, documents, TYPES)
def test_what_is_created_under_declared_paths_is_created_exactly(
    old: Any, new: Any, types: dict[str, str]
) -> None:
    """A new file, or new keys in an object, come out as left, merge operations or not
    (a declared set keeps its members in JSON order, as every union does)."""
    if type(old) is dict and type(new) is dict:
        old = {k: v for k, v in old.items() if k not in new}  # only keys the diff adds
        new = {**old, **new}
    for before in (ABSENT, old):
        if before is ABSENT or type(before) is dict:
            workspace = Workspace(lambda f, b=before: canonical.copy(b))
            workspace.apply(diff_file(F, before, new, types))
            assert as_left(workspace.document(F), types) == as_left(new, types)


def as_left(document: Any, types: dict[str, str]) -> bytes:
    if types.get("/*") == "set" and type(document) is dict:
        document = {
            k: sorted(v, key=canonical.sort_key) if type(v) is list else v
            for k, v in document.items()
        }
    return canonical.encode(document)


def test_differing_paths_point_at_each_difference() -> None:
    old = {"a": {"b": 1, "c": [1, 2]}, "gone": True, "same": "x"}
    new = {"a": {"b": 2, "c": [1, 3]}, "new": None, "same": "x"}
    assert differing_paths(old, new) == ["/a/b", "/a/c/1", "/gone", "/new"]
    assert differing_paths([1, 2], [1, 2, 3]) == [""]  # a list that changed length
    assert differing_paths({"a~b/c": 1}, {"a~b/c": 2}) == ["/a~0b~1c"]
    assert differing_paths({"n": 1}, {"n": 1.0}) == []  # JSON equality: the same number


@given(documents, documents)
def test_differing_paths_are_empty_exactly_when_equal(old: Any, new: Any) -> None:
    paths = differing_paths(old, new)
    assert (paths == []) == canonical.equal(old, new)
    for path in paths:  # each names a place where the two really differ
        a, b = _at(old, path), _at(new, path)
        assert a is ABSENT or b is ABSENT or not canonical.equal(a, b)


def _at(doc: Any, path: str) -> Any:
    for token in pointer.parse(path):
        if isinstance(doc, dict):
            doc = doc.get(token, ABSENT)
        elif isinstance(doc, list) and token.isdigit() and int(token) < len(doc):
            doc = doc[int(token)]
        else:
            return ABSENT
    return doc


@given(
    st.lists(st.sampled_from([0, 1, 1.0, 2.5, "a", "b", True, None, [1], {"k": 1}]), max_size=8),
    st.lists(st.sampled_from([0, 1, 1.0, 2.5, "a", "c", False, None, [1], {"k": 2}]), max_size=8),
)
def test_a_declared_sets_diff_is_what_comparing_every_pair_gives(
    old: list[object], new: list[object]
) -> None:
    """Members are found by bisection, in n log n; the answer is the pairwise one."""
    ops = diff_file("s.json", {"s": old}, {"s": new}, {"/s": "set"})
    added = [m for m in new if not any(canonical.equal(m, o) for o in old)]
    removed = any(not any(canonical.equal(o, m) for m in new) for o in old)
    if removed:  # not a union: diffed as any list is
        assert ops == diff_file("s.json", {"s": old}, {"s": new}, {})
    elif added:
        assert [(op.op, op.value) for op in ops] == [("union", added)]
    else:
        assert ops == []
