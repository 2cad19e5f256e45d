"""Who made the commits on ``main``: each one judged against :mod:`gnp.core.history`.

Theory of operation: the engine builds every frame on the ``main`` it read; if
something other than gnp moved ``main`` (a plain ``git commit`` or push, a merge, a
rewritten history), a frame built on it would carry that change forward as if the
protocol had made it. So before a frame the engine judges ``main``'s tip
(:func:`check_tip`: its kind, its parent's frame, and what it changed, reading only the
trees that differ, and not below a folder its kind may change wholesale, such as the
ledger), and refuses to build on a commit of no known kind, saying how to recover.
``gnp verify`` judges every commit of ``main``'s first-parent history the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pygit2

from gnp.core import canonical
from gnp.core.errors import GnpError, Refused
from gnp.core.history import Foreign, Recognised, judge, recognise
from gnp.core.layout import FRAME_FILE, MAIN
from gnp.git import trees
from gnp.git.hub import Hub

_SHOWN = 4  # paths a judgement needs to name: a few say enough


def judged(commit: pygit2.Commit) -> Recognised | Foreign:
    """``commit`` judged: its kind, its trailers, its parent's frame, what it changed."""
    parents = [str(p) for p in commit.parent_ids]
    recognised = recognise(commit.message, parents)
    if isinstance(recognised, Foreign):
        return recognised
    parent = commit.parents[0] if commit.parents else None
    changed: list[str] = []
    _changed(parent.tree if parent else None, commit.tree, "", recognised, changed)
    return judge(recognised, changed, frame_of(parent) if parent else None)


def frame_of(commit: pygit2.Commit) -> int | None:
    """The last frame ``commit`` says was merged (its ``.gnp/frame.json``), if readable."""
    data = trees.read(commit.tree, FRAME_FILE)
    try:
        number = canonical.decode(data).get("frame") if data is not None else None
    except (Refused, AttributeError):
        return None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def _changed(
    old: pygit2.Tree | None,
    new: pygit2.Tree | None,
    prefix: str,
    recognised: Recognised,
    out: list[str],
) -> None:
    """Append to ``out`` the paths that differ and that ``recognised`` may not change;
    descend only into trees that differ, and not into a folder it may change wholesale."""
    before = {str(e.name): e for e in old} if old is not None else {}
    after = {str(e.name): e for e in new} if new is not None else {}
    for name in sorted(before.keys() | after.keys()):
        if len(out) >= _SHOWN:
            return
        a, b = before.get(name), after.get(name)
        if a is not None and b is not None and a.id == b.id and a.filemode == b.filemode:
            continue
        path = f"{prefix}{name}"
        a_tree = a if isinstance(a, pygit2.Tree) else None
        b_tree = b if isinstance(b, pygit2.Tree) else None
        if a_tree is not None or b_tree is not None:
            if not recognised.kind.covers(path, recognised.frame):
                _changed(a_tree, b_tree, f"{path}/", recognised, out)
            if (a is not None and a_tree is None) or (b is not None and b_tree is None):
                _one(path, recognised, out)  # a file became a folder, or back
            continue
        if b is not None and b.filemode not in (trees.BLOB, trees.TREE):
            out.append(f"{path} (mode {b.filemode:o})")  # a link, an executable, a submodule
            continue
        _one(path, recognised, out)


def _one(path: str, recognised: Recognised, out: list[str]) -> None:
    if not recognised.kind.allows(path, recognised.frame):
        out.append(path)


def first_parents(commit: pygit2.Commit) -> Iterator[pygit2.Commit]:
    """``commit`` and its first parents, back to the root."""
    current: pygit2.Commit | None = commit
    while current is not None:
        yield current
        current = current.parents[0] if current.parents else None


def last_known(commit: pygit2.Commit) -> pygit2.Commit | None:
    """The newest commit of ``commit``'s first-parent history that gnp could have made."""
    for older in first_parents(commit):
        if isinstance(judged(older), Recognised):
            return older
    return None


def check_tip(hub: Hub, tip: pygit2.Commit) -> None:
    """Refuse, with how to recover, a ``main`` whose tip gnp did not make."""
    found = judged(tip)
    if isinstance(found, Recognised):
        return
    short = str(tip.id)[:12]
    where = hub.url or str(hub.path)
    git = "git" if hub.url else f"git -C {where}"
    good = last_known(tip)
    if good is None:
        undo = "no commit of its history was made by gnp"
    else:
        undo = (
            f"reset main to its last gnp commit {str(good.id)[:12]} with "
            f"`{git} update-ref {MAIN} {good.id} {tip.id}` on the hub"
        )
    raise GnpError(
        f"main's tip {short} was not made by gnp ({found.reason}); no frame is built on it: "
        f"{undo}, or run `gnp verify --hub {where}` to see every problem"
    )
