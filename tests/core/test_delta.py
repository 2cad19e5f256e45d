from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gnp import Limits, Malformed, Op, TooLarge, canonical, compose, decode, fallback
from gnp.core.delta import Delta, Stamp, format_utc
from tests.helpers.strategies import deltas, stamp

UTC = "2026-11-29T01:54:45.123456Z"
NONCE = "0123456789abcdef0123456789abcdef"
INCR = Op("incr", "stats.json", "/count", 1)


def make(**kw: Any) -> Delta:
    utc, nonce = kw.pop("utc", UTC), kw.pop("nonce", NONCE)
    return compose("alice", [INCR], **{"frame": 0, "stamp": Stamp(utc, nonce), **kw})


@given(deltas(), st.binary(min_size=64, max_size=64))
def test_encode_is_the_canonical_encoding(delta: Delta, sig: bytes) -> None:
    import base64

    signed = delta.with_sig(base64.b64encode(sig).decode())
    for d in (delta, signed):
        assert d.encode() == canonical.encode(d.to_json())


@given(deltas())
def test_round_trip_is_exact_and_the_id_is_stable(delta: Delta) -> None:
    data = delta.encode()
    again = decode(data)
    assert again == delta
    assert again.id == delta.id
    assert again.encode() == data
    assert canonical.encode(canonical.decode(data)) == data  # the bytes are canonical


def test_the_id_is_the_sha256_of_the_body_without_the_signature() -> None:
    import hashlib

    delta = make()
    body = {k: v for k, v in json.loads(delta.encode()).items() if k != "sig"}
    assert delta.id == hashlib.sha256(canonical.encode(body)).hexdigest()
    assert delta.with_sig("A" * 86 + "==").id == delta.id


def test_identical_requests_are_two_deltas_the_same_delta_twice_is_one() -> None:
    # One worker asking for `incr /count 1` twice in the same microsecond: two deltas.
    first, second = (compose("w", [INCR], frame=0, stamp=stamp(UTC)) for _ in range(2))
    assert first.id != second.id
    # The same delta pushed twice: one id.
    assert decode(first.encode()).id == first.id


def test_key_orders_by_frame_utc_worker_id() -> None:
    delta = make()
    assert delta.key == (0, UTC, "alice", delta.id)


def test_every_field_is_in_the_id() -> None:
    base = make()
    variants = [
        make(author="someone"),
        make(authority=1),
        make(frame=1),
        make(utc="2026-11-29T01:54:45.123457Z"),
        make(nonce="f" * 32),
        compose("bob", [INCR], frame=0, stamp=Stamp(UTC, NONCE)),
        compose("alice", [Op("incr", "stats.json", "/count", 2)], frame=0, stamp=Stamp(UTC, NONCE)),
        fallback("alice", "boom", frame=0, stamp=Stamp(UTC, NONCE)),
    ]
    assert len({base.id, *(v.id for v in variants)}) == len(variants) + 1


def test_fallback_records_the_error_and_has_no_ops() -> None:
    delta = fallback("alice", "  exit status 3\n", frame=2, stamp=Stamp(UTC, NONCE))
    assert (delta.status, delta.error, delta.ops, delta.authority) == (
        "fallback",
        "exit status 3",
        (),
        0,
    )
    assert decode(delta.encode()) == delta
    assert fallback("a", "", frame=0, stamp=stamp()).error == "worker failed without a message"
    assert len(fallback("a", "x" * 10_000, frame=0, stamp=stamp()).error or "") == 4096


def test_a_fallbacks_error_is_inert_whatever_the_command_printed() -> None:
    printed = "exited 3: \x1b]0;pwned\x07\x1b[31mboom\x85\u2028done"
    error = fallback("a", printed, frame=0, stamp=stamp()).error or ""
    assert error == "exited 3: \\x1b]0;pwned\\x07\\x1b[31mboom\\x85\\u2028done"
    assert error.isprintable()
    assert fallback("a", "caf\u00e9 \u2713", frame=0, stamp=stamp()).error == "caf\u00e9 \u2713"


def test_compose_takes_ops_as_the_json_they_encode_to() -> None:
    delta = compose("w", [Op("add", "a.json", "/x", {"k": [1, 2]})], frame=0, stamp=stamp())
    assert delta.ops[0].value == {"k": [1, 2]}
    with pytest.raises(Malformed, match="not plain JSON"):
        compose("w", [Op("add", "a.json", "/x", (1, 2))], frame=0, stamp=stamp())


def _body(**changes: Any) -> bytes:
    data = make().to_json()
    data.update(changes)
    return canonical.encode({k: v for k, v in data.items() if v is not ...})


