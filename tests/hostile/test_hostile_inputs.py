"""Hostile input, case by case: what gnp refuses, and with what reason.

Every case is one hostile input with its expected verdict (outcome, the reason's code, a
fragment of the reason), and checks two things: that verdict, said inertly (no control
character in the reason), and that the honest deltas pushed into the same frame applied.
A category shares one hub and one frame of the plain engine (gnp.git.engine.run_frame, no
Prefect), built once by a module-scoped fixture; its hostile pushes go to the hub with the
``git`` binary, in one push of many refspecs, so that the hub's update hook judges them.

A case gnp gets wrong is marked with :func:`gap` (``xfail(strict=True)``, saying what is
wrong), so that it fails loudly once fixed; none is marked today. After each category's
frame, ``gnp verify`` must pass on its hub (tests/hostile/frames.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pygit2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gnp import canonical
from gnp.core.delta import format_utc
from gnp.core.layout import delta_path, ref_name
from gnp.core.signing import SigningKey
from gnp.core.verdict import Outcome
from gnp.git import registry
from gnp.git.engine import run_frame
from gnp.git.hub import Hub
from gnp.git.local import LocalRepo
from gnp.process import janitor, owners
from gnp.process.run import RunResult, run
from gnp_cli import relay
from gnp_cli.relay_server import Relay
from tests.helpers.hubs import incr, send
from tests.hostile.frames import (
    APPLIED,
    NO_ANSWER,
    PUSH_REFUSED,
    SWEPT,
    UNCHANGED,
    Expect,
    Forger,
    Frame,
    body,
    check,
    fake_id,
    frame,
    home,
    honest,
    inert,
    refused,
    registered,
    seed,
    set_limits,
    signed,
)

M = "mallory"  # a registered worker, up to no good


def cases(table: list[tuple[Any, ...]]) -> list[Any]:
    """pytest params of a table whose rows are (id, input, expected[, mark])."""
    return [pytest.param(*row[1:3], id=row[0], marks=row[3:]) for row in table]


def gap(reason: str) -> pytest.MarkDecorator:
    """A case gnp gets wrong today: it fails until the gap closes, then XPASSes loudly."""
    return pytest.mark.xfail(strict=True, reason=reason)


def ids(table: list[tuple[Any, ...]]) -> list[str]:
    found = [row[0] for row in table]
    assert len(found) == len(set(found)), "case ids are unique"
    return found


# 1. Malformed bytes and encoding tricks ------------------------------------------------
#
# Each row: how the pushed bytes are made from a valid delta of mallory's (its canonical
# text, signed), and the refusal. All are pushed in one frame, each under its own ref.

Good = tuple[bytes, str]  # (a valid signed delta's bytes, its text)


def text_swap(old: str, new: str) -> Callable[[Good], bytes]:
    def make(good: Good) -> bytes:
        assert old in good[1], old
        return good[1].replace(old, new, 1).encode()

    return make


def raw(data: bytes) -> Callable[[Good], bytes]:
    return lambda good: data


NOT_JSON = "not JSON"
CANONICAL = "not in canonical form"
ENCODING: list[tuple[str, Callable[[Good], bytes], Expect]] = [
    ("not-json-text", raw(b"hello, engine"), refused("malformed", NOT_JSON)),
    ("empty-file", raw(b""), refused("malformed", "not JSON: Expecting value")),
    ("only-whitespace", raw(b" \n\t"), refused("malformed", NOT_JSON)),
    ("utf8-bom", lambda g: b"\xef\xbb\xbf" + g[0], refused("malformed", NOT_JSON)),
    ("utf16-le-with-bom", lambda g: g[1].encode("utf-16"), refused("malformed", "not UTF-8")),
    ("utf16-le-no-bom", lambda g: g[1].encode("utf-16-le"), refused("malformed", NOT_JSON)),
    ("utf16-be", lambda g: g[1].encode("utf-16-be"), refused("malformed", NOT_JSON)),
    ("utf32", lambda g: g[1].encode("utf-32"), refused("malformed", "not UTF-8")),
    (
        "lone-high-surrogate",
        text_swap('"author":"mallory"', '"author":"m\\ud800"'),
        refused("malformed", "lone UTF-16 surrogate"),
    ),
    (
        "lone-low-surrogate",
        text_swap('"author":"mallory"', '"author":"\\udc00m"'),
        refused("malformed", "lone UTF-16 surrogate"),
    ),
    (
        "surrogate-in-file-name",
        text_swap('"file":"x.json"', '"file":"\\ud800.json"'),
        refused("malformed", "lone UTF-16 surrogate"),
    ),
    (
        "surrogate-pair-escaped",
        text_swap('"author":"mallory"', '"author":"\\ud83d\\ude00"'),
        refused("malformed", CANONICAL),
    ),
    (
        "raw-nul-in-string",
        lambda g: g[0].replace(b'"author":"mallory"', b'"author":"m\x00"'),
        refused("malformed", "Invalid control character"),
    ),
    ("raw-nul-after-object", lambda g: g[0] + b"\x00", refused("malformed", "Extra data")),
    (
        "escaped-nul-in-file",
        text_swap('"file":"x.json"', '"file":"x\\u0000.json"'),
        refused("bad-file", "contains NUL"),
    ),
    (
        "duplicate-top-level-key",
        text_swap('"author":"mallory"', '"author":"mallory","author":"alice"'),
        refused("malformed", "duplicate key 'author'"),
    ),
    (
        "duplicate-op-member",
        text_swap('"op":"incr"', '"op":"incr","op":"remove"'),
        refused("malformed", "duplicate key 'op'"),
    ),
    (
        "duplicate-worker-key",
        text_swap('"worker":"mallory"', '"worker":"alice","worker":"mallory"'),
        refused("malformed", "duplicate key 'worker'"),
    ),
    (
        "huge-number-1e400",
        text_swap('"value":1', '"value":1e400'),
        refused("malformed", "incr at '/n' needs a number value"),
    ),
    (
        "huge-negative-number",
        text_swap('"value":1', '"value":-1e400'),
        refused("malformed", "needs a number value"),
    ),
    (
        "negative-zero-int",
        text_swap('"authority":0', '"authority":-0'),
        refused("malformed", CANONICAL),
    ),
    ("nan-literal", text_swap('"value":1', '"value":NaN'), refused("malformed", "NaN is not JSON")),
    (
        "infinity-literal",
        text_swap('"value":1', '"value":Infinity'),
        refused("malformed", "Infinity is not JSON"),
    ),
    (
        "minus-infinity-literal",
        text_swap('"value":1', '"value":-Infinity'),
        refused("malformed", "-Infinity is not JSON"),
    ),
    (
        "integer-of-5000-digits",
        text_swap('"value":1', '"value":' + "9" * 5000),
        refused("malformed", "not usable JSON"),
    ),
    (
        "deep-nesting-100k",
        raw(b"[" * 100_000 + b"]" * 100_000),
        refused("malformed", "nested too deeply"),
    ),
    (
        "deep-value-70-levels",
        text_swap('"value":1', '"value":' + "[" * 70 + "]" * 70),
        refused("malformed", "needs a number value"),
    ),
    ("overlong-utf8-slash", raw(b'{"a":"\xc0\xaf"}'), refused("malformed", "not UTF-8 at byte 6")),
    (
        "overlong-utf8-in-author",
        lambda g: g[0].replace(b'"author":"mallory"', b'"author":"\xe0\x80\xafm"'),
        refused("malformed", "not UTF-8"),
    ),
    (
        "cesu-surrogate-bytes",
        lambda g: g[0].replace(b'"author":"mallory"', b'"author":"\xed\xa0\x80"'),
        refused("malformed", "not UTF-8"),
    ),
    (
        "latin1-byte",
        lambda g: g[0].replace(b"mallory", b"mall\xf6ry", 1),
        refused("malformed", "not UTF-8"),
    ),
    ("trailing-garbage", lambda g: g[0] + b"garbage", refused("malformed", "Extra data")),
    ("two-deltas-concatenated", lambda g: g[0] + g[0], refused("malformed", "Extra data")),
    ("trailing-newline", lambda g: g[0] + b"\n", refused("malformed", CANONICAL)),
    ("leading-space", lambda g: b" " + g[0], refused("malformed", CANONICAL)),
    ("block-comment", lambda g: b"/* hi */" + g[0], refused("malformed", NOT_JSON)),
    ("line-comment", lambda g: b"// hi\n" + g[0], refused("malformed", NOT_JSON)),
    (
        "comment-inside",
        text_swap('"v":1', '"v":1/* one */'),
        refused("malformed", NOT_JSON),
    ),
    ("single-quotes", lambda g: g[0].replace(b'"', b"'"), refused("malformed", NOT_JSON)),
    ("trailing-comma", text_swap('"v":1', '"v":1,'), refused("malformed", NOT_JSON)),
    ("top-level-array", raw(b"[]"), refused("malformed", "a delta is a JSON object")),
    ("top-level-string", raw(b'"delta"'), refused("malformed", "a delta is a JSON object")),
    ("top-level-null", raw(b"null"), refused("malformed", "a delta is a JSON object")),
    (
        "pretty-printed",
        lambda g: json.dumps(json.loads(g[1]), indent=2, sort_keys=True).encode(),
        refused("malformed", CANONICAL),
    ),
    (
        "keys-unsorted",
        lambda g: ('{"v":1,' + g[1][1:].replace(',"v":1', "", 1)).encode(),
        refused("malformed", CANONICAL),
    ),
    ("escaped-slash", text_swap('"path":"/n"', '"path":"\\/n"'), refused("malformed", CANONICAL)),
    (
        "escaped-ascii-letter",
        text_swap('"author":"mallory"', '"author":"\\u006dallory"'),
        refused("malformed", CANONICAL),
    ),
    ("float-spelled-long", text_swap('"value":1', '"value":1.50'), refused("malformed", CANONICAL)),
    ("exponent-number", text_swap('"value":1', '"value":1e0'), refused("malformed", CANONICAL)),
    (
        "over-max-bytes",
        lambda g: g[0][:-1] + b"," + b" " * (1 << 20) + b"}",
        refused("too-large", "the limit is 1048576"),
    ),
    (
        "bytes-not-text",
        raw(bytes(range(256))),
        refused("malformed", "not UTF-8 at byte 128"),
    ),
]


@pytest.fixture(scope="module")
def encoding_frame(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Frame, dict]]:
    tmp = tmp_path_factory.mktemp("encoding")
    with home(tmp):
        hub = Hub.init(tmp / "hub.git")
        key = registered(hub, M, "alice", "bob")[M]
        forger = Forger(hub, tmp / "forger.git")
        sources = {}
        for name, make, *_ in ENCODING:
            _, data = signed(key, body(M, case=name))
            good = (data, data.decode())
            assert canonical.decode(data)  # the base of every variant is a sound delta
            sources[name] = forger.file(M, fake_id(name), make(good))
        pushed = forger.push()
        yield frame(hub, pushed), sources


@pytest.mark.parametrize(("make", "expect"), cases(ENCODING), ids=ids(ENCODING))
def test_malformed_bytes_are_refused(
    encoding_frame: tuple[Frame, dict], request: pytest.FixtureRequest, make: Any, expect: Expect
) -> None:
    done, sources = encoding_frame
    check(done, sources[request.node.callspec.id], expect)


# 2. Schema: canonical, signed JSON that is not a delta ----------------------------------
#
# Each row: the fields of mallory's delta body that differ from a valid one (``...``
# leaves a field out), signed with mallory's real key, so the shape alone refuses it.


def op(name: str = "incr", file: str = "x.json", path: str = "/n", **members: Any) -> dict:
    out = {"op": name, "file": file, "path": path, **members}
    if name in ("incr", "max", "min") and "value" not in members:
        out["value"] = 1
    return {k: v for k, v in out.items() if v is not ...}


def _nest(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


MISSING = "delta is missing field(s): "
SCHEMA: list[tuple[str, dict[str, Any], Expect]] = [
    *(
        (f"missing-{f}", {f: ...}, refused("malformed", MISSING + f))
        for f in (
            "v",
            "worker",
            "author",
            "authority",
            "frame",
            "utc",
            "nonce",
            "status",
            "error",
            "ops",
        )
    ),
    ("extra-field", {"admin": True}, refused("malformed", "unknown field(s): admin")),
    (
        "extra-field-grant",
        {"grant": {"authority": 9}},
        refused("malformed", "unknown field(s): grant"),
    ),
    ("version-2", {"v": 2}, refused("malformed", "delta version 2 is not supported")),
    ("version-string", {"v": "1"}, refused("malformed", "delta version '1' is not supported")),
    ("version-true", {"v": True}, refused("malformed", "delta version True is not supported")),
    ("version-float", {"v": 1.5}, refused("malformed", "is not supported")),
    ("worker-number", {"worker": 7}, refused("malformed", "worker id 7 is invalid")),
    (
        "worker-uppercase",
        {"worker": "Mallory"},
        refused("malformed", "worker id 'Mallory' is invalid"),
    ),
    ("worker-slash", {"worker": "mallory/x"}, refused("malformed", "is invalid")),
    ("worker-dotdot", {"worker": "a..b"}, refused("malformed", "without '..'")),
    ("worker-lock", {"worker": "m.lock"}, refused("malformed", "'.lock'")),
    ("worker-65-chars", {"worker": "m" * 65}, refused("malformed", "1-64 characters")),
    ("author-empty", {"author": ""}, refused("malformed", "author must be a non-empty string")),
    ("author-number", {"author": 5}, refused("malformed", "author must be a non-empty string")),
    ("author-257-chars", {"author": "a" * 257}, refused("too-large", "author is over 256")),
    ("authority-string", {"authority": "9"}, refused("malformed", "authority must be an integer")),
    ("authority-true", {"authority": True}, refused("malformed", "authority must be an integer")),
    ("authority-float", {"authority": 1.5}, refused("malformed", "authority must be an integer")),
    ("authority-huge", {"authority": 10**9 + 1}, refused("malformed", "within +/-1000000000")),
    ("authority-huge-negative", {"authority": -(10**12)}, refused("malformed", "within +/-")),
    ("frame-negative", {"frame": -1}, refused("malformed", "frame must be a non-negative integer")),
    ("frame-float", {"frame": 1.0}, refused("malformed", "frame must be a non-negative integer")),
    ("frame-null", {"frame": None}, refused("malformed", "frame must be a non-negative integer")),
    ("utc-no-micros", {"utc": "2026-12-04T12:00:00Z"}, refused("malformed", "must look like")),
    (
        "utc-local-offset",
        {"utc": "2026-12-04T12:00:00.000000+01:00"},
        refused("malformed", "must look like"),
    ),
    (
        "utc-not-a-moment",
        {"utc": "2026-02-30T12:00:00.000000Z"},
        refused("malformed", "is not a real moment"),
    ),
    (
        "utc-hour-25",
        {"utc": "2026-12-04T25:00:00.000000Z"},
        refused("malformed", "is not a real moment"),
    ),
    ("utc-number", {"utc": 1764849600}, refused("malformed", "must look like")),
    (
        "nonce-uppercase",
        {"nonce": "A" * 32},
        refused("malformed", "nonce must be 32 lowercase hex"),
    ),
    ("nonce-short", {"nonce": "ab"}, refused("malformed", "nonce must be 32 lowercase hex")),
    ("nonce-number", {"nonce": 12}, refused("malformed", "nonce must be 32 lowercase hex")),
    (
        "status-unknown",
        {"status": "admin"},
        refused("malformed", "status must be 'ok' or 'fallback'"),
    ),
    ("ok-with-error", {"error": "boom"}, refused("malformed", "an ok delta carries no error")),
    (
        "fallback-no-error",
        {"status": "fallback", "ops": []},
        refused("malformed", "must say what failed"),
    ),
    (
        "fallback-with-ops",
        {"status": "fallback", "error": "x"},
        refused("malformed", "has no operations"),
    ),
    (
        "fallback-error-with-terminal-escape",
        {"status": "fallback", "error": "\x1b]0;pwned\x07boom", "ops": []},
        Expect(Outcome.FALLBACK.value, None, "boom"),
    ),
    (
        "author-with-terminal-escape",
        {"author": "\x1b[2J\x1b[31mroot", "ops": [op(file="author.json")]},
        APPLIED,
    ),
    (
        "fallback-error-4097",
        {"status": "fallback", "error": "e" * 4097, "ops": []},
        refused("too-large", "error text is over 4096"),
    ),
    ("ops-object", {"ops": {"op": "incr"}}, refused("malformed", "ops must be a JSON array")),
    ("ops-string", {"ops": "incr"}, refused("malformed", "ops must be a JSON array")),
    (
        "op-not-object",
        {"ops": [["incr"]]},
        refused("malformed", "an operation is a JSON object, not an array"),
    ),
    ("op-unknown", {"ops": [op("exec")]}, refused("malformed", "unknown op 'exec'")),
    ("op-name-number", {"ops": [op(1)]}, refused("malformed", "unknown op 1")),  # type: ignore[arg-type]
    ("op-missing-path", {"ops": [op(path=...)]}, refused("malformed", "incr needs a 'path'")),
    ("op-missing-file", {"ops": [op(file=...)]}, refused("malformed", "needs a 'file'")),
    (
        "op-missing-value",
        {"ops": [op("add", value=...)]},
        refused("malformed", "add at '/n' needs a 'value'"),
    ),
    ("op-extra-member", {"ops": [op(sudo=True)]}, refused("malformed", "unknown member(s): sudo")),
    (
        "remove-with-value",
        {"ops": [op("remove", value=1)]},
        refused("malformed", "remove takes no 'value'"),
    ),
    (
        "add-with-from",
        {"ops": [op("add", value=1, **{"from": "/a"})]},
        refused("malformed", "add takes no 'from'"),
    ),
    ("move-without-from", {"ops": [op("move")]}, refused("malformed", "needs a 'from' pointer")),
    (
        "move-into-own-child",
        {"ops": [op("move", path="/a/b", **{"from": "/a"})]},
        refused("malformed", "into its own child"),
    ),
    (
        "incr-string",
        {"ops": [op(value="1")]},
        refused("malformed", "needs a number value, not a string"),
    ),
    (
        "incr-boolean",
        {"ops": [op(value=True)]},
        refused("malformed", "needs a number value, not a boolean"),
    ),
    (
        "incr-null",
        {"ops": [op(value=None)]},
        refused("malformed", "needs a number value, not null"),
    ),
    (
        "max-object",
        {"ops": [op("max", value={"n": 1})]},
        refused("malformed", "needs a number value, not an object"),
    ),
    (
        "union-not-array",
        {"ops": [op("union", value=1)]},
        refused("malformed", "needs an array of members"),
    ),
    (
        "op-count-1001",
        {"ops": [op()] * 1001},
        refused("too-large", "1001 operations; the limit is 1000"),
    ),
    ("sig-not-base64", {"sig": "!" * 86 + "=="}, refused("malformed", "canonical base64")),
    ("sig-number", {"sig": 5}, refused("malformed", "canonical base64")),
    ("sig-short", {"sig": "AAAA"}, refused("malformed", "canonical base64")),
    (
        "incr-int-13001-bits",
        {"ops": [op(value=2**13001)]},
        refused("too-large", "wider than 13000 bits"),
    ),
    (
        "incr-int-negative-13001-bits",
        {"ops": [op(value=-(2**13001))]},
        refused("too-large", "wider than 13000 bits"),
    ),
    (
        "depth-over-64",
        {"ops": [op("add", value=_nest(62))]},
        refused("too-large", "nests deeper than 64"),
    ),
    # Pointers
    (
        "pointer-no-slash",
        {"ops": [op(path="n")]},
        refused("bad-pointer", "must be empty or start with '/'"),
    ),
    (
        "pointer-tilde-2",
        {"ops": [op(path="/a~2b")]},
        refused("bad-pointer", "'~' not followed by 0 or 1"),
    ),
    (
        "pointer-lone-tilde",
        {"ops": [op(path="/~")]},
        refused("bad-pointer", "'~' not followed by 0 or 1"),
    ),
    (
        "pointer-number",
        {"ops": [op(path=5)]},
        refused("bad-pointer", "a JSON Pointer is a string, not int"),
    ),
    (
        "pointer-null",
        {"ops": [op(path=None)]},
        refused("bad-pointer", "a JSON Pointer is a string, not NoneType"),
    ),
    (
        "from-pointer-bad",
        {"ops": [op("copy", **{"from": "a"})]},
        refused("bad-pointer", "must be empty or start with '/'"),
    ),
    (
        "from-pointer-tilde",
        {"ops": [op("move", path="/b", **{"from": "/~3"})]},
        refused("bad-pointer", "'~' not followed"),
    ),
    (
        "pointer-65-levels",
        {"ops": [op(path="/a" * 65)]},
        refused("too-large", "deeper than 64 levels"),
    ),
    ("pointer-ansi-escape", {"ops": [op(file="ctl.json", path="/\x1b[31m")]}, APPLIED),
    (
        "pointer-ansi-escape-in-a-reason",
        {"ops": [op("remove", file="gone.json", path="/\x1b]0;pwned\x07")]},
        refused("op-failed", "the file does not exist"),
    ),
    (
        "pointer-newline-in-a-reason",
        {"ops": [op("test", file="gone.json", path="/a\nb", value=1)]},
        refused("op-failed", "the file does not exist"),
    ),
]


@pytest.fixture(scope="module")
def schema_frame(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Frame, dict]]:
    tmp = tmp_path_factory.mktemp("schema")
    with home(tmp):
        hub = Hub.init(tmp / "hub.git")
        key = registered(hub, M, "alice", "bob")[M]
        forger = Forger(hub, tmp / "forger.git")
        sources = {}
        for name, fields, *_ in SCHEMA:
            delta_id, data = signed(key, body(M, case=name, **fields))
            sources[name] = forger.file(M, delta_id, data)
        yield frame(hub, forger.push()), sources


@pytest.mark.parametrize(("fields", "expect"), cases(SCHEMA), ids=ids(SCHEMA))
def test_deltas_of_the_wrong_shape_are_refused(
    schema_frame: tuple[Frame, dict], request: pytest.FixtureRequest, fields: Any, expect: Expect
) -> None:
    done, sources = schema_frame
    check(done, sources[request.node.callspec.id], expect)


# 2b. Grants and the clock --------------------------------------------------------------
#
# The owner grants mallory authority 1 over x.json and g/*.json; whatever a delta claims
# beyond that, or a utc outside the window around the engine's clock (24 hours back, 5
# minutes ahead by default), is rejected by the engine: these go in with plain git, past
# any check of gnp submit's.


def _utc(delta: timedelta) -> str:
    return format_utc(datetime.now(UTC) + delta)


GRANTED: list[tuple[str, dict[str, Any], Expect]] = [
    ("authority-at-its-grant", {"authority": 1}, APPLIED),
    ("authority-over-its-grant", {"authority": 2}, refused("over-grant", "at most 1")),
    ("authority-far-over-its-grant", {"authority": 10**9}, refused("over-grant", "at most 1")),
    ("authority-below-zero", {"authority": -7}, APPLIED),
    (
        "file-outside-its-grant",
        {"ops": [op(file="y.json")]},
        refused("over-grant", "may not write 'y.json'"),
    ),
    (
        "file-in-a-subfolder-the-glob-does-not-cross",
        {"ops": [op(file="g/deep/x.json")]},
        refused("over-grant", "may not write 'g/deep/x.json'"),
    ),
    ("file-the-glob-matches", {"ops": [op(file="g/a.json")]}, APPLIED),
    (
        "test-of-a-file-outside-its-grant",
        {"ops": [op("test", file="y.json", path="/n", value=1), op()]},
        refused("over-grant", "may not write 'y.json'"),
    ),
    (
        "second-op-outside-its-grant",
        {"ops": [op(), op(file="keys.json")]},
        refused("over-grant", "may not write 'keys.json'"),
    ),
    ("utc-year-1", {"utc": "0001-01-01T00:00:00.000000Z"}, refused("clock", "behind")),
    ("utc-a-week-back", {"utc": _utc(-timedelta(days=7))}, refused("clock", "max_utc_behind")),
    ("utc-an-hour-back", {"utc": _utc(-timedelta(hours=1))}, APPLIED),
    ("utc-an-hour-ahead", {"utc": _utc(timedelta(hours=1))}, refused("clock", "max_utc_ahead")),
    ("utc-year-9999", {"utc": "9999-12-31T23:59:59.999999Z"}, refused("clock", "ahead")),
    ("utc-a-minute-ahead", {"utc": _utc(timedelta(minutes=1))}, APPLIED),
]


@pytest.fixture(scope="module")
def grants_frame(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Frame, dict]]:
    tmp = tmp_path_factory.mktemp("grants")
    with home(tmp):
        hub = Hub.init(tmp / "hub.git")
        key = registered(hub, M, "alice", "bob")[M]
        registry.grant(hub, M, authority=1, files=["x.json", "g/*.json"])
        forger = Forger(hub, tmp / "forger.git")
        sources = {}
        for name, fields, *_ in GRANTED:
            delta_id, data = signed(key, body(M, case=name, **fields))
            sources[name] = forger.file(M, delta_id, data)
        yield frame(hub, forger.push()), sources


@pytest.mark.parametrize(("fields", "expect"), cases(GRANTED), ids=ids(GRANTED))
def test_deltas_beyond_their_grant_or_the_clock_are_rejected(
    grants_frame: tuple[Frame, dict], request: pytest.FixtureRequest, fields: Any, expect: Expect
) -> None:
    done, sources = grants_frame
    check(done, sources[request.node.callspec.id], expect)


# 3. File names ---------------------------------------------------------------------------
#
# The policy (gnp.core.limits): a state file's path is relative, free of '..', '.', empty
# names, '.gnp' and '.git' (and their NTFS short names), ends in .json, and its names use
# the alphabet of worker ids, lowercase a-z 0-9 . _ -: so no case twins, no look-alike
# letters, no second Unicode form of a name. The reason shows a refused name escaped.

POLICY = "lowercase a-z, 0-9, '.', '_' and '-' only"
FILES: list[tuple[str, str, Expect]] = [
    ("traversal-parent", "../x.json", refused("bad-file", "'..' is not allowed")),
    ("traversal-deep", "a/../../../etc/x.json", refused("bad-file", "'..' is not allowed")),
    ("traversal-at-end", "a/..", refused("bad-file", "state files end in .json")),
    ("absolute", "/etc/passwd.json", refused("bad-file", "absolute paths are not allowed")),
    ("absolute-double-slash", "//host/share/x.json", refused("bad-file", "absolute paths")),
    ("windows-drive", "C:/x.json", refused("bad-file", "absolute paths are not allowed")),
    ("windows-drive-relative", "c:x.json", refused("bad-file", "absolute paths are not allowed")),
    ("protocol-folder", ".gnp/keyring.json", refused("bad-file", ".gnp/ belongs to the protocol")),
    ("protocol-ledger", ".gnp/ledger/ab/cd.json", refused("bad-file", "belongs to the protocol")),
    (
        "protocol-folder-uppercase",
        ".GNP/keyring.json",
        refused("bad-file", "belongs to the protocol"),
    ),
    ("protocol-short-name", "GNP~1/keyring.json", refused("bad-file", "belongs to the protocol")),
    ("protocol-folder-nested", "a/.gnp/x.json", refused("bad-file", "belongs to the protocol")),
    ("git-folder", ".git/config.json", refused("bad-file", ".git is not a state path")),
    ("git-folder-mixed-case", "a/.GiT/hooks.json", refused("bad-file", ".git is not a state path")),
    ("git-short-name", "git~1/x.json", refused("bad-file", ".git is not a state path")),
    ("git-trailing-dot", ".git./x.json", refused("bad-file", "ends in a dot or a space")),
    ("git-zero-width-joiner", ".g\u200dit/x.json", refused("bad-file", "invisible")),
    ("backslash", "a\\b.json", refused("bad-file", "contains a backslash")),
    ("backslash-traversal", "..\\x.json", refused("bad-file", "contains a backslash")),
    ("nul", "x\x00.json", refused("bad-file", "contains NUL")),
    ("escape-sequence", "\x1b[31mx.json", refused("bad-file", "control character")),
    ("newline", "x\n.json", refused("bad-file", "control character")),
    ("c1-control", "x\x85.json", refused("bad-file", "control character")),
    ("empty", "", refused("bad-file", "empty path")),
    ("empty-segment", "a//b.json", refused("bad-file", "empty or '.' path segment")),
    ("dot-segment", "./x.json", refused("bad-file", "empty or '.' path segment")),
    ("dot-segment-inside", "a/./x.json", refused("bad-file", "empty or '.' path segment")),
    ("trailing-slash", "x.json/", refused("bad-file", "state files end in .json")),
    ("not-json", "x.txt", refused("bad-file", "state files end in .json")),
    ("json-uppercase-suffix", "x.JSON", refused("bad-file", "state files end in .json")),
    (
        "folder-named-json",
        "a.json/b.json",
        refused("bad-file", "a folder name cannot end in .json"),
    ),
    ("trailing-space", "x.json ", refused("bad-file", "state files end in .json")),
    ("reserved-device", "con.json", refused("bad-file", "reserved device name")),
    ("reserved-device-in-folder", "a/COM1.json", refused("bad-file", "reserved device name")),
    ("colon-stream", "x.json:secret.json", refused("bad-file", 'one of < > : "')),
    ("wildcard", "*.json", refused("bad-file", 'one of < > : "')),
    ("bidi-override", "x\u202enosj.json", refused("bad-file", "invisible")),
    ("byte-order-mark", "\ufeffx.json", refused("bad-file", "invisible")),
    ("too-long", "a" * 300 + ".json", refused("bad-file", "longer than 255 characters")),
    ("name-over-255-bytes", "\u00e9" * 130 + ".json", refused("bad-file", "longer than 255 bytes")),
    ("not-a-string", 7, refused("bad-file", "file must be a string, not int")),  # type: ignore[list-item]
    ("nfd-form", "e\u0301.json", refused("bad-file", "is not in Unicode NFC form")),
    ("nfc-non-ascii", "\u00e9.json", refused("bad-file", POLICY)),
    ("cyrillic-a", "\u0430gents.json", refused("bad-file", "'\\u0430gents.json'")),
    ("cyrillic-a-policy", "st\u0430ts.json", refused("bad-file", POLICY)),
    ("fullwidth-a", "\uff41gents.json", refused("bad-file", POLICY)),
    ("fullwidth-solidus-traversal", "..\uff0fx.json", refused("bad-file", POLICY)),
    ("one-dot-leaders-as-dotdot", "\u2024\u2024/x.json", refused("bad-file", POLICY)),
    ("division-slash", "a\u2215b.json", refused("bad-file", POLICY)),
    ("ligature", "\ufb01le.json", refused("bad-file", POLICY)),
    ("kelvin-sign", "\u212a.json", refused("bad-file", "is not in Unicode NFC form")),
    ("case-twin-upper", "State.json", refused("bad-file", POLICY)),
    ("case-twin-all-caps", "STATE.json", refused("bad-file", POLICY)),
    ("percent-encoded-dotdot", "%2e%2e/x.json", refused("bad-file", POLICY)),
    ("space-in-name", "my state.json", refused("bad-file", POLICY)),
    ("lowercase-twin-applies", "state.json", APPLIED),
    ("nested-lowercase-applies", "a/b-c_d.e/f.json", APPLIED),
    ("dot-prefixed-applies", ".hidden.json", APPLIED),
]


@pytest.fixture(scope="module")
def files_frame(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Frame, dict]]:
    tmp = tmp_path_factory.mktemp("files")
    with home(tmp):
        hub = Hub.init(tmp / "hub.git")
        key = registered(hub, M, "alice", "bob")[M]
        seed(hub, {"State.json": {"n": 0}})  # an owner's file: its twin is never made
        forger = Forger(hub, tmp / "forger.git")
        sources = {}
        for name, file, *_ in FILES:
            delta_id, data = signed(key, body(M, [op(file=file)], case=name))
            sources[name] = forger.file(M, delta_id, data)
        yield frame(hub, forger.push()), sources


@pytest.mark.parametrize(("file", "expect"), cases(FILES), ids=ids(FILES))
def test_file_names_outside_the_policy_are_refused(
    files_frame: tuple[Frame, dict], request: pytest.FixtureRequest, file: Any, expect: Expect
) -> None:
    done, sources = files_frame
    check(done, sources[request.node.callspec.id], expect)
    if expect == APPLIED:
        commit = done.hub.repo[pygit2.Oid(hex=done.report.commit)]
        assert canonical.decode(commit.tree[file].data) == {"n": 1}
        assert {e.name for e in commit.tree} & {"State.json", "state.json"} == {
            "State.json",
            "state.json",
        }  # the owner's file and the delta's, never one over the other


# 4. What a delta produces: growth, document size, integers, nesting ---------------------
#
# A hub with tight limits (max_growth 4 KiB, max_document_bytes 16 KiB), each case on a
# file of its own, seeded by the owner.

X = "x" * 3000
LIMITS: list[tuple[str, list[dict], Expect]] = [
    (
        "copy-twice-past-max-growth",
        [
            op("copy", "g1.json", "/b", **{"from": "/a"}),
            op("copy", "g1.json", "/c", **{"from": "/a"}),
        ],
        refused("too-large", "copy g1.json:/c refused: the delta would add more than 4096 bytes"),
    ),
    (
        "copy-root-into-itself-doubling",
        [op("copy", "g2.json", "/b", **{"from": ""}), op("copy", "g2.json", "/c", **{"from": ""})],
        refused("too-large", "(max_growth)"),
    ),
    (
        "copy-move-copy",
        [
            op("copy", "g3.json", "/b", **{"from": "/a"}),
            op("move", "g3.json", "/c", **{"from": "/b"}),
            op("copy", "g3.json", "/d", **{"from": "/c"}),
        ],
        refused("too-large", "copy g3.json:/d refused"),
    ),
    (
        "add-past-max-document-bytes",
        [op("add", "g4.json", "/b", value="y" * 3000)],
        refused("too-large", "g4.json would grow past 16384 bytes (max_document_bytes)"),
    ),
    (
        "many-small-copies",
        [op("copy", "g5.json", f"/c{i}", **{"from": "/a"}) for i in range(200)],
        refused("too-large", "(max_growth)"),
    ),
    (
        "append-control-characters-counted-escaped",
        [op("append", "g6.json", "/l", value="\x01" * 800)],  # 800 bytes, 4800 escaped
        refused("too-large", "(max_growth)"),
    ),
    (
        "incr-creates-path-then-overflows",
        [
            op("incr", "h1.json", "/a/b/c", value=2**12999),
            op("incr", "h1.json", "/a/b/c", value=2**12999),
        ],
        refused("op-failed", "would leave a number that JSON cannot carry"),
    ),
    (
        "incr-creates-path-with-widest-integer",
        [op("incr", "h2.json", "/a/b/c", value=2**13000 - 1)],
        APPLIED,
    ),
    (
        "add-object-holding-wide-integer",
        [op("add", "h3.json", "", value={"n": 2**13001})],
        refused("op-failed", "a number wider than 13000 bits"),
    ),
    (
        "float-incr-to-infinity",
        [op("max", "h4.json", "/f", value=1.7e308), op("incr", "h4.json", "/f", value=1.7e308)],
        refused("op-failed", "JSON cannot carry"),
    ),
    (
        "copy-deep-subtree-past-256-levels",
        [op("copy", "g7.json", "/d" + "/0" * 60, **{"from": "/d"})],
        refused("op-failed", "the document would nest deeper than 256 levels"),
    ),
    (
        "incr-on-a-string",
        [op("incr", "g1.json", "/a")],
        refused("op-failed", "incr needs a number there"),
    ),
    (
        "remove-root-of-missing-file",
        [op("remove", "nothing.json", "")],
        refused("op-failed", "the file does not exist"),
    ),
    (
        "pointer-past-array-end",
        [op("replace", "g8.json", "/l/5", value=1)],
        refused("op-failed", "out of range"),
    ),
    (
        "pointer-leading-zero-index",
        [op("replace", "g8.json", "/l/01", value=1)],
        refused("op-failed", "is not an array index"),
    ),
    (
        "pointer-non-ascii-digit-index",
        [op("replace", "g8.json", "/l/\u0661", value=1)],  # Arabic-Indic one
        refused("op-failed", "is not an array index"),
    ),
    (
        "pointer-minus-on-replace",
        [op("replace", "g8.json", "/l/-", value=1)],
        refused("op-failed", "names the end of the array"),
    ),
]
LIMIT_SEEDS = {
    "g1.json": {"a": X},
    "g2.json": {"a": "x" * 2500},
    "g3.json": {"a": X},
    "g4.json": {"a": "x" * 14000},
    "g5.json": {"a": "x" * 30},
    "g6.json": {"l": []},
    "g7.json": {"d": _nest(230)},
    "g8.json": {"l": [0, 1]},
}


@pytest.fixture(scope="module")
def limits_frame(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Frame, dict]]:
    tmp = tmp_path_factory.mktemp("limits")
    with home(tmp):
        hub = Hub.init(tmp / "hub.git")
        key = registered(hub, M, "alice", "bob")[M]
        set_limits(hub, max_growth=4096, max_document_bytes=16384, max_bytes=65536)
        seed(hub, LIMIT_SEEDS)
        forger = Forger(hub, tmp / "forger.git")
        sources = {}
        for name, ops, *_ in LIMITS:
            delta_id, data = signed(key, body(M, ops, case=name))
            sources[name] = forger.file(M, delta_id, data)
        yield frame(hub, forger.push()), sources


@pytest.mark.parametrize(("ops", "expect"), cases(LIMITS), ids=ids(LIMITS))
def test_what_a_delta_would_produce_is_bounded(
    limits_frame: tuple[Frame, dict], request: pytest.FixtureRequest, ops: Any, expect: Expect
) -> None:
    done, sources = limits_frame
    check(done, sources[request.node.callspec.id], expect)
    commit = done.hub.repo[pygit2.Oid(hex=done.report.commit)]
    for file, document in LIMIT_SEEDS.items():  # every refused case left its file alone
        assert canonical.decode(commit.tree[file].data) == document


# 5. Forged, tampered, misfiled, unsigned and replayed deltas, pushed with plain git ----
#
# Pushed with the git binary to the hub's path, so the hub's update hook runs for every
# ref. Rows marked ``hook`` never reach the inbox; ``no hook`` rows are refs a hub written
# without hooks could hold (libgit2 runs none), which the engine itself must refuse.

NAMED = "not the one its name claims"
EXACTLY = "must add exactly"
ONE_PARENT = "must point at a commit with exactly one parent"
ENGINE_ONLY = "only the merge engine moves"
FORGED: list[tuple[str, Expect]] = [
    ("signed-with-another-workers-key", refused("bad-signature", "registered for 'alice'")),
    ("forged-fallback-for-alice", refused("bad-signature", "registered for 'alice'")),
    ("signature-of-another-delta", refused("bad-signature", "does not verify")),
    ("signature-without-domain-tag", refused("bad-signature", "does not verify")),
    ("body-altered-after-signing", refused("bad-signature", "does not verify")),
    ("unsigned", refused("bad-signature", "is not signed")),
    ("unregistered-worker", refused("unknown-worker", "worker 'eve' has no key on the hub")),
    ("alices-delta-filed-under-mallory", refused("malformed", "of 'alice', " + NAMED)),
    ("id-not-matching-content", refused("malformed", NAMED)),
    ("ref-id-not-matching-file-path", refused("malformed", EXACTLY)),
    ("ledger-replay-new-commit", Expect(SWEPT)),
    ("ledger-delta-under-another-id", refused("malformed", NAMED)),
    ("extra-state-file-in-commit", refused("malformed", "it changes: A .gnp/inbox/mallory/")),
    ("keyring-rewritten-in-commit", refused("malformed", "M .gnp/keyring.json")),
    ("ledger-entry-forged-in-commit", refused("malformed", EXACTLY)),
    ("extra-file-beside-delta", refused("malformed", EXACTLY)),
    ("state-file-removed-in-commit", refused("malformed", "D honest-seed.json")),
    ("merge-commit-two-parents", refused("malformed", ONE_PARENT)),
    ("root-commit-no-parent", refused("malformed", ONE_PARENT)),
    ("tree-bomb-beside-delta", refused("malformed", EXACTLY)),
    ("delta-file-is-a-folder", refused("malformed", EXACTLY)),
    (
        "delta-file-as-symlink",
        refused("malformed", "is not a file"),
    ),
    ("annotated-tag-not-commit", refused("malformed", ONE_PARENT)),
    ("ref-to-a-tree", refused("malformed", ONE_PARENT)),
    ("ref-to-a-blob", refused("malformed", ONE_PARENT)),
    ("oversized-delta-file", refused("too-large", "delta file is 2097152 bytes")),
    ("parent-is-an-old-main", APPLIED),
    # Refused by the hub's update hook: nothing reaches the inbox.
    ("hook-push-to-main", Expect(PUSH_REFUSED, None, ENGINE_ONLY + " refs/heads/main")),
    ("hook-new-branch", Expect(PUSH_REFUSED, None, ENGINE_ONLY + " refs/heads/evil")),
    ("hook-tag", Expect(PUSH_REFUSED, None, ENGINE_ONLY + " refs/tags/v1")),
    ("hook-notes", Expect(PUSH_REFUSED, None, ENGINE_ONLY)),
    ("hook-ref-worker-uppercase", Expect(PUSH_REFUSED, None, ENGINE_ONLY)),
    ("hook-ref-id-not-hex", Expect(PUSH_REFUSED, None, ENGINE_ONLY)),
    ("hook-ref-id-short", Expect(PUSH_REFUSED, None, ENGINE_ONLY)),
    ("hook-ref-too-deep", Expect(PUSH_REFUSED, None, ENGINE_ONLY)),
    ("hook-ref-without-id", Expect(PUSH_REFUSED, None, ENGINE_ONLY)),
    ("hook-ref-outside-inbox", Expect(PUSH_REFUSED, None, ENGINE_ONLY)),
    ("hook-ref-leading-dash-worker", Expect(PUSH_REFUSED, None, ENGINE_ONLY)),
    (
        "hook-rewrite-another-workers-ref",
        Expect(PUSH_REFUSED, None, "exists already; an inbox ref"),
    ),
    ("hook-delete-another-workers-ref", Expect(PUSH_REFUSED, None, "never rewritten")),
    # A hub without hooks: the engine refuses what the hook would have.
    ("no-hook-ref-worker-uppercase", refused("malformed", "is not an inbox ref")),
    ("no-hook-ref-too-deep", refused("malformed", "is not an inbox ref")),
    ("no-hook-ref-id-not-hex", refused("malformed", "is not an inbox ref")),
]


def _bomb(repo: pygit2.Repository, levels: int = 8, width: int = 16) -> pygit2.Oid:
    """A tree of width**levels files made of ``levels`` small trees."""
    node = repo.create_blob(b"{}")
    mode = pygit2.GIT_FILEMODE_BLOB
    for _ in range(levels):
        builder = repo.TreeBuilder()
        for i in range(width):
            builder.insert(f"f{i}.json", node, mode)
        node, mode = builder.write(), pygit2.GIT_FILEMODE_TREE
    return node


def _with_entry(
    repo: pygit2.Repository, base: pygit2.Tree, path: str, oid: pygit2.Oid, mode: int
) -> pygit2.Oid:
    """``base`` with ``oid`` at ``path`` under ``mode`` (a tree, a link: what trees.edit
    does not write)."""
    head, _, rest = path.partition("/")
    builder = repo.TreeBuilder(base)
    if not rest:
        builder.insert(head, oid, mode)
    else:
        try:
            sub = base[head]
        except KeyError:
            sub = None
        subtree = sub if isinstance(sub, pygit2.Tree) else repo[repo.TreeBuilder().write()]
        builder.insert(head, _with_entry(repo, subtree, rest, oid, mode), pygit2.GIT_FILEMODE_TREE)
    return builder.write()


@pytest.fixture(scope="module")
def forged_frame(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Frame, dict]]:
    tmp = tmp_path_factory.mktemp("forged")
    with home(tmp):
        hub = Hub.init(tmp / "hub.git")
        k = registered(hub, M, "alice", "bob", "carol")
        seed(hub, {"honest-seed.json": {"n": 0}})
        old_main = hub.main().id
        # A delta already applied: its bytes are in frame 1's archive for anyone to copy.
        replayed = send(hub, "alice", incr("ledger.json", "/n", 1))
        assert run_frame(hub).count(Outcome.APPLIED) == 1
        waiting = send(hub, "carol", incr("carol.json", "/n", 1))  # another's pending delta
        forger = Forger(hub, tmp / "forger.git")
        repo = forger.repo
        src: dict[str, str] = {}

        def mine(name: str, **fields: Any) -> tuple[str, bytes]:
            return signed(k[M], body(M, [op(file="stolen.json")], case=name, **fields))

        def put(name: str, worker: str, delta_id: str, data: bytes, **extra: Any) -> None:
            src[name] = forger.file(worker, delta_id, data, **extra)

        i, d = signed(k[M], body("alice", [op(file="stolen.json")], case="s1"))
        put("signed-with-another-workers-key", "alice", i, d)
        i, d = signed(k[M], body("alice", [], case="s2", status="fallback", error="x"))
        put("forged-fallback-for-alice", "alice", i, d)
        other_sig = json.loads(mine("s3b")[1])["sig"]  # a signature mallory made, of another
        i, d = mine("s3", sig=other_sig)
        put("signature-of-another-delta", M, i, d)
        raw_body = body(M, [op(file="stolen.json")], case="s4")
        encoded = canonical.encode(raw_body)
        bare_sig = base64.b64encode(k[M].key.sign(encoded)).decode()
        put(
            "signature-without-domain-tag",
            M,
            hashlib.sha256(encoded).hexdigest(),
            canonical.encode({**raw_body, "sig": bare_sig}),
        )
        i, d = mine("s5")
        altered = d.replace(b'"value":1', b'"value":9')
        put("body-altered-after-signing", M, fake_id("s5"), altered)
        i, d = mine("s6", sig=None)
        put("unsigned", M, i, d)
        eve = SigningKey(Ed25519PrivateKey.generate())  # a key of her own, not registered
        i, d = signed(eve, body("eve", [op(file="stolen.json")], case="s7"))
        put("unregistered-worker", "eve", i, d)
        i, d = signed(k["alice"], body("alice", [op(file="stolen.json")], case="s8"))
        put("alices-delta-filed-under-mallory", M, i, d)
        i, d = mine("s9")
        put("id-not-matching-content", M, fake_id("s9"), d)
        i, d = mine("s10")
        src["ref-id-not-matching-file-path"] = forger.plan(
            forger.delta(M, fake_id("s10"), d), ref_name(M, i)
        )
        archived = hub.main().tree[f".gnp/frames/000001/deltas/alice/{replayed.id}.json"].data
        put("ledger-replay-new-commit", "alice", replayed.id, archived)
        put("ledger-delta-under-another-id", "alice", fake_id("s11"), archived)
        i, d = mine("s12")
        put("extra-state-file-in-commit", M, i, d, **{"honest.json": b'{"n": 1000}\n'})
        i, d = mine("s13")
        keyring = b'{"mallory": "ssh-ed25519 AAAA"}\n'
        put("keyring-rewritten-in-commit", M, i, d, **{".gnp/keyring.json": keyring})
        i, d = mine("s14")
        put("ledger-entry-forged-in-commit", M, i, d, **{f".gnp/ledger/{i[:2]}/{i[2:]}": b"1\n"})
        i, d = mine("s15")
        put("extra-file-beside-delta", M, i, d, **{f".gnp/inbox/{M}/notes.txt": b"hi"})
        i, d = mine("s16")
        put("state-file-removed-in-commit", M, i, d, **{"honest-seed.json": None})
        i, d = mine("s17")
        one = forger.delta(M, i, d)
        src["merge-commit-two-parents"] = forger.plan(
            forger.commit({}, parents=[forger.main.id, old_main], tree=repo[one].tree_id),
            ref_name(M, i),
        )
        i, d = mine("s18")
        src["root-commit-no-parent"] = forger.plan(
            forger.commit({}, parents=[], tree=forger.tree({delta_path(M, i): d})),
            ref_name(M, i),
        )
        i, d = mine("s19")
        tree = repo[forger.delta(M, i, d)].tree
        bombed = _with_entry(repo, tree, "bomb", _bomb(repo), pygit2.GIT_FILEMODE_TREE)
        src["tree-bomb-beside-delta"] = forger.plan(forger.commit({}, tree=bombed), ref_name(M, i))
        i, d = mine("s20")
        src["delta-file-is-a-folder"] = forger.plan(
            forger.commit({f"{delta_path(M, i)}/inner": d}), ref_name(M, i)
        )
        i, d = signed(k[M], body(M, [op(file="linked.json")], case="s21"))
        linked = _with_entry(
            repo, forger.main.tree, delta_path(M, i), repo.create_blob(d), pygit2.GIT_FILEMODE_LINK
        )
        src["delta-file-as-symlink"] = forger.plan(forger.commit({}, tree=linked), ref_name(M, i))
        i, d = mine("s22")
        sig = pygit2.Signature("m", "m@x", 1_700_000_000, 0)
        tag = repo.create_tag("t22", forger.delta(M, i, d), pygit2.GIT_OBJECT_COMMIT, sig, "t")
        src["annotated-tag-not-commit"] = forger.plan(tag, ref_name(M, i))
        i, d = mine("s23")
        src["ref-to-a-tree"] = forger.plan(repo[forger.delta(M, i, d)].tree_id, ref_name(M, i))
        i, d = mine("s24")
        src["ref-to-a-blob"] = forger.plan(repo.create_blob(d), ref_name(M, i))
        put("oversized-delta-file", M, fake_id("s25"), b" " * (2 << 20))
        i, d = signed(k[M], body(M, [op(file="old-base.json")], case="s26"))
        src["parent-is-an-old-main"] = forger.plan(
            forger.commit(
                {}, parents=[old_main], tree=forger.tree({delta_path(M, i): d}, old_main)
            ),
            ref_name(M, i),
        )
        i, d = signed(k[M], body(M, [op(file="carried.json")], case="h"))
        hooked = forger.delta(M, i, d)
        for name, ref in {
            "hook-push-to-main": "refs/heads/main",
            "hook-new-branch": "refs/heads/evil",
            "hook-tag": "refs/tags/v1",
            "hook-notes": "refs/notes/commits",
            "hook-ref-worker-uppercase": f"refs/gnp/inbox/Mallory/{i}",
            "hook-ref-id-not-hex": f"refs/gnp/inbox/{M}/{'z' * 64}",
            "hook-ref-id-short": f"refs/gnp/inbox/{M}/{i[:40]}",
            "hook-ref-too-deep": f"refs/gnp/inbox/{M}/{i}/x",
            "hook-ref-without-id": f"refs/gnp/inbox/{M}",
            "hook-ref-outside-inbox": f"refs/gnp/outbox/{M}/{i}",
            "hook-ref-leading-dash-worker": f"refs/gnp/inbox/-m/{i}",
            "hook-rewrite-another-workers-ref": ref_name("carol", waiting.id),
        }.items():
            src[name] = forger.plan(hooked, ref)
        carried = forger.delta(M, i, d)
        forger.plan(carried, ref_name(M, i))  # an honest-looking delta of mallory's, applied
        refused_pushes = forger.push("--force")
        gone = ref_name("carol", waiting.id)
        refused_pushes.update(forger.git_push(f":{gone}"))
        src["hook-delete-another-workers-ref"] = f":{gone}"
        j = fake_id("no hook")
        for name, ref in {
            "no-hook-ref-worker-uppercase": f"refs/gnp/inbox/Mallory/{j}",
            "no-hook-ref-too-deep": f"refs/gnp/inbox/{M}/{j}/x",
            "no-hook-ref-id-not-hex": f"refs/gnp/inbox/{M}/{'y' * 64}",
        }.items():
            hub.repo.references.create(ref, carried)  # as a hub without hooks lets it be
            src[name] = ref
        done = frame(hub, refused_pushes, forger)
        yield done, {"sources": src, "carol": waiting.id}


@pytest.mark.parametrize("expect", [pytest.param(*r[1:2], id=r[0], marks=r[2:]) for r in FORGED])
def test_forged_and_misfiled_pushes_are_refused(
    forged_frame: tuple[Frame, dict], request: pytest.FixtureRequest, expect: Expect
) -> None:
    done, held = forged_frame
    check(done, held["sources"][request.node.callspec.id], expect)
    commit = done.hub.repo[pygit2.Oid(hex=done.report.commit)]
    assert "stolen.json" not in commit.tree  # no forged delta wrote anything
    assert canonical.decode(commit.tree["ledger.json"].data) == {"n": 1}  # applied once
    assert done.of_delta(held["carol"]).outcome == Outcome.APPLIED  # neither rewritten nor deleted
    assert "refs/heads/evil" not in done.hub.repo.references
    assert done.hub.main().parents[0].id == done.hub.repo[pygit2.Oid(hex=done.report.base)].id


# 6. Worktree tricks through ``gnp run`` ---------------------------------------------------
#
# Each row: what the work does in its worktree (sh, with $OUT an outside folder holding
# secret.json), and the verdict: a fallback naming the trick, a delta without the trick's
# effect, or nothing to submit. Every run is one ``gnp run`` (gnp.process.run.run) of
# worker w; their deltas and fallbacks merge in one frame with the honest ones.


def fell_back(said: str) -> Expect:
    return Expect(Outcome.FALLBACK.value, None, said)


LINK = "is a symbolic link after the work, and gnp never follows links"
TRICKS: list[tuple[str, str, Expect]] = [
    ("symlink-to-outside-file", "ln -s $OUT/secret.json x.json", fell_back("x.json " + LINK)),
    (
        "state-file-replaced-by-symlink",
        "rm stats.json && ln -s $OUT/secret.json stats.json",
        fell_back("stats.json " + LINK),
    ),
    ("symlink-to-dev-zero", "ln -s /dev/zero z.json", fell_back("z.json " + LINK)),
    ("symlink-to-itself", "ln -s loop.json loop.json", fell_back("loop.json " + LINK)),
    ("symlinked-folder-to-outside", "ln -s $OUT sub", Expect(UNCHANGED)),
    ("fifo-named-like-a-state-file", "mkfifo f.json", fell_back("f.json is a FIFO after the work")),
    (
        "state-file-replaced-by-fifo",
        "rm stats.json && mkfifo stats.json",
        fell_back("stats.json is a FIFO"),
    ),
    (
        "socket-named-like-a-state-file",
        "python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('s.json')\"",
        fell_back("s.json is a socket after the work"),
    ),
    ("empty-folder-named-like-a-state-file", "mkdir d.json", Expect(UNCHANGED)),
    (
        "folder-named-like-a-state-file-holding-one",
        "mkdir d.json && echo '{}' > d.json/a.json",
        fell_back("a folder name cannot end in .json"),
    ),
    (
        "state-file-replaced-by-a-folder",
        "rm stats.json && mkdir stats.json",
        fell_back("stats.json is a folder after the work"),
    ),
    (
        "hard-link-to-outside-file",
        "ln $OUT/secret.json h.json",
        fell_back("h.json is a hard link after the work"),
    ),
    (
        "hard-link-over-a-state-file",
        "rm victim.json && ln $OUT/secret.json victim.json",
        fell_back("victim.json is a hard link after the work"),
    ),
    ("git-deleted", "echo '{\"count\": 7}' > a1.json && rm -rf .git", APPLIED),
    (
        "git-pointed-at-the-hub",
        "echo '{\"count\": 8}' > a2.json && printf 'gitdir: %s\\n' \"$GNP_HUB\" > .git",
        APPLIED,
    ),
    (
        "git-reinitialised-with-a-commit",
        "echo '{\"count\": 9}' > a3.json && rm -rf .git && git init -q && git add -A && "
        "git -c user.name=a -c user.email=a@b commit -qm x",
        APPLIED,
    ),
    (
        "state-file-inside-git",
        "rm .git && mkdir .git && echo '{\"n\": 1}' > .git/x.json",
        Expect(UNCHANGED),
    ),
    (
        "state-file-in-a-nested-git",
        "mkdir -p a/.git && echo '{}' > a/.git/x.json",
        fell_back(".git is not a state path"),
    ),
    (
        "state-file-in-gnp-folder",
        "mkdir .gnp && echo '{}' > .gnp/keyring.json",
        fell_back(".gnp/ belongs to the protocol"),
    ),
    ("huge-file", "head -c 2000000 /dev/zero > big.json", fell_back("big.json is over")),
    (
        "failing-command-printing-escapes",
        "printf '\\033]0;pwned\\007 boom\\n' >&2; exit 3",
        fell_back("boom"),
    ),
    ("sparse-100-gib-file", "truncate -s 100G sparse.json", fell_back("sparse.json is over")),
    (
        "uppercase-name",
        "echo '{\"n\": 1}' > Notes.json",
        fell_back("file 'Notes.json' refused: state file names use lowercase"),
    ),
    (
        "cyrillic-look-alike-name",
        "echo '{\"n\": 1}' > \"$(printf 'st\\320\\260ts.json')\"",
        fell_back("file 'st\\u0430ts.json' refused"),
    ),
    (
        "nfd-name",
        "echo '{\"n\": 1}' > \"$(printf 'e\\314\\201.json')\"",
        fell_back("is not in Unicode NFC form"),
    ),
    (
        "escape-sequence-in-a-name",
        "echo '{}' > \"$(printf 'a\\033[31mb.json')\"",
        fell_back("contains a control character"),
    ),
    (
        "newline-in-a-name",
        "echo '{}' > \"$(printf 'a\\nb.json')\"",
        fell_back("contains a control character"),
    ),
]
SECRET = b'{"secret": "outside"}\n'


@pytest.fixture(scope="module")
def run_frame_of_tricks(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Frame, dict[str, RunResult], Path]]:
    tmp = tmp_path_factory.mktemp("tricks")
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret.json").write_bytes(SECRET)
    with home(tmp):
        hub = Hub.init(tmp / "hub.git")
        registered(hub, "w", "alice", "bob")
        set_limits(hub, max_bytes=65536)  # a file over 1 MiB is more than one delta carries
        seed(
            hub,
            {
                f: {"count": 1}
                for f in ("stats.json", "a1.json", "a2.json", "a3.json", "victim.json")
            },
        )
        env = {"OUT": str(outside)}
        with ThreadPoolExecutor(4) as pool:  # runs of one worker at once, as a cron job's
            running = {
                n: pool.submit(run, hub, "w", ["sh", "-c", w], env=env, capture=True)
                for n, w, *_ in TRICKS
            }
        results = {name: future.result() for name, future in running.items()}
        yield frame(hub), results, outside


@pytest.mark.parametrize(("work", "expect"), cases(TRICKS), ids=ids(TRICKS))
def test_worktree_tricks_end_in_a_verdict_without_their_effect(
    run_frame_of_tricks: tuple[Frame, dict[str, RunResult], Path],
    request: pytest.FixtureRequest,
    work: str,
    expect: Expect,
) -> None:
    done, results, outside = run_frame_of_tricks
    result = results[request.node.callspec.id]
    assert (outside / "secret.json").read_bytes() == SECRET
    assert sorted(p.name for p in outside.iterdir()) == ["secret.json"]
    if expect.outcome == UNCHANGED:
        assert (result.status, result.delta_id) == ("unchanged", None), result.error
        done.honest_applied()
        return
    assert result.delta_id is not None
    check(done, done.of_delta(result.delta_id).source, expect)
    commit = done.hub.repo[pygit2.Oid(hex=done.report.commit)]
    archived = commit.tree[f".gnp/frames/{done.report.frame:06d}/deltas/w/{result.delta_id}.json"]
    assert b"secret" not in archived.data  # nothing of the outside file was submitted


# 7. Forged ownership records ---------------------------------------------------------------
#
# Records planted in the local repository's owner folder (gnp.process.owners), each naming
# a folder of its own with a file in it, then one ``gnp janitor`` sweep. The one check:
# nothing outside the worktree root is removed. (The janitor is being reworked; cases it
# fails today are marked with the gap.)

OWNERS: list[tuple[str, str, Expect]] = [
    ("record-names-an-outside-folder", "outside", Expect("kept")),
    ("record-with-a-relative-path", "relative", Expect("kept")),
    ("record-named-dotdot", "dotdot", Expect("kept")),
    ("record-names-gnp-home", "home", Expect("kept")),
    ("record-names-the-local-repository", "repository", Expect("kept")),
    ("record-names-the-worktree-root", "root", Expect("kept")),
    ("record-path-is-a-link-to-outside", "link", Expect("kept")),
    ("record-named-unlike-its-folder", "unlike", Expect("kept")),
    ("record-of-a-live-owner", "live", Expect("kept")),
    ("record-of-another-host", "host", Expect("kept")),
    ("record-not-json", "garbage", Expect("kept")),
    ("record-path-not-a-string", "typed", Expect("kept")),
]


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


@pytest.fixture(scope="module")
def janitor_frame(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Frame, dict[str, Path]]]:
    tmp = tmp_path_factory.mktemp("owners")
    with home(tmp), pytest.MonkeyPatch.context() as mp:
        (tmp / "cwd").mkdir()
        mp.chdir(tmp / "cwd")  # where a relative path in a record would lead
        hub = Hub.init(tmp / "hub.git")
        registered(hub, "w", "alice", "bob")
        local = LocalRepo.for_hub(hub)
        root = tmp / "worktrees"
        root.mkdir()
        folder = local.path / owners.FOLDER
        folder.mkdir(exist_ok=True)
        me, dead = socket.gethostname(), _dead_pid()

        def victim(path: Path) -> Path:
            path.mkdir(parents=True, exist_ok=True)
            (path / "keep").write_text("mine")
            return path

        def plant(name: str, record: object) -> None:
            text = record if isinstance(record, str) else json.dumps(record)
            (folder / f"{name}.json").write_text(text)

        def dead_owner(path: str) -> dict[str, object]:
            return {"worker": "w", "pid": dead, "host": me, "start": "1", "path": path}

        kept: dict[str, Path] = {}
        kept["outside"] = victim(tmp / "outside" / "victim")
        kept["relative"] = victim(tmp / "rel" / "victim2")
        kept["dotdot"] = victim(tmp / "up" / "deep")
        kept["root"] = victim(root)
        kept["link"] = victim(tmp / "linked" / "victim3")
        (root / "victim3").symlink_to(kept["link"])
        kept["unlike"] = victim(tmp / "unlike" / "elsewhere")
        kept["live"] = victim(tmp / "live" / "victim5")
        kept["host"] = victim(tmp / "host" / "victim6")
        kept["garbage"] = victim(tmp / "garbage" / "victim7")
        kept["typed"] = victim(tmp / "typed" / "victim8")
        kept["repository"] = local.path
        kept["home"] = Path(os.environ["GNP_HOME"])
        planted: list[tuple[str, object]] = [  # the most destructive last
            ("victim", dead_owner(str(kept["outside"]))),
            ("victim2", dead_owner("../rel/victim2")),
            ("..", dead_owner(str(tmp / "up" / "deep" / ".."))),
            (root.name, dead_owner(str(root))),
            ("victim3", dead_owner(str(root / "victim3"))),
            ("victim4", dead_owner(str(kept["unlike"]))),
            ("victim5", {**dead_owner(str(kept["live"])), "pid": os.getpid(), "start": None}),
            ("victim6", {**dead_owner(str(kept["host"])), "host": "elsewhere"}),
            ("victim7", "{not json " + str(kept["garbage"])),
            ("victim8", {**dead_owner(str(kept["typed"])), "path": [str(kept["typed"])]}),
            (local.path.name, dead_owner(str(local.path))),
            ("gnp-home", dead_owner(str(kept["home"]))),
        ]
        ids, before = honest(hub)  # waiting in the inbox while the janitor sweeps
        for name, record in planted:  # one sweep each: what one removes, the next lacks
            LocalRepo.for_hub(hub)  # made again if a sweep before removed it
            folder.mkdir(exist_ok=True)
            plant(name, record)
            with contextlib.suppress(Exception):  # a janitor that fails is reported below
                janitor.sweep(hub)
            (folder / f"{name}.json").unlink(missing_ok=True)
        report = run_frame(hub)
        yield Frame(hub, report, ids, before), kept


@pytest.mark.parametrize(("which", "expect"), cases(OWNERS), ids=ids(OWNERS))
def test_a_forged_ownership_record_removes_nothing_outside_the_worktree_root(
    janitor_frame: tuple[Frame, dict[str, Path]], which: str, expect: Expect
) -> None:
    done, kept = janitor_frame
    path = kept[which]
    assert path.is_dir(), f"the janitor removed {path}"
    if which not in ("home", "repository"):
        assert (path / "keep").read_text() == "mine"
    done.honest_applied()


# 8. Relay framing ----------------------------------------------------------------------------
#
# A ``gnp relay`` (gnp_cli.relay_server, in a thread) and raw bytes on its socket: a JSON
# header line {"hub", "cwd", "worker", "size"}, then ``size`` bytes of request. Each row:
# what is sent, and what must come of it: an error answered, no answer and nothing
# submitted, or a delta id whose delta gets the verdict.

ANSWERED = "answered-error"


def _ops(file: str) -> bytes:
    return json.dumps([{"op": "incr", "file": file, "path": "/n", "value": 1}]).encode()


def _header(**fields: Any) -> bytes:
    return json.dumps(fields).encode() + b"\n"


Wire = Callable[[str], bytes]  # the hub's path -> the bytes sent


def request(file: str, *, cut: int = 0, extra: bytes = b"", **fields: Any) -> Wire:
    """A header (``fields`` over sound ones) and a body of ops on ``file``, less ``cut``
    bytes, with ``extra`` after it."""

    def wire(hub: str) -> bytes:
        data = _ops(file)
        sound = {"hub": hub, "cwd": "/", "worker": "w", "size": len(data) - cut}
        header = {k: v for k, v in {**sound, **fields}.items() if v is not ...}
        return _header(**header) + data[: len(data) - cut] + extra

    return wire


def answered(said: str) -> Expect:
    return Expect(ANSWERED, None, said)


BAD = "bad relay request: "
SIZE = BAD + "size must be a whole number of bytes up to 67108864"
STRINGS = BAD + "hub, cwd and worker must be strings"
RELAY: list[tuple[str, Wire, Expect]] = [
    ("sound-request", request("r1.json"), APPLIED),
    ("header-not-json", lambda hub: b"hello relay\n" + _ops("x.json"), answered(BAD)),
    (
        "header-a-json-array",
        lambda hub: b"[]\n",
        answered(BAD + "a relay request header is a JSON object"),
    ),
    (
        "header-json-string",
        lambda hub: b'"hub"\n',
        answered(BAD + "a relay request header is a JSON object"),
    ),
    # json.loads takes a UTF-8 BOM before the header: harmless, the request is whole.
    ("header-with-bom", lambda hub: b"\xef\xbb\xbf" + request("r5.json")(hub), APPLIED),
    ("header-not-utf8", lambda hub: b'{"hub": "\xff"}\n', answered(BAD)),
    (
        "header-nested-deep",
        lambda hub: b"[" * 30_000 + b"]" * 30_000 + b"\n",
        answered(BAD),
    ),
    (
        "header-duplicate-size",
        lambda hub: request("x.json")(hub).replace(b'"size": ', b'"size": 1, "size": ', 1),
        APPLIED,
    ),
    ("size-missing", request("x.json", size=...), answered(SIZE)),
    ("size-negative", request("x.json", size=-1), answered(SIZE)),
    ("size-oversized", request("x.json", size=relay.MAX_REQUEST + 1), answered(SIZE)),
    ("size-huge", request("x.json", size=10**30), answered(SIZE)),
    ("size-a-string", request("x.json", size="57"), answered(SIZE)),
    ("size-a-float", request("x.json", size=57.0), answered(SIZE)),
    ("size-null", request("x.json", size=None), answered(SIZE)),
    (
        "size-true",
        request("x.json", size=True),
        answered(SIZE),
    ),
    ("hub-not-a-string", request("x.json", hub=["/"]), answered(STRINGS)),
    ("worker-null", request("x.json", worker=None), answered(STRINGS)),
    ("cwd-missing", request("x.json", cwd=...), answered(STRINGS)),
    (
        "header-without-newline",
        lambda hub: request("x.json")(hub).replace(b"\n", b" "),
        Expect(NO_ANSWER),
    ),
    ("header-over-64-kib", lambda hub: b"{" + b" " * (relay.MAX_HEADER + 10), Expect(NO_ANSWER)),
    ("truncated-body", request("x.json", size=1000), Expect(NO_ANSWER)),
    ("nothing-after-header", request("x.json", cut=57, size=57), Expect(NO_ANSWER)),
    ("body-longer-than-declared", request("r2.json", extra=b'[{"op":"remove"}] and more'), APPLIED),
    ("body-shorter-than-declared-json", request("x.json", cut=3), answered("not JSON")),
    (
        "second-request-on-one-connection",
        lambda hub: request("r3.json")(hub) + request("x.json")(hub),
        APPLIED,
    ),
    ("empty-body", request("x.json", cut=57), answered("refused")),
    (
        "body-holds-nan",
        lambda hub: (
            request("x.json")(hub).replace(b": 1}", b": NaN}").replace(b'"size": 57', b'"size": 59')
        ),
        answered("NaN is not JSON"),
    ),
    ("worker-unregistered", request("x.json", worker="eve"), answered("eve")),
    ("worker-traversal", request("x.json", worker="../w"), answered("worker id '../w' is invalid")),
    (
        "worker-escape-sequence",
        request("x.json", worker="\x1b]0;pwned\x07"),
        answered("is invalid"),
    ),
    ("worker-nul", request("x.json", worker="w\x00"), answered("is invalid")),
    ("hub-not-a-hub", request("x.json", hub="/etc"), answered("/etc is not a hub")),
    (
        "hub-relative-traversal",
        request("x.json", hub="../../../../../../etc", cwd="/tmp"),
        answered("is not a hub"),
    ),
    ("hub-a-url-nowhere", request("x.json", hub="file:///nonexistent/hub.git"), answered("")),
    ("header-extra-fields", request("r4.json", admin=True, uid=0), APPLIED),
    ("file-outside-policy", request("../x.json"), answered("'..' is not allowed")),
]


def _send(path: str, data: bytes) -> dict[str, Any] | None:
    """Send ``data`` on a new connection, close the sending side, and read the answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(30)
        conn.connect(path)
        with contextlib.suppress(OSError):  # a relay that stops reading: what it answers
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    text = b"".join(chunks)
    return json.loads(text) if text else None


