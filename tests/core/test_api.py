"""gnp's public names: the pure protocol, re-exported plainly from ``gnp``."""

from __future__ import annotations

import gnp
import gnp.core.admit
import gnp.core.reduce


def test_every_public_name_is_there_and_nothing_else_is_claimed() -> None:
    assert sorted(gnp.__all__) == sorted(set(gnp.__all__))
    for name in gnp.__all__:
        assert getattr(gnp, name) is not None, name
    assert {"Delta", "Stamp", "reduce", "canonical", "Verdict"} <= set(gnp.__all__)


def test_the_functions_keep_their_names_beside_their_modules() -> None:
    assert callable(gnp.reduce) and gnp.reduce is gnp.core.reduce.reduce
    assert callable(gnp.admit) and gnp.admit is gnp.core.admit.admit
    assert gnp.canonical.__name__ == "gnp.core.canonical"
