from __future__ import annotations

import random
from collections.abc import Iterable
from itertools import count
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnp import (
    ABSENT,
    FrameResult,
    Op,
    Outcome,
    Workspace,
    canonical,
    compose,
    fallback,
    reduce,
)
from gnp.core import rounds
from gnp.core.conflicts import Place, footprints
from gnp.core.delta import Delta
from gnp.core.order import key
from gnp.core.pointer import is_prefix
from tests.helpers.strategies import FILES, additive_frames, deltas, documents, frames, stamp

_clock = count(1)


def d(worker: str, *ops: Op, authority: int = 0, frame: int = 0) -> Delta:
    """A delta whose utc increases with every call, so creation order is key order."""
    utc = f"2026-11-29T00:00:{next(_clock) % 60_000_000 / 1e6:09.6f}Z"
    return compose(worker, list(ops), frame=frame, authority=authority, stamp=stamp(utc))


def o(name: str, path: str, value: Any = None, file: str = "s.json", **kw: Any) -> Op:
    return Op(name, file, path, value, **kw)


def base(**docs: Any) -> Any:
    return lambda f: canonical.copy(docs.get(f.removesuffix(".json"), ABSENT))


def run(*deltas: Delta, ledger: Iterable[str] = (), **docs: Any) -> FrameResult:
    return reduce(1, deltas, base(**docs), set(ledger))


def outcomes(result: FrameResult) -> list[str]:
    return [v.outcome.value for v in result.verdicts]


# Scenarios -----------------------------------------------------------------------------


def test_additive_ops_of_different_workers_combine() -> None:
    frame = [d(f"w{i}", o("incr", "/posts", 1), o("append", "/log", i)) for i in range(5)]
    result = run(*frame, s={"posts": 10})
    assert outcomes(result) == ["applied"] * 5
    assert result.documents == {"s.json": {"posts": 15, "log": [0, 1, 2, 3, 4]}}


def test_append_order_is_the_composite_key_not_arrival() -> None:
    first, second = d("zed", o("append", "/log", "z")), d("amy", o("append", "/log", "a"))
    assert run(second, first).documents["s.json"] == {"log": ["z", "a"]}


def test_higher_authority_wins_a_conflict_and_the_loser_is_named() -> None:
    ban = d("moderator", o("replace", "/agents/42/status", "banned"), authority=1)
    verify = d("admin", o("replace", "/agents/42/status", "verified"), authority=2)
    result = run(ban, verify, s={"agents": {"42": {"status": "new"}}})
    assert result.documents["s.json"]["agents"]["42"]["status"] == "verified"
    lost = result.verdicts[0]
    assert (lost.delta, lost.outcome, lost.winner) == (ban.id, Outcome.CONFLICT, verify.id)
    assert "s.json:/agents/42/status" in (lost.reason or "")
    assert "higher authority" in (lost.reason or "")


def test_equal_authority_first_come_wins_and_is_still_recorded() -> None:
    early, late = d("a", o("replace", "/x", 1)), d("b", o("replace", "/x", 2))
    result = run(late, early, s={"x": 0})
    assert result.documents["s.json"] == {"x": 1}
    assert result.verdicts[1].winner == early.id
    assert "equal authority, and it came first" in (result.verdicts[1].reason or "")


def test_remove_a_vs_add_a_b_is_a_conflict() -> None:
    remove, add = d("a", o("remove", "/a")), d("b", o("add", "/a/b", 1))
    result = run(remove, add, s={"a": {}})
    assert outcomes(result) == ["applied", "conflict"]
    assert result.documents["s.json"] == {}


def test_the_losing_delta_loses_whole() -> None:
    winner = d("a", o("replace", "/x", 1), authority=1)
    loser = d("b", o("incr", "/count", 1), o("replace", "/x", 2))
    result = run(loser, winner, s={"x": 0})
    assert result.documents["s.json"] == {"x": 1}  # no count: the loser changed nothing


def test_additive_vs_replace_on_one_path_conflicts() -> None:
    result = run(d("a", o("incr", "/n", 1)), d("b", o("replace", "/n", 10)), s={"n": 0})
    assert outcomes(result) == ["applied", "conflict"]


