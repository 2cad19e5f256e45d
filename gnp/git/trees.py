"""Building trees in git's object database, without a checkout.

Theory of operation: a frame changes a handful of files in a state that may hold a
hundred thousand. :func:`edit` rewrites only the trees on the paths from the root to
the changed files and reuses every other subtree by id, so the cost of a commit grows
with the number of files changed, never with the number of files kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pygit2

from gnp.core.errors import UsageError

BLOB = pygit2.enums.FileMode.BLOB
TREE = pygit2.enums.FileMode.TREE

Change = bytes | pygit2.Oid | None  # new content, an existing blob, or None: remove


def edit(
    repo: pygit2.Repository, base: pygit2.Tree | None, changes: Mapping[str, Change]
) -> pygit2.Oid:
    """The id of ``base`` with each path in ``changes`` written or removed."""
    nested: dict[str, Change] = {}
    grouped: dict[str, dict[str, Change]] = {}
    for path, change in changes.items():
        head, sep, rest = path.partition("/")
        if not head or (sep and not rest):
            raise UsageError(f"cannot write {path!r} into a tree: empty path segment")
        if sep:
            grouped.setdefault(head, {})[rest] = change
        else:
            nested[head] = change
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    for name, change in nested.items():
        if change is None:
            if builder.get(name) is not None:
                builder.remove(name)
        else:
            blob = change if isinstance(change, pygit2.Oid) else repo.create_blob(change)
            builder.insert(name, blob, BLOB)
    for name, sub_changes in grouped.items():
        entry = base[name] if base is not None and name in base else None
        subtree = entry if isinstance(entry, pygit2.Tree) else None
        new = edit(repo, subtree, sub_changes)
        if len(repo[new]) == 0:  # type: ignore[arg-type]  # a tree: len is its entries
            if builder.get(name) is not None:
                builder.remove(name)
        else:
            builder.insert(name, new, TREE)
    return builder.write()


def read(tree: pygit2.Tree, path: str) -> bytes | None:
    """The content of the blob at ``path``, or None if there is none."""
    found = blob(tree, path)
    return None if found is None else found.data


def blob(tree: pygit2.Tree, path: str) -> pygit2.Blob | None:
    """The blob at ``path`` (a file or a symbolic link), or None if there is none."""
    try:
        obj = tree[path]
    except KeyError:
        return None
    return obj if isinstance(obj, pygit2.Blob) else None


def subtree(tree: pygit2.Tree, path: str) -> pygit2.Tree | None:
    try:
        obj = tree[path]
    except KeyError:
        return None
    return obj if isinstance(obj, pygit2.Tree) else None


def blobs(tree: pygit2.Tree) -> Iterator[tuple[str, pygit2.Blob]]:
    """Every blob of ``tree`` (files and symbolic links) with its path; submodules,
    which are not ours, are left out. A stack, not recursion: trees may nest deep."""
    stack: list[tuple[str, pygit2.Tree]] = [("", tree)]
    while stack:
        prefix, current = stack.pop()
        for entry in current:
            if isinstance(entry, pygit2.Tree):
                stack.append((f"{prefix}{entry.name}/", entry))
            elif isinstance(entry, pygit2.Blob):
                yield f"{prefix}{entry.name}", entry


MAX_DEPTH = 64  # deeper than any path gnp writes; a deeper tree is reported, not walked


def changes(old: pygit2.Tree, new: pygit2.Tree, limit: int = 100) -> list[tuple[str, str]]:
    """(status, path) of blobs added (A), deleted (D) or modified (M) from ``old`` to ``new``.

    Descends only into subtrees whose ids differ, so comparing a delta commit with its
    parent costs the depth of the delta file, not the size of the state; stops after
    ``limit`` changes.
    """
    out: list[tuple[str, str]] = []
    _changes(old, new, "", out, limit)
    return out


def _changes(
    old: pygit2.Tree | None,
    new: pygit2.Tree | None,
    prefix: str,
    out: list[tuple[str, str]],
    limit: int,
) -> None:
    if prefix.count("/") >= MAX_DEPTH:
        out.append(("M", f"{prefix}... (nested deeper than {MAX_DEPTH} folders)"))
        return
    before = {str(e.name): e for e in old} if old is not None else {}
    after = {str(e.name): e for e in new} if new is not None else {}
    for name in sorted(before.keys() | after.keys()):
        if len(out) >= limit:
            return
        a, b = before.get(name), after.get(name)
        if a is not None and b is not None and a.id == b.id and a.filemode == b.filemode:
            continue
        a_tree = a if isinstance(a, pygit2.Tree) else None
        b_tree = b if isinstance(b, pygit2.Tree) else None
        if a_tree is not None or b_tree is not None:
            _changes(a_tree, b_tree, f"{prefix}{name}/", out, limit)
            if a is not None and a_tree is None and len(out) < limit:
                out.append(("D", f"{prefix}{name}"))
            if b is not None and b_tree is None and len(out) < limit:
                out.append(("A", f"{prefix}{name}"))
            continue
        status = "A" if a is None else "D" if b is None else "M"
        out.append((status, f"{prefix}{name}"))
