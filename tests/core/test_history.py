"""The table of what each kind of commit on main is, and may change."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gnp.core.history import KINDS, Foreign, Recognised, judge, recognise, trailers

BASE = "a" * 40


def _judged(message: str, changed: list[str], parents: tuple[str, ...] = (BASE,), frame=0):  # type: ignore[no-untyped-def]
    return judge(recognise(message, parents), changed, frame)


@pytest.mark.parametrize(
    "message, changed, parents, parent_frame",
    [
        ("gnp init: an empty hub\n\nGnp-Frame: 0\n", [".gnp/protocol.json"], (), None),
        (
            f"gnp frame 3: 1 applied\n\nGnp-Frame: 3\nGnp-Base: {BASE}\nGnp-Deltas: 1\n",
            [
                "a/b.json",
                ".gnp/ledger/ab/cd",
                ".gnp/frames/000003/verdicts.json",
                ".gnp/frame.json",
            ],
            (BASE,),
            2,
        ),
        ("gnp keygen: register a\n\nGnp-Keyring: a\n", [".gnp/keyring.json"], (BASE,), 4),
        ("gnp declare: s.json:/n is a counter\n", [".gnp/types.json"], (BASE,), 4),
        ("gnp grant: a\n\nGnp-Grant: a\n", [".gnp/grants.json"], (BASE,), 4),
        ("gnp seed: the owner's first state\n", ["stats.json"], (BASE,), 0),
    ],
)
def test_every_kind_gnp_writes_is_recognised(
    message: str, changed: list[str], parents: tuple[str, ...], parent_frame: int | None
) -> None:
    assert isinstance(judge(recognise(message, parents), changed, parent_frame), Recognised)


def test_every_kind_is_one_row_with_a_subject_of_its_own() -> None:
    subjects = [k.subject for k in KINDS]
    assert len(set(subjects)) == len(subjects)
    assert all(s.startswith("gnp ") for s in subjects)


@pytest.mark.parametrize(
    "message, changed, parents, why",
    [
        ("add a readme\n", ["README.md"], (BASE,), "is not one gnp writes"),
        ("gnp keygen: x\n\nGnp-Keyring: x\n", ["stats.json"], (BASE,), "may not"),
        ("gnp keygen: x\n", [".gnp/keyring.json"], (BASE,), "lacks Gnp-Keyring"),
        ("gnp keygen: x\n\nGnp-Keyring: ../x\n", [], (BASE,), "is not a worker id"),
        ("gnp declare: x\n", [".gnp/types.json"], (BASE, "b" * 40), "a merge commit"),
        ("gnp init: x\n\nGnp-Frame: 0\n", [], (BASE,), "1 parent(s)"),
        (
            f"gnp frame 2: x\n\nGnp-Frame: 2\nGnp-Base: {'c' * 40}\n",
            [],
            (BASE,),
            "is not its parent",
        ),
        (
            f"gnp frame 2: x\n\nGnp-Frame: 2\nGnp-Base: {BASE}\n",
            [".gnp/frames/000001/verdicts.json"],
            (BASE,),
            "may not",
        ),
        (
            f"gnp frame 2: x\n\nGnp-Frame: 2\nGnp-Base: {BASE}\n",
            [".gnp/keyring.json"],
            (BASE,),
            "may not",
        ),
        (
            f"gnp frame 9: x\n\nGnp-Frame: 9\nGnp-Base: {BASE}\n",
            [],
            (BASE,),
            "parent's last frame is 4",
        ),
        ("gnp seed: x\n", ["stats.json"], (BASE,), "only before frame 1"),
        (
            f"gnp frame 5: x\n\nGnp-Frame: 5\nGnp-Base: {BASE}\nGnp-Wording: 2\nGnp-Wording: 1\n",
            [],
            (BASE,),
            "carries Gnp-Wording more than once",
        ),
    ],
)
def test_what_no_row_admits_is_foreign_with_a_reason(
    message: str, changed: list[str], parents: tuple[str, ...], why: str
) -> None:
    found = judge(recognise(message, parents), changed, 4)
    assert isinstance(found, Foreign) and why in found.reason


def test_a_frame_may_change_its_ledger_and_archive_folders_wholesale() -> None:
    found = recognise(f"gnp frame 2: x\n\nGnp-Frame: 2\nGnp-Base: {BASE}\n", (BASE,))
    assert isinstance(found, Recognised)
    assert found.kind.covers(".gnp/ledger", 2) and found.kind.covers(".gnp/frames/000002", 2)
    assert not found.kind.covers(".gnp/frames/000001", 2) and not found.kind.covers(".gnp", 2)


@given(
    st.dictionaries(
        st.from_regex(r"Gnp-[A-Z][a-z]{1,8}", fullmatch=True),
        st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
        min_size=1,
    )
)
def test_trailers_read_back_what_was_written(written: dict[str, str]) -> None:
    body = "\n".join(f"{k}: {v}" for k, v in written.items())
    assert trailers(f"gnp frame 1: x\n\n{body}\n") == written
    assert trailers(body) == {}  # a subject alone has no trailers