def test_different_additive_kinds_on_one_path_conflict() -> None:
    result = run(d("a", o("incr", "/n", 1)), d("b", o("max", "/n", 10)), s={"n": 0})
    assert outcomes(result) == ["applied", "conflict"]


def test_distinct_keys_of_one_object_do_not_conflict() -> None:
    result = run(
        d("a", o("add", "/users/ann", 1)), d("b", o("add", "/users/bob", 2)), s={"users": {}}
    )
    assert result.documents["s.json"] == {"users": {"ann": 1, "bob": 2}}


def test_array_inserts_conflict_with_any_other_index() -> None:
    insert = d("a", o("add", "/list/0", "new"))
    edit = d("b", o("replace", "/list/2", "edited"))
    result = run(insert, edit, s={"list": ["x", "y", "z"]})
    assert outcomes(result) == ["applied", "conflict"]
    assert result.documents["s.json"] == {"list": ["new", "x", "y", "z"]}


def test_a_test_reading_what_another_writes_conflicts() -> None:
    result = run(
        d("a", o("replace", "/x", 1)), d("b", o("test", "/x", 0), o("incr", "/n", 1)), s={"x": 0}
    )
    assert outcomes(result) == ["applied", "conflict"]


def test_a_workers_own_deltas_apply_in_its_order() -> None:
    first, second = d("cron", o("replace", "/last", 1)), d("cron", o("replace", "/last", 2))
    result = run(second, first, s={"last": 0})
    assert outcomes(result) == ["applied", "applied"]
    assert result.documents["s.json"] == {"last": 2}


def test_lost_update_becomes_a_rejection_not_a_silent_overwrite() -> None:
    # Two edits by one worker made on the same base: the second one's test no longer holds.
    first = d("w", o("test", "/x", 1), o("replace", "/x", 2))
    second = d("w", o("test", "/x", 1), o("replace", "/x", 3))
    result = run(first, second, s={"x": 1})
    assert outcomes(result) == ["applied", "rejected"]
    assert result.verdicts[1].code == "lost-update"
    reason = result.verdicts[1].reason or ""
    assert reason.startswith("lost update refused: s.json:/x changed after frame 0")
    assert "expected 1, found 2" in reason
    assert result.documents["s.json"] == {"x": 2}
    # A test that guards nothing is a plain failed test.
    plain = d("w", o("test", "/x", 1))
    assert run(first, plain, s={"x": 1}).verdicts[1].code == "test-failed"


def test_a_failing_test_rejects_the_delta_and_changes_nothing() -> None:
    bad = d("a", o("incr", "/n", 5), o("test", "/flag", True))
    result = run(bad, d("b", o("incr", "/m", 1)), s={"flag": False})
    assert outcomes(result) == ["rejected", "applied"]
    assert result.verdicts[0].reason == "test s.json:/flag failed: expected true, found false"
    assert result.documents["s.json"] == {"flag": False, "m": 1}


def test_a_rejected_winner_does_not_cost_the_loser_its_place() -> None:
    strong = d("boss", o("test", "/x", 99), o("replace", "/x", 1), authority=9)
    weak = d("intern", o("replace", "/x", 2))
    result = run(strong, weak, s={"x": 0})
    assert outcomes(result) == ["rejected", "applied"]
    assert result.documents["s.json"] == {"x": 2}


def test_fallbacks_duplicates_and_stale_bases() -> None:
    applied = d("a", o("incr", "/n", 1))
    crashed = fallback("b", "exit status 1: boom", frame=0, stamp=stamp())
    future = d("c", o("incr", "/n", 1), frame=1)
    result = run(applied, crashed, applied, future, s={})
    by_id = {v.delta: v for v in result.verdicts}
    assert by_id[crashed.id].outcome is Outcome.FALLBACK
    assert by_id[crashed.id].reason == "exit status 1: boom"
    assert by_id[future.id].code == "stale-base"
    assert sorted(outcomes(result)) == ["applied", "duplicate", "fallback", "rejected"]
    assert result.documents == {"s.json": {"n": 1}}
    assert sorted(result.settled) == sorted([applied.id, crashed.id, future.id])