@pytest.mark.parametrize(
    "data, error, message",
    [
        (b"[]", Malformed, "a delta is a JSON object"),
        (b"{", Malformed, "not JSON"),
        (_body(extra=1), Malformed, "unknown field"),
        (_body(nonce=...), Malformed, "missing field.*nonce"),
        (_body(v=2), Malformed, "version 2 is not supported"),
        (_body(v=True), Malformed, "version True"),
        (_body(worker="Bad Worker"), Malformed, "worker id"),
        (_body(author=""), Malformed, "author must be a non-empty string"),
        (_body(authority=True), Malformed, "authority must be an integer"),
        (_body(authority=1.0), Malformed, "authority must be an integer"),
        (_body(authority=10**10), Malformed, "authority must be an integer within"),
        (_body(frame=-1), Malformed, "frame must be a non-negative integer"),
        (_body(utc="2026-11-29T01:54:45Z"), Malformed, "utc .* must look like"),
        (_body(utc="2026-02-30T01:54:45.000000Z"), Malformed, "not a real moment"),
        (_body(nonce="XYZ"), Malformed, "nonce must be 32 lowercase hex"),
        (_body(status="maybe"), Malformed, "status must be 'ok' or 'fallback'"),
        (_body(error="x"), Malformed, "an ok delta carries no error"),
        (_body(status="fallback"), Malformed, "must say what failed"),
        (_body(status="fallback", error="x"), Malformed, "a fallback delta has no operations"),
        (_body(ops={}), Malformed, "ops must be a JSON array"),
        (
            _body(ops=[{"op": "incr", "file": "../x.json", "path": "/a", "value": 1}]),
            Malformed,
            "'..' is not allowed",
        ),
        (
            _body(ops=[{"op": "incr", "file": ".gnp/keys.json", "path": "/a", "value": 1}]),
            Malformed,
            "belongs to the protocol",
        ),
        (_body(sig="not a signature"), Malformed, "sig must be the canonical base64"),
        (_body(sig="A" * 85 + "B=="), Malformed, "sig must be the canonical base64"),
    ],
)
def test_malformed_deltas_are_refused_with_a_reason(
    data: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        decode(data)


def test_limits_bound_size_ops_and_depth() -> None:
    big = compose("w", [INCR] * 20, frame=0, stamp=stamp())
    with pytest.raises(TooLarge, match="20 operations; the limit is 10"):
        decode(big.encode(), Limits(max_ops=10))
    with pytest.raises(TooLarge, match="bytes; the limit is 100"):
        decode(big.encode(), Limits(max_bytes=100))
    deep = compose("w", [Op("add", "a.json", "/x", [[[[[[1]]]]]])], frame=0, stamp=stamp())
    with pytest.raises(TooLarge, match="nests deeper than 5 levels"):
        decode(deep.encode(), Limits(max_depth=5))
    with pytest.raises(TooLarge, match="author is over 3 characters"):
        decode(make(author="abcd").encode(), Limits(max_author_length=3))


def test_format_utc_needs_an_aware_datetime() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="timezone-aware"):
        format_utc(datetime(2026, 1, 1))


def test_only_the_canonical_spelling_is_accepted() -> None:
    data = make().encode()
    assert decode(data) == make()
    for other in (
        data.replace(b'"value":1', b'"value":1e0'),
        data.replace(b'"value":1', b'"value":1.00'),
        data.replace(b'"frame":0', b'"frame": 0'),
        data + b"\n",
        data.replace(b'"worker":"alice"', b'"worker":"\\u0061lice"'),
    ):
        with pytest.raises(Malformed):
            decode(other)


_SNIPPETS = st.sampled_from(
    [b"", b",", b'"', b" ", b"NaN", b"-Infinity", b"1e0", b"1.0", b"{", b"}", b"[", b"]",
     b'\\ud800', b"\\u0061", b"\xff", b"\xc3\xa9", b'"a":1,', b'"v":1,', b'"op":"incr",',
     b'"sig":"' + b"A" * 86 + b'==",', b"9" * 5000]
)  # fmt: skip


@given(deltas(), st.data())
def test_decoding_refuses_what_the_strict_reading_does_with_its_reason(
    delta: Delta, data: st.DataObject
) -> None:
    """A delta is read the fast way first (json's own scanner, kept only if it re-encodes
    to its bytes): whatever the bytes, that gives what the strict reading gives, the
    same delta or the same refusal, duplicate keys, NaN and lone surrogates included."""
    from gnp.core.delta import decode_strictly

    raw = delta.with_sig("A" * 86 + "==").encode() if data.draw(st.booleans()) else delta.encode()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw)))
        j = data.draw(st.integers(i, min(len(raw), i + 12)))
        if data.draw(st.booleans()):  # a piece of the delta itself: repeats keys and members
            a = data.draw(st.integers(0, len(raw)))
            piece = raw[a : data.draw(st.integers(a, min(len(raw), a + 40)))]
        else:
            piece = data.draw(_SNIPPETS)
        raw = raw[:i] + piece + raw[j:]

    def outcome(read: Any) -> object:
        try:
            return read(raw)
        except Exception as exc:
            return type(exc), str(exc)

    assert outcome(decode) == outcome(decode_strictly)