@pytest.fixture(scope="module")
def relay_frame(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Frame, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("relay")
    with home(tmp):
        hub = Hub.init(tmp / "hub.git")
        registered(hub, "w", "alice", "bob")
        path = str(tmp / "relay.sock")
        server = Relay(path, log=lambda line: None)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            answers = {name: _send(path, wire(str(hub.path))) for name, wire, *_ in RELAY}
            assert _send(path, request("alive.json")(str(hub.path)))  # still serving
        finally:
            server.shutdown()
            server.server_close()
        yield frame(hub), answers


@pytest.mark.parametrize(("wire", "expect"), cases(RELAY), ids=ids(RELAY))
def test_relay_framing_is_refused_or_submitted_whole(
    relay_frame: tuple[Frame, dict[str, Any]],
    request: pytest.FixtureRequest,
    wire: Wire,
    expect: Expect,
) -> None:
    done, answers = relay_frame
    answer = answers[request.node.callspec.id]
    if expect.outcome == NO_ANSWER:
        assert answer is None
    elif expect.outcome == ANSWERED:
        assert answer is not None and "id" not in answer, answer
        assert expect.said in answer["error"]
        inert(answer["error"])
    else:
        assert answer is not None and "id" in answer, answer
        check(done, done.of_delta(answer["id"]).source, expect)
    # What was submitted is what was answered: nothing else of w's reached the inbox.
    submitted = {a["id"] for a in answers.values() if a and "id" in a}
    of_w = {v.delta for v in done.report.verdicts if v.worker == "w"}
    assert len(of_w - submitted) <= 1  # the one sent to show the relay still serves
    done.honest_applied()