def test_only_touched_files_are_returned() -> None:
    result = run(
        d("a", o("incr", "/n", 1, file="a.json"), o("test", "/x", 1, file="b.json")),
        a={},
        b={"x": 1},
        c={},
    )
    assert result.documents == {"a.json": {"n": 1}}


def test_a_delta_can_delete_a_file() -> None:
    result = run(d("a", o("remove", "")), s={"x": 1})
    assert result.documents == {"s.json": ABSENT}


@pytest.mark.parametrize("n", [2, 50])
def test_a_hundred_thousand_increments_is_exact(n: int) -> None:
    frame = [d(f"w{i % n}", o("incr", "/count", 1)) for i in range(2000)]
    assert run(*frame, s={}).documents["s.json"] == {"count": 2000}


# Properties ------------------------------------------------------------------------------


def _reader(doc: Any) -> Any:
    return lambda f: canonical.copy(doc) if f == FILES[0] else ABSENT


def _snapshot(result: FrameResult) -> tuple[Any, ...]:
    docs = {
        f: canonical.encode(v) if v is not ABSENT else b"<absent>"
        for f, v in result.documents.items()
    }
    return (docs, [v.to_json() for v in result.verdicts])


@settings(max_examples=200)
@given(documents, frames, st.randoms())
def test_any_permutation_gives_byte_identical_results(
    doc: Any, frame: list[Delta], rnd: Any
) -> None:
    shuffled = list(frame)
    rnd.shuffle(shuffled)
    assert _snapshot(reduce(3, frame, _reader(doc))) == _snapshot(reduce(3, shuffled, _reader(doc)))


@given(documents, frames)
def test_every_delta_gets_exactly_one_verdict(doc: Any, frame: list[Delta]) -> None:
    result = reduce(3, frame + frame[:2], _reader(doc))
    assert sorted(v.delta for v in result.verdicts) == sorted(x.id for x in frame + frame[:2])


@given(additive_frames)
def test_additive_ops_commute_across_deltas(frame: list[Delta]) -> None:
    frame = list({x.id: x for x in frame}.values())  # no duplicates
    result = reduce(3, frame, lambda f: ABSENT)
    assert all(v.outcome is Outcome.APPLIED for v in result.verdicts)
    # The same deltas applied one by one in reverse order give the same documents, up to
    # the order of appended items (which the composite key fixes).
    backwards = Workspace(lambda f: ABSENT)
    for delta in sorted(frame, key=lambda x: x.key, reverse=True):
        backwards.apply(delta.ops)
    for file, document in result.documents.items():
        other = backwards.document(file)
        for kind in ("incr", "union", "max", "min"):
            assert canonical.equal(document.get(kind), other.get(kind))
        for path, items in document.get("append", {}).items():
            mine, theirs = (
                [canonical.encode(i) for i in x] for x in (items, other["append"][path])
            )
            assert sorted(mine) == sorted(theirs)


@given(documents, frames)
def test_a_frame_already_in_the_ledger_changes_nothing(doc: Any, frame: list[Delta]) -> None:
    result = reduce(3, frame, _reader(doc), {x.id for x in frame})
    assert result.documents == {}
    assert all(v.outcome is Outcome.DUPLICATE for v in result.verdicts)
    assert result.settled == []


@given(documents, frames, deltas())
def test_a_delta_with_a_failing_test_changes_nothing(
    doc: Any, frame: list[Delta], extra: Delta
) -> None:
    failing = compose(
        extra.worker,
        [*extra.ops, Op("test", "never.json", "", 1)],
        frame=0,
        authority=extra.authority,
        stamp=stamp(extra.utc),
    )
    without = reduce(3, frame, _reader(doc))
    with_it = reduce(3, [*frame, failing], _reader(doc))
    verdict = next(v for v in with_it.verdicts if v.delta == failing.id)
    assert verdict.outcome in (Outcome.REJECTED, Outcome.CONFLICT)
    assert _snapshot(with_it)[0] == _snapshot(without)[0]
    assert [f for f in _fates(with_it) if f[0] != failing.id] == _fates(without)


