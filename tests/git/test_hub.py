from __future__ import annotations

from pathlib import Path

import pytest

from gnp import UsageError, canonical
from gnp.core.layout import KEYRING_FILE
from gnp.git.connect import open_hub
from gnp.git.hub import Hub
from tests.helpers.hubs import git


def test_init_makes_a_bare_hub_plain_git_can_read(hub: Hub) -> None:
    assert hub.repo.is_bare
    state = hub.state()
    assert (state.frame, state.keyring_text, state.types) == (0, {}, {})
    assert state.limits.max_ops == 1000
    assert git("-C", str(hub.path), "fsck", "--strict").returncode == 0
    log = git("-C", str(hub.path), "log", "--format=%s%n%b", "main").stdout
    assert "gnp init" in log and "Gnp-Frame: 0" in log


def test_init_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(UsageError, match="already exists and is not empty"):
        Hub.init(tmp_path / "busy")


def test_open_refuses_what_is_not_a_hub(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a hub; create one with 'gnp init"):
        open_hub(tmp_path / "nothing")
    git("init", "-q", "--bare", "-b", "main", str(tmp_path / "plain.git"))
    with pytest.raises(UsageError):
        open_hub(tmp_path / "plain.git")


@pytest.mark.damages_hub  # its commits are placeholders, made by no gnp command
def test_advance_main_is_compare_and_swap(hub: Hub) -> None:
    base = hub.main()
    sig = base.author
    one = hub.repo.create_commit(None, sig, sig, "one", base.tree.id, [base.id])
    two = hub.repo.create_commit(None, sig, sig, "two", base.tree.id, [base.id])
    assert hub.advance_main(base.id, one, "one")
    assert not hub.advance_main(base.id, two, "two")  # main is no longer base
    assert hub.main().id == one


@pytest.mark.damages_hub  # placeholders, not keys, in the keyring
def test_owner_commits_recompute_on_a_moved_main(hub: Hub) -> None:
    calls = []

    def add(name: str):  # type: ignore[no-untyped-def]
        def change(state):  # type: ignore[no-untyped-def]
            calls.append(name)
            if name == "first" and len(calls) == 1:
                # Someone else moves main between our read and our swap.
                hub.commit_on_main(add("second"), "second")
            ring = {**state.keyring_text, name: "x"}
            return {KEYRING_FILE: canonical.encode_pretty(ring)}

        return change

    hub.commit_on_main(add("first"), "first")
    assert set(hub.state().keyring_text) == {"first", "second"}  # nothing lost
