from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from gnp import (
    BadSignature,
    Malformed,
    Op,
    Refused,
    SigningKey,
    UnknownWorker,
    admit,
    canonical,
    compose,
    parse_public_key,
    public_key_text,
    verify,
)
from gnp.core.signing import keyring_from_json
from tests.helpers.strategies import stamp


def generate() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate())


KEY = generate()
KEYRING = {"alice": KEY.public_key}
SIGNED = KEY.sign(compose("alice", [Op("incr", "stats.json", "/count", 1)], frame=0, stamp=stamp()))


def test_a_signed_delta_verifies() -> None:
    verify(SIGNED, KEYRING)
    assert admit(SIGNED.encode(), KEYRING) == SIGNED


def test_unsigned_unknown_and_foreign_keys_are_refused() -> None:
    with pytest.raises(BadSignature, match="is not signed"):
        verify(SIGNED.with_sig(None), KEYRING)  # type: ignore[arg-type]
    with pytest.raises(UnknownWorker, match="has no key on the hub; register one with"):
        verify(SIGNED, {"bob": KEY.public_key})
    with pytest.raises(BadSignature, match="key registered for 'alice'"):
        verify(SIGNED, {"alice": generate().public_key})


def _tamper(field: str, value: Any) -> bytes:
    data = json.loads(SIGNED.encode())
    data[field] = value
    return canonical.encode(data)


TAMPERED = {
    "worker": "mallory",
    "author": "mallory",
    "authority": 99,
    "frame": 7,
    "utc": "2030-01-01T00:00:00.000000Z",
    "nonce": "f" * 32,
    "ops": [{"op": "incr", "file": "stats.json", "path": "/count", "value": 1000}],
    "status": "fallback",
}


@pytest.mark.parametrize("field", sorted(TAMPERED))
def test_tampering_with_any_signed_field_fails_verification(field: str) -> None:
    value = TAMPERED[field]
    keyring = {**KEYRING, "mallory": KEY.public_key} if field == "worker" else KEYRING
    data = _tamper(field, value)
    if field == "status":
        data = _tamper("error", "x").replace(b'"status":"ok"', b'"status":"fallback"')
        data = data.replace(canonical.encode(SIGNED.to_json()["ops"]), b"[]")
    with pytest.raises(Refused):
        admit(data, keyring)


@given(st.binary(min_size=64, max_size=64))
def test_any_other_signature_fails(raw: bytes) -> None:
    forged = SIGNED.with_sig(base64.b64encode(raw).decode())
    if forged.sig != SIGNED.sig:
        with pytest.raises(BadSignature):
            verify(forged, KEYRING)


@given(st.integers(0, len(SIGNED.encode()) - 1), st.integers(0, 7))
def test_flipping_any_bit_of_the_stored_bytes_is_refused(at: int, bit: int) -> None:
    data = bytearray(SIGNED.encode())
    data[at] ^= 1 << bit
    with pytest.raises(Refused):
        admit(bytes(data), KEYRING)


def test_private_keys_round_trip_as_pem() -> None:
    again = SigningKey.from_pem(KEY.to_pem())
    assert again.sign(SIGNED).sig == SIGNED.sig  # Ed25519 signatures are deterministic


def test_public_key_text_is_openssh_and_parses_back() -> None:
    text = public_key_text(KEY.public_key, "alice@gnp")
    assert text.startswith("ssh-ed25519 AAAA") and text.endswith(" alice@gnp")
    verify(SIGNED, keyring_from_json({"alice": text}))
    raw = base64.b64encode(KEY.public_key.public_bytes_raw()).decode()
    verify(SIGNED, {"alice": parse_public_key(f"ed25519:{raw}")})


@pytest.mark.parametrize(
    "text, message",
    [
        ("ssh-rsa AAAAB3NzaC1yc2E", "kind 'ssh-rsa' is not supported"),
        ("ssh-ed25519 !!!", "not a readable ssh-ed25519 key"),
        ("ed25519:AAAA", "base64 of 32 bytes"),
        ("hello", "kind 'hello' is not supported"),
    ],
)
def test_bad_public_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(Malformed, match=message):
        parse_public_key(text)


def test_keys_made_by_ssh_keygen_work(tmp_path: Path) -> None:
    keygen = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me", "-f", str(tmp_path / "k")],
        capture_output=True,
        check=False,
    )
    if keygen.returncode != 0:
        pytest.skip("ssh-keygen is not installed")
    key = SigningKey.from_pem((tmp_path / "k").read_bytes())
    public = parse_public_key((tmp_path / "k.pub").read_text())
    verify(key.sign(SIGNED), {"alice": public})


def test_non_ed25519_private_keys_are_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(Malformed, match="gnp keys are Ed25519"):
        SigningKey.from_pem(pem)
    with pytest.raises(Malformed, match="not a readable private key"):
        SigningKey.from_pem(b"garbage")