@settings(max_examples=200)
@given(documents, st.lists(deltas(), max_size=8, unique_by=lambda x: x.worker))
def test_removing_a_rejected_delta_changes_nothing_for_the_others(
    doc: Any, frame: list[Delta]
) -> None:
    """One delta per worker. With several, two of one worker that need each other can be
    left out for a winner that fails only in some frames (not doomed), and tried again
    one at a time, neither comes back: a known limit of rule 4 (gnp.core.rounds)."""
    result = reduce(3, frame, _reader(doc))
    for gone in [v.delta for v in result.verdicts if v.outcome is Outcome.REJECTED]:
        again = reduce(3, [x for x in frame if x.id != gone], _reader(doc))
        assert _snapshot(again)[0] == _snapshot(result)[0]
        assert _fates(again) == [f for f in _fates(result) if f[0] != gone]


def _fates(result: FrameResult) -> list[tuple[str, Outcome, str | None]]:
    return [(v.delta, v.outcome, v.winner) for v in result.verdicts]


def _naive_clash(a: Delta, b: Delta, doc: Any) -> bool:
    """An independent O(n^2) statement of the conflict rule, to check the index against."""
    if a.worker == b.worker:
        return False
    ws = Workspace(_reader(doc))

    def locate(file: str, tokens: tuple[str, ...]) -> Place:
        # Written out again, step by step, rather than through locate_in.
        node = ws.document(file)
        seen: list[str] = []
        missing = None if node is not ABSENT or not tokens else 0
        for t in tokens:
            if isinstance(node, list) and (t == "-" or (t.isdigit() and int(t) >= len(node))):
                t = "-"
            seen.append(t)
            if isinstance(node, dict) and t in node:
                node = node[t]
            elif isinstance(node, list) and t.isdigit():
                node = node[int(t)]
            elif node is not ABSENT:
                node = ABSENT
                if missing is None and len(seen) < len(tokens):
                    missing = len(seen)
        normal = tuple(seen)
        return Place(normal, missing, isinstance(node, list))

    for x in (fp for op in a.ops for fp in footprints(op, locate)):
        for y in (fp for op in b.ops for fp in footprints(op, locate)):
            if x.file != y.file or not (
                is_prefix(x.tokens, y.tokens) or is_prefix(y.tokens, x.tokens)
            ):
                continue
            if x.access == y.access == "read":
                continue
            if "ensure" in (x.access, y.access):
                other = y.access if x.access == "ensure" else x.access
                if other not in ("read", "write"):
                    continue
                return True
            if x.tokens == y.tokens and x.access == y.access != "write":
                continue
            return True
    return False


@settings(max_examples=200)
@given(documents, frames)
def test_every_conflict_is_reported(doc: Any, frame: list[Delta]) -> None:
    result = reduce(3, frame, _reader(doc))
    by_id = {x.id: x for x in frame}
    applied = [by_id[v.delta] for v in result.verdicts if v.outcome is Outcome.APPLIED]
    # No two applied deltas of different workers conflict ...
    for i, a in enumerate(applied):
        for b in applied[i + 1 :]:
            assert not _naive_clash(a, b, doc), (a, b)
    # ... and every loser names an applied winner that it really conflicts with.
    outcome = {v.delta: v.outcome for v in result.verdicts if v.outcome is not Outcome.DUPLICATE}
    for v in result.verdicts:
        if v.outcome is Outcome.CONFLICT:
            assert v.winner is not None and outcome[v.winner] is Outcome.APPLIED
            assert _naive_clash(by_id[v.delta], by_id[v.winner], doc)
            assert v.reason and v.winner[:12] in v.reason


def test_an_unreadable_base_file_rejects_only_the_deltas_that_touch_it() -> None:
    from gnp import Malformed

    def reader(file: str) -> Any:
        if file == "broken.json":
            raise Malformed("state file broken.json on main is not JSON: <<<<<<< HEAD")
        return {}

    touching = d("a", o("incr", "/n", 1, file="broken.json"))
    other = d("b", o("incr", "/n", 1))
    result = reduce(1, [touching, other], reader)
    assert outcomes(result) == ["rejected", "applied"]
    assert "<<<<<<< HEAD" in (result.verdicts[0].reason or "")
    assert result.documents == {"s.json": {"n": 1}}


