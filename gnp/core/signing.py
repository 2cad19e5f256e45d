"""Ed25519 signatures on deltas, and the keyring that says whose key is whose.

Theory of operation: a worker signs the canonical body of its delta (every field but
``sig``), prefixed with a domain tag so a delta signature can never be replayed as a
signature over anything else. The engine verifies against the keyring kept on
``main``; a delta whose worker has no key there, or whose signature does not verify,
is refused. Because the body is canonical, changing any signed field, or the worker
claimed, breaks verification.

Public keys are written as OpenSSH ``ssh-ed25519 AAAA... comment`` lines, so a team can
register keys they already have; raw ``ed25519:<base64>`` is accepted too.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from gnp.core.delta import Delta
from gnp.core.errors import BadSignature, Malformed, UnknownWorker

DOMAIN = b"gnp-delta-v1\x00"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A worker's private key."""

    key: Ed25519PrivateKey

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        """Load a PKCS#8 PEM or OpenSSH private key (unencrypted)."""
        key: object
        try:
            if data.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
                key = serialization.load_ssh_private_key(data, password=None)
            else:
                key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise Malformed(f"not a readable private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise Malformed("gnp keys are Ed25519; this private key is another kind")
        return cls(key)

    def to_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()

    def sign(self, delta: Delta) -> Delta:
        """``delta`` with its signature."""
        signature = self.key.sign(DOMAIN + delta.body)
        return delta.with_sig(base64.b64encode(signature).decode("ascii"))


def public_key_text(key: Ed25519PublicKey, comment: str = "") -> str:
    """The OpenSSH line for ``key``: ``ssh-ed25519 AAAA... comment``."""
    line = key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode("ascii")
    return f"{line} {comment}".rstrip()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Read an ``ssh-ed25519`` line or ``ed25519:<base64 of 32 bytes>``."""
    if not isinstance(text, str):
        raise Malformed("a public key is a string")
    text = text.strip()
    if text.startswith("ed25519:"):
        try:
            raw = base64.b64decode(text[len("ed25519:") :], validate=True)
            return Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise Malformed("ed25519: key must be the base64 of 32 bytes") from None
    if text.startswith("ssh-ed25519 "):
        try:
            key = serialization.load_ssh_public_key(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise Malformed(f"not a readable ssh-ed25519 key: {exc}") from None
        assert isinstance(key, Ed25519PublicKey)
        return key
    kind = text.split(" ", 1)[0][:20]
    raise Malformed(
        f"public key of kind {kind!r} is not supported; use an ssh-ed25519 key "
        "(ssh-keygen -t ed25519) or 'gnp keygen'"
    )


Keyring = Mapping[str, Ed25519PublicKey]


def keyring_from_json(data: Mapping[str, str]) -> dict[str, Ed25519PublicKey]:
    """Parse ``{worker: public key text}`` into a keyring."""
    return {worker: parse_public_key(text) for worker, text in data.items()}


def verify(delta: Delta, keyring: Keyring) -> None:
    """Raise unless ``delta`` carries a valid signature by its worker's registered key."""
    key = keyring.get(delta.worker)
    if key is None:
        raise UnknownWorker(
            f"worker {delta.worker!r} has no key on the hub; register one with "
            f"'gnp keygen {delta.worker} --hub HUB'"
        )
    if delta.sig is None:
        raise BadSignature(f"delta {delta.id[:12]} from {delta.worker!r} is not signed")
    try:
        key.verify(base64.b64decode(delta.sig), DOMAIN + delta.body)
    except InvalidSignature:
        raise BadSignature(
            f"delta {delta.id[:12]} does not verify against the key registered for "
            f"{delta.worker!r}: it was altered, or signed with another key"
        ) from None
