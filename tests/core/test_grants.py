"""Grants and the clock window, in the pure core: what a grant is, which files its globs
match, and which deltas the terms of a frame reject (gnp.core.grants, gnp.core.admit)."""

from __future__ import annotations

import glob
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from gnp import ABSENT, Op, compose, fallback
from gnp.core import canonical
from gnp.core.admit import Terms, check_clock, within
from gnp.core.delta import MAX_AUTHORITY, Delta, format_utc
from gnp.core.errors import Malformed, OffClock, OverGrant
from gnp.core.grants import NO_GRANT, Grant, Grants, check, matches, parse
from gnp.core.limits import DEFAULT_LIMITS, Limits
from gnp.core.settle import Arrival, settle
from gnp.core.signing import SigningKey
from gnp.core.verdict import Outcome
from tests.helpers.strategies import stamp, state_files

NOW = "2026-12-04T12:00:00.000000Z"
_NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def at(**offset: float) -> str:
    """The utc ``offset`` from :data:`NOW`."""
    return format_utc(_NOW + timedelta(**offset))


def delta(*ops: Op, worker: str = "alice", authority: int = 0, utc: str = NOW) -> Delta:
    return compose(worker, list(ops), frame=0, authority=authority, stamp=stamp(utc))


def incr(file: str = "stats.json") -> Op:
    return Op("incr", file, "/n", 1)


# What a grant is ----------------------------------------------------------------------


def test_a_worker_without_a_grant_has_authority_0_and_every_file() -> None:
    grants = Grants({"bob": Grant(3, ("posts/*.json",))})
    assert grants.of("alice") == NO_GRANT == Grant(0, ("**",))
    check(delta(incr("deep/down/any.json")), grants.of("alice"))
    with pytest.raises(OverGrant):
        check(delta(incr(), authority=1), grants.of("alice"))


def test_grants_round_trip_through_their_json() -> None:
    grants = Grants({"bob": Grant(3, ("posts/*.json", "agents.json")), "carol": Grant()})
    text = canonical.encode_pretty(grants.to_json())
    assert parse(canonical.decode(text)) == grants
    assert grants.to_json()["bob"] == {"authority": 3, "files": ["posts/*.json", "agents.json"]}
    assert parse({"dave": {}}).of("dave") == NO_GRANT  # missing fields: the defaults
    assert parse({"dave": {"files": []}}).of("dave").covers("a.json") is False


def test_regranting_replaces_the_whole_grant() -> None:
    first = Grants().replaced("bob", Grant(5, ("a.json",)))
    second = first.replaced("bob", Grant(1))
    assert second.of("bob") == Grant(1, ("**",)) and first.of("bob") == Grant(5, ("a.json",))


@pytest.mark.parametrize("authority", [0, 1, MAX_AUTHORITY])
def test_an_authority_within_the_delta_schemas_bounds_is_granted(authority: int) -> None:
    assert Grant(authority).authority == authority


@pytest.mark.parametrize("authority", [-1, MAX_AUTHORITY + 1, True, 1.0, "2", None])
def test_a_granted_authority_is_a_whole_number_from_0_to_the_most_a_delta_claims(
    authority: Any,
) -> None:
    with pytest.raises(Malformed, match="granted authority is a whole number"):
        Grant(authority)


@pytest.mark.parametrize(
    "pattern, why",
    [
        ("", "empty"),
        ("/stats.json", "absolute"),
        ("C:/x.json", "absolute"),
        ("a\\b.json", "backslash"),
        ("a/../b.json", "'..'"),
        ("a//b.json", "empty"),
        ("./a.json", "'.'"),
        (".gnp/*", "not state"),
        ("x/.GNP/keyring.json", "not state"),
        (".git/**", "not state"),
        ("a**b.json", "whole name"),
        ("posts/**.json", "whole name"),
        ("a\nb.json", "control character"),
        ("x" * 256, "longer than"),
    ],
)
def test_a_glob_must_be_a_relative_state_file_pattern(pattern: str, why: str) -> None:
    with pytest.raises(Malformed, match="refused") as refused:
        Grant(0, (pattern,))
    assert why in str(refused.value)


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "grants are a JSON object"),
        ({"Bad Id": {}}, "worker id"),
        ({"bob": 3}, "not a JSON object"),
        ({"bob": {"authority": 1, "role": "x"}}, "unknown field"),
        ({"bob": {"files": "a.json"}}, "list of globs"),
        ({"bob": {"files": [".gnp/x"]}}, "the grant of 'bob'"),
        ({"bob": {"authority": -1}}, "the grant of 'bob'"),
    ],
)
def test_damaged_grants_are_refused_with_what_is_wrong(data: Any, message: str) -> None:
    with pytest.raises(Malformed, match=message):
        parse(data)