def test_creating_a_parent_conflicts_with_an_add_beneath_it() -> None:
    # Whether bob's add finds /a depends on alice's incr creating it first: a conflict.
    result = run(d("alice", o("incr", "/a/b", 1)), d("bob", o("add", "/a/c", 1)), s={})
    assert outcomes(result) == ["applied", "conflict"]
    result = run(d("alice", o("incr", "/x", 1)), d("bob", o("add", "/y", 1)))  # no file yet
    assert outcomes(result) == ["applied", "conflict"]
    # Additive ops that create the same parents still combine.
    result = run(d("alice", o("incr", "/a/b", 1)), d("bob", o("incr", "/a/c", 1)))
    assert outcomes(result) == ["applied", "applied"]
    assert result.documents["s.json"] == {"a": {"b": 1, "c": 1}}


def test_no_verdict_describes_a_discarded_round() -> None:
    amy1 = d("amy", o("remove", ""))
    bob = d("bob", o("add", "", 0))
    amy2 = d("amy", o("remove", ""))
    result = run(amy1, bob, amy2)  # the file does not exist
    by_id = {v.delta: v for v in result.verdicts}
    assert by_id[amy1.id].outcome is Outcome.REJECTED
    assert by_id[bob.id].outcome is Outcome.APPLIED
    assert (by_id[amy2.id].outcome, by_id[amy2.id].winner) == (Outcome.CONFLICT, bob.id)


def test_a_winner_left_out_is_tried_again_once_the_frame_settles() -> None:
    """Found by test_a_delta_with_a_failing_test_changes_nothing. Round one: F (whose
    test never holds) loses to A (authority 1, add /a), and C (an incr that would create
    the file) loses to B (add /b). A and B both fail, the file being missing, and each
    had beaten someone, so both are left out and the frame decided again: F fails, C
    creates the file. A failed only for want of C: tried again once the frame settles,
    it applies, as it does in the same frame without F, and every other delta fares as
    it does without F."""
    utc, nonce = "2026-11-29T00:00:00.000000Z", "0" * 32

    def make(worker: str, authority: int, *ops: Op) -> Delta:
        return compose(worker, list(ops), frame=0, authority=authority, stamp=stamp(utc, nonce))

    agents = "dir/agents.json"
    others = [
        make("alice", 0, Op("incr", "stats.json", "/incr/a", 0)),
        make("dave", 0, Op("incr", agents, "/incr/a", 0)),
        make("dave", 1, Op("add", agents, "/a", None)),
        make("alice", 0, Op("incr", "stats.json", "/incr/a", 0), Op("add", agents, "/b", None)),
    ]
    failing = make(
        "alice",
        0,
        Op("incr", "stats.json", "/incr/a", 0),
        Op("incr", agents, "/incr/a", 0),
        Op("test", "never.json", "", 1),
    )
    without = reduce(3, others, _reader({}))
    with_it = reduce(3, [*others, failing], _reader({}))
    assert without.documents[agents] == {"a": None, "incr": {"a": 0}}
    assert with_it.documents == without.documents
    assert [v for v in with_it.verdicts if v.delta != failing.id] == list(without.verdicts)


def test_a_delta_left_out_is_judged_against_the_frame_as_it_stands() -> None:
    """Round one: boss beats admin at /y and mod beats intern at /x, and both winners'
    tests fail, so both are left out. Round two: admin applies and intern loses to it.
    Tried again, mod would now lose to admin, and that is its verdict."""
    boss = d("boss", o("test", "/y", 99), o("replace", "/y", 1), authority=3)
    admin = d("admin", o("replace", "/y", 2), o("replace", "/x", 2), authority=2)
    mod = d("mod", o("test", "/x", 99), o("replace", "/x", 3), authority=1)
    intern = d("intern", o("replace", "/x", 4))
    result = run(boss, admin, mod, intern, s={"x": 0, "y": 0})
    assert result.documents["s.json"] == {"x": 2, "y": 2}
    assert outcomes(result) == ["rejected", "applied", "conflict", "conflict"]
    assert result.verdicts[0].code == "lost-update"  # its test guards its replace
    assert result.verdicts[2].winner == result.verdicts[3].winner == admin.id


