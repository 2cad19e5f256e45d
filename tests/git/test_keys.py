from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gnp import UsageError, verify
from gnp.git.hub import Hub
from gnp.git.registry import register
from gnp.host import keys
from tests.helpers.hubs import make


def test_keygen_keeps_the_private_key_0600_and_registers_the_public_key(
    hub: Hub, gnp_home: Path
) -> None:
    path = register(hub, "alice")
    assert path.is_relative_to(gnp_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert hub.state().keyring_text["alice"].startswith("ssh-ed25519 ")
    verify(make(hub, "alice"), hub.state().keyring())


def test_keygen_never_replaces_a_key_silently(hub: Hub) -> None:
    register(hub, "alice")
    with pytest.raises(UsageError, match="already has a key on this hub"):
        register(hub, "alice")
    old = hub.state().keyring_text["alice"]
    register(hub, "alice", force=True)
    assert hub.state().keyring_text["alice"] != old


def test_a_missing_key_says_how_to_make_one(hub: Hub) -> None:
    with pytest.raises(UsageError, match="gnp keygen bob --hub HUB"):
        keys.load(hub.state().hub_id, "bob")


def test_bad_worker_ids_are_refused(hub: Hub) -> None:
    from gnp import Malformed

    with pytest.raises(Malformed, match="worker id"):
        register(hub, "Not Valid")