# Globs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, file, matched",
    [
        ("stats.json", "stats.json", True),
        ("stats.json", "x/stats.json", False),
        ("*.json", "stats.json", True),
        ("*.json", "posts/a.json", False),  # '*' never crosses a '/'
        ("posts/*.json", "posts/a.json", True),
        ("posts/*.json", "posts/2026/a.json", False),
        ("posts/**", "posts/a.json", True),
        ("posts/**", "posts/2026/12/a.json", True),
        ("posts/**", "postsx/a.json", False),
        ("**/a.json", "a.json", True),  # '**' matches no folder too
        ("**/a.json", "x/y/a.json", True),
        ("x/**/a.json", "x/a.json", True),
        ("x/**/a.json", "x/y/z/a.json", True),
        ("x/**/a.json", "y/x/a.json", False),
        ("**", "anything/at/all.json", True),
        ("**/**", "a.json", True),
        ("agents-?.json", "agents-1.json", True),
        ("agents-?.json", "agents-12.json", False),
        ("[ab].json", "a.json", True),
        ("[!ab].json", "a.json", False),
        ("Stats.json", "stats.json", False),  # case matters, on every platform
        ("a[[]1].json", "a[1].json", True),
    ],
)
def test_globs_match_name_by_name(pattern: str, file: str, matched: bool) -> None:
    assert matches(pattern, file) is matched


@given(state_files, state_files)
def test_an_escaped_path_matches_itself_and_nothing_else(file: str, other: str) -> None:
    literal = glob.escape(file)
    assert matches(literal, file)
    assert matches(literal, other) is (other == file)


@given(state_files)
def test_star_stays_in_its_folder_and_double_star_crosses_them(file: str) -> None:
    assert matches("**", file)
    assert matches("*", file) is ("/" not in file)
    assert matches("*/*", file) is (file.count("/") == 1)
    assert matches("**/" + glob.escape(file.rsplit("/", 1)[-1]), file)


# A delta against its grant ---------------------------------------------------------------


def test_a_delta_may_claim_up_to_its_grants_authority_and_no_more() -> None:
    grant = Grant(2)
    check(delta(incr(), authority=2), grant)
    check(delta(incr(), authority=-5), grant)  # less is always allowed
    with pytest.raises(OverGrant, match="claims authority 3, but its grant allows at most 2"):
        check(delta(incr(), authority=3), grant)


def test_every_file_a_delta_names_must_be_in_its_grant() -> None:
    grant = Grant(0, ("posts/*.json",))
    check(delta(incr("posts/a.json"), incr("posts/b.json")), grant)
    with pytest.raises(OverGrant, match=r"may not write 'stats\.json'") as refused:
        check(delta(incr("posts/a.json"), incr("stats.json")), grant)
    assert refused.value.code == "over-grant"
    test = Op("test", "stats.json", "/n", 1)  # a test can make another delta lose
    with pytest.raises(OverGrant, match=r"'stats\.json'"):
        check(delta(test, incr("posts/a.json")), grant)


def test_a_fallback_keeps_any_grant() -> None:
    failed = fallback("alice", "it crashed", frame=0, stamp=stamp(NOW))
    check(failed, Grant(0, ()))


# The clock window ------------------------------------------------------------------------


def test_the_window_includes_its_bounds_and_nothing_beyond() -> None:
    limits = Limits(max_utc_behind=3600, max_utc_ahead=300)
    for inside in (at(seconds=0), at(seconds=-3600), at(seconds=300), at(days=0)):
        check_clock(inside, NOW, limits)
    with pytest.raises(OffClock, match="behind the engine's clock") as behind:
        check_clock(at(seconds=-3600, microseconds=-1), NOW, limits)
    assert behind.value.code == "clock"
    with pytest.raises(OffClock, match="ahead of the engine's clock"):
        check_clock(at(seconds=300, microseconds=1), NOW, limits)