@settings(max_examples=300)
@given(documents, frames)
def test_a_delta_left_out_fares_as_a_try_would_find(doc: Any, frame: list[Delta]) -> None:
    """Most deltas left out are judged without trying them again (rounds._foregone):
    trying every one of them must give the same bytes and the same verdicts."""
    judged = reduce(3, frame, _reader(doc))
    with mock.patch.object(rounds, "_foregone", lambda *args: None):
        tried = reduce(3, frame, _reader(doc))
    assert _snapshot(judged) == _snapshot(tried)


def test_a_winner_that_fails_wherever_it_wins_is_left_out_as_if_it_never_came() -> None:
    """F beats Z, then fails. Z's worker has two more deltas, each needing the one
    before (D2 tests what Z wrote, D1 what D2 wrote), and each was beaten for want of
    it. Tried again one at a time, neither would apply; F is left out first, on its
    own, so the frame is decided as it is without F."""
    z = d("w", o("replace", "/t", 1), o("replace", "/s", 1))
    d2 = d("w", o("test", "/s", 1), o("replace", "/r", 1), o("replace", "/q", 1))
    d1 = d("w", o("test", "/r", 1), o("replace", "/p", 1), authority=2)
    x = d("x", o("replace", "/p", 2), o("replace", "/q", 2), authority=1)
    y = d("y", o("replace", "/q", 3))
    f = d("f", o("replace", "/t", 9), o("test", "/never", 1), authority=3)
    doc = {"t": 0, "s": 0, "r": 0, "q": 0, "p": 0}
    without = run(z, d2, d1, x, y, s=doc)
    with_f = run(z, d2, d1, x, y, f, s=doc)
    assert with_f.documents == without.documents == {"s.json": dict.fromkeys(doc, 1)}
    assert _fates(with_f)[:-1] == _fates(without)
    assert with_f.verdicts[-1].outcome is Outcome.REJECTED


def test_a_sum_that_overflows_alone_is_tried_again_not_judged() -> None:
    """D's incr overflows on the base, but not after E's: numbers are not judged from
    the base documents alone."""
    f = d("f", o("replace", "/m", 1), o("test", "/t", 5), authority=2)
    e = d("e", o("incr", "/n", -1e308), o("replace", "/m", 0))
    big = d("big", o("incr", "/n", 1e308), o("replace", "/x", 1), authority=1)
    low = d("low", o("replace", "/x", 2))
    result = run(f, e, big, low, s={"n": 1e308, "m": 0, "x": 0, "t": 0})
    assert outcomes(result) == ["rejected", "applied", "applied", "conflict"]
    assert result.documents["s.json"] == {"n": 1e308, "m": 0, "x": 1, "t": 0}


@settings(max_examples=200)
@given(documents, frames, st.randoms(use_true_random=False))
def test_a_doomed_delta_fails_wherever_it_wins(
    doc: Any, frame: list[Delta], rnd: random.Random
) -> None:
    """rounds._Doom's claim, checked directly: in rounds with random deltas left out,
    every doomed delta that wins fails, for the reason _Doom gives when it is certain."""
    base = _reader(doc)
    candidates = sorted({x.id: x for x in frame}.values(), key=key)
    workspace = Workspace(base)
    prints = {x.id: rounds._footprints(x, workspace) for x in candidates}
    doom = rounds._Doom(candidates, prints, Workspace(base))
    for _ in range(4):
        out = {x.id for x in candidates if rnd.random() < 0.3}
        round_ = rounds._round(candidates, prints, workspace, out)
        for x in candidates:
            if x.id in out or x.id in round_.losses or not doom.doomed(x.id):
                continue
            assert x.id in round_.failed
            certain = doom.verdict(x.id)
            assert certain is None or certain == round_.failed[x.id]
        round_.undo(workspace)
