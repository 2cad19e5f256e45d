from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gnp import Op, compose, key, ordered
from gnp.core.delta import Delta
from gnp.core.order import priority
from tests.helpers.strategies import deltas, stamp

OP = Op("incr", "s.json", "/n", 1)


def d(worker: str, utc: str, frame: int = 0, authority: int = 0) -> Delta:
    return compose(
        worker, [OP], frame=frame, stamp=stamp(f"2026-11-29T00:00:{utc}Z"), authority=authority
    )


def test_order_is_frame_then_utc_then_worker_then_id() -> None:
    a = d("b", "00.000001", frame=0)
    b = d("a", "00.000002", frame=0)
    c = d("b", "00.000002", frame=0)
    e = d("a", "00.000000", frame=1)  # based on a later frame: after all of frame 0's
    assert ordered([e, c, b, a]) == [a, b, c, e]
    twins = [d("a", "00.000003"), d("a", "00.000003")]  # same worker, same microsecond
    assert [x.id for x in ordered(twins)] == sorted(x.id for x in twins)


def test_priority_is_authority_then_key() -> None:
    low_early, high_late = d("a", "00.000001", authority=0), d("b", "00.000009", authority=5)
    equal_late = d("c", "00.000009", authority=0)
    assert sorted([equal_late, low_early, high_late], key=priority) == [
        high_late,
        low_early,
        equal_late,
    ]


@given(st.lists(deltas(), max_size=8), st.randoms())
def test_order_never_depends_on_arrival(items: list[Delta], rnd: object) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert [key(x) for x in ordered(shuffled)] == sorted(key(x) for x in items)