def test_the_default_window_is_a_day_back_and_five_minutes_ahead() -> None:
    assert (DEFAULT_LIMITS.max_utc_behind, DEFAULT_LIMITS.max_utc_ahead) == (86_400, 300)
    check_clock(at(hours=-24), NOW)
    check_clock(at(minutes=5), NOW)
    with pytest.raises(OffClock, match="the 1 day, 0:00:00 the hub allows"):
        check_clock(at(hours=-24, microseconds=-1), NOW)
    with pytest.raises(OffClock, match=r"utc 0001-01-01T00:00:00\.000000Z is .* behind"):
        check_clock("0001-01-01T00:00:00.000000Z", NOW)
    with pytest.raises(OffClock, match="ahead"):
        check_clock("9999-12-31T23:59:59.999999Z", NOW)


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6), st.integers(1, 10**6))
def test_a_utc_is_admitted_exactly_when_it_lies_in_the_window(
    offset: int, behind: int, ahead: int
) -> None:
    limits = Limits(max_utc_behind=behind, max_utc_ahead=ahead)
    inside = -behind * 1_000_000 <= offset <= ahead * 1_000_000
    try:
        check_clock(at(microseconds=offset), NOW, limits)
    except OffClock:
        assert not inside
    else:
        assert inside


def test_a_window_of_any_size_is_a_number_not_an_overflow() -> None:
    huge = Limits(max_utc_behind=10**30, max_utc_ahead=10**30)
    check_clock("0001-01-01T00:00:00.000000Z", NOW, huge)
    with pytest.raises(OffClock, match="days"):
        check_clock("0001-01-01T00:00:00.000000Z", NOW, Limits(max_utc_behind=1))


def test_terms_hold_a_delta_to_its_grant_and_the_clock() -> None:
    terms = Terms(Grants({"alice": Grant(1, ("a.json",))}), NOW)
    within(delta(incr("a.json"), authority=1), terms)
    with pytest.raises(OverGrant):
        within(delta(incr("b.json")), terms)
    with pytest.raises(OffClock):
        within(delta(incr("a.json"), utc=at(days=-2)), terms)
    with pytest.raises(Malformed):
        Terms(Grants(), "yesterday")


# A frame's terms, as settle holds a frame to them ------------------------------------------


KEY = SigningKey(Ed25519PrivateKey.generate())


def arrival(d: Delta) -> Arrival:
    return Arrival(f"refs/gnp/inbox/{d.worker}/{d.id}", KEY.sign(d).encode())


def frame(*deltas: Delta, terms: Terms | None, ledger: tuple[str, ...] = ()) -> Any:
    keyring = {d.worker: KEY.public_key for d in deltas}
    base: Any = lambda f: ABSENT  # noqa: E731
    return settle(1, [arrival(d) for d in deltas], base, keyring, DEFAULT_LIMITS, ledger, terms)


def test_a_frame_rejects_what_breaks_its_terms_archives_it_and_applies_the_rest() -> None:
    honest = delta(incr("a.json"), worker="alice", authority=1)
    greedy = delta(incr("a.json"), worker="bob", authority=9)
    stray = delta(incr("b.json"), worker="alice", utc=at(seconds=1))
    late = delta(incr("a.json"), worker="carol", utc=at(days=-3))
    terms = Terms(Grants({"alice": Grant(1, ("a.json",))}), NOW)
    settled = frame(honest, greedy, stray, late, terms=terms)
    verdicts = {v.worker + ("" if v.delta != stray.id else "-stray"): v for v in settled.verdicts}
    assert verdicts["alice"].outcome is Outcome.APPLIED
    assert (verdicts["bob"].outcome, verdicts["bob"].code) == (Outcome.REJECTED, "over-grant")
    assert verdicts["alice-stray"].code == "over-grant"
    assert verdicts["carol"].code == "clock"
    changes = settled.changes()
    assert canonical.decode(changes["a.json"] or b"") == {"n": 1}
    assert "b.json" not in changes
    for rejected in (greedy, stray, late):  # archived whole, and settled in the ledger
        assert f".gnp/frames/000001/deltas/{rejected.worker}/{rejected.id}.json" in changes
        assert f".gnp/ledger/{rejected.id[:2]}/{rejected.id[2:]}" in changes
    assert [v.delta for v in settled.verdicts] == [
        d.id for d in sorted((honest, greedy, stray, late), key=lambda d: d.key)
    ]


def test_a_frame_held_to_no_terms_checks_neither_grant_nor_clock() -> None:
    """A frame merged before grants, as its replay settles it again."""
    greedy = delta(incr(), worker="bob", authority=9, utc="2001-01-01T00:00:00.000000Z")
    [verdict] = frame(greedy, terms=None).verdicts
    assert verdict.outcome is Outcome.APPLIED


def test_a_delta_already_settled_is_a_duplicate_whatever_its_grant_says_now() -> None:
    old = delta(incr(), worker="bob", authority=9, utc=at(days=-30))
    [verdict] = frame(old, terms=Terms(Grants(), NOW), ledger=(old.id,)).verdicts
    assert verdict.outcome is Outcome.DUPLICATE
