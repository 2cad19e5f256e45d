"""The hub: the canonical repository, and what ``main`` says about the protocol.

Theory of operation: ``main`` on the hub is the truth, and only the merge engine (and
the owner's ``gnp init``, ``keygen``, ``declare`` and ``grant``) moves it, always by
compare-and-swap from the commit it read, so two writers can never both win. The
protocol keeps its own files under ``.gnp/`` on ``main``:

* ``protocol.json``: protocol version, this hub's id, the delta limits (the window
  around the engine's clock among them);
* ``frame.json``: the number of the last merged frame;
* ``keyring.json``: ``{worker: "ssh-ed25519 ..."}``, whose keys deltas must verify against;
* ``types.json``: declared merge types, ``{file: {pointer: "counter" | "append" | "set"}}``;
* ``grants.json``: ``{worker: {"authority": N, "files": [glob, ...]}}``, what each worker's
  deltas may claim (:mod:`gnp.core.grants`; absent until the owner's first ``gnp grant``);
* ``ledger/<id[:2]>/<id[2:]>``: one entry per settled delta, holding its frame number;
* ``frames/<N>/``: the archive of frame N (its deltas and their verdicts), for replay.

Workers never need a checkout of the hub: everything here reads trees and blobs and
builds new ones in the object database.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from gnp.core import canonical
from gnp.core.document import ABSENT
from gnp.core.errors import GnpError, UsageError
from gnp.core.grants import Grants
from gnp.core.grants import parse as parse_grants
from gnp.core.layout import (
    FRAME_FILE,
    GRANTS_FILE,
    KEYRING_FILE,
    MAIN,
    PROTOCOL_FILE,
    TYPES_FILE,
    delta_path,
    ledger_path,
    parse_ref,
)
from gnp.core.limits import DEFAULT_LIMITS, Limits
from gnp.core.signing import Keyring, keyring_from_json
from gnp.git import trees, userconfig

PROTOCOL = 1

# For hubs served by git-daemon or ssh: a push may only create a new inbox ref named
# refs/gnp/inbox/<worker>/<64 hex>. No deletes, no rewrites of an existing ref (one
# worker cannot remove or replace another's delta), nothing outside the inbox. The engine
# writes main in-process, without a push, so the hook never stands in its way.
UPDATE_HOOK = r"""#!/bin/sh
zero=0000000000000000000000000000000000000000
ref="$1" old="$2" new="$3"
if printf '%s\n' "$ref" | grep -Eq '^refs/gnp/inbox/[a-z0-9][a-z0-9._-]{0,63}/[0-9a-f]{64}$'; then
  if [ "$old" = "$zero" ] && [ "$new" != "$zero" ]; then exit 0; fi
  echo "gnp hub: $ref exists already; an inbox ref is created once and never rewritten" >&2
  exit 1
fi
echo "gnp hub: only the merge engine moves $ref; push deltas to refs/gnp/inbox/<worker>/<id>" >&2
exit 1
"""


def engine_signature() -> pygit2.Signature:
    return pygit2.Signature("gnp engine", "engine@gnp.invalid", int(time.time()), 0)


def owner_signature(repo: pygit2.Repository) -> pygit2.Signature:
    """Who an owner's command (init, keygen, declare, grant) is authored by: the user's
    git identity (``user.name`` and ``user.email``) when one is configured, so that the
    hub's history says who registered a key or raised a grant; else the engine's. The
    committer stays the engine: the commit is still gnp's, of a kind it judges."""
    try:
        return repo.default_signature
    except (KeyError, ValueError, pygit2.GitError):  # no identity configured
        return engine_signature()


@dataclass(frozen=True, slots=True)
class State:
    """What one commit of ``main`` says about the protocol."""

    commit: pygit2.Commit
    hub_id: str
    frame: int
    limits: Limits
    keyring_text: dict[str, str]
    types: dict[str, dict[str, str]]
    grants: Grants

    @property
    def tree(self) -> pygit2.Tree:
        return self.commit.tree

    def keyring(self) -> Keyring:
        return keyring_from_json(self.keyring_text)

    def document(self, file: str) -> Any:
        """The state file's document; raises :class:`Malformed` if it is not JSON."""
        data = trees.read(self.tree, file)
        return ABSENT if data is None else canonical.decode(data)

    def settled(self, delta_id: str) -> bool:
        return trees.read(self.tree, ledger_path(delta_id)) is not None


class Hub:
    """A hub repository opened in this process."""

    def __init__(self, path: Path, repo: pygit2.Repository) -> None:
        self.path = path  # the repository this process reads: the hub, or its mirror
        self.repo = repo
        self.url: str | None = None  # set for a hub reached over git (see RemoteHub)

    @property
    def named(self) -> str:
        """The hub as a command's ``--hub`` names it, for hints that give the command:
        its URL (without any secret), or its path, quoted for a shell."""
        import shlex

        return shlex.quote(self.url or str(self.path))

    @classmethod
    def init(cls, path: str | Path) -> Hub:
        """Create a bare hub whose ``main`` holds empty state and the protocol's files."""
        target = Path(path)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise UsageError(f"{target} already exists and is not empty; choose a new path")
        userconfig.check()  # libgit2 reads it: a FIFO there would hang the init
        try:
            repo = pygit2.init_repository(str(target), bare=True, initial_head="main")
        except (pygit2.GitError, OSError) as exc:
            raise UsageError(f"cannot create a hub at {target}: {exc}") from None
        repo.config["receive.denyDeletes"] = True
        repo.config["receive.denyNonFastForwards"] = True
        hook = target / "hooks" / "update"
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(UPDATE_HOOK)
        hook.chmod(0o755)
        files = {
            PROTOCOL_FILE: {
                "protocol": PROTOCOL,
                "hub": uuid.uuid4().hex,
                "limits": _limits_json(),
            },
            FRAME_FILE: {"frame": 0},
            KEYRING_FILE: {},
            TYPES_FILE: {},
        }
        tree = trees.edit(repo, None, {f: canonical.encode_pretty(v) for f, v in files.items()})
        message = "gnp init: an empty hub\n\nGnp-Frame: 0\n"
        repo.create_commit(MAIN, owner_signature(repo), engine_signature(), message, tree, [])
        return cls(target, repo)

    @classmethod
    def at(cls, path: str | Path) -> Hub:
        """Open the hub whose bare repository is at ``path`` (a hub at a URL:
        :func:`gnp.git.connect.open_hub`)."""
        target = Path(path)
        userconfig.check(target)  # libgit2 reads it on opening: a FIFO there would hang us
        try:
            repo = pygit2.Repository(str(target))
        except (pygit2.GitError, KeyError):
            raise UsageError(
                f"{target} is not a hub; create one with 'gnp init {target}'"
            ) from None
        hub = cls(target, repo)
        if trees.read(hub.main().tree, PROTOCOL_FILE) is None:
            raise UsageError(
                f"{target} is a git repository but not a gnp hub (no {PROTOCOL_FILE} on main)"
            )
        return hub

    def main(self) -> pygit2.Commit:
        try:
            ref = self.repo.lookup_reference(MAIN)
        except KeyError:
            raise UsageError(f"{self.path} has no main branch; is it a gnp hub?") from None
        commit = self.repo[ref.target]
        assert isinstance(commit, pygit2.Commit)
        return commit

    def state(self, commit: pygit2.Commit | None = None) -> State:
        commit = commit or self.main()
        tree = commit.tree
        try:
            protocol = _json(tree, PROTOCOL_FILE)
            frame = _json(tree, FRAME_FILE)["frame"]
            keyring = _json(tree, KEYRING_FILE)
            types = _json(tree, TYPES_FILE)
            granted = trees.read(tree, GRANTS_FILE)  # a hub made before grants has none
            grants = Grants() if granted is None else parse_grants(canonical.decode(granted))
            limits = Limits(**protocol.get("limits", {}))
        except (GnpError, KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"the hub's .gnp/ on commit {commit.id} is damaged: {exc}") from None
        if protocol.get("protocol") != PROTOCOL:
            raise UsageError(
                f"hub speaks protocol {protocol.get('protocol')}; this gnp speaks {PROTOCOL}"
            )
        return State(commit, protocol["hub"], frame, limits, keyring, types, grants)

    def refresh(self) -> None:
        """Bring what this process sees of the hub up to date (a local hub always is)."""

    def create_inbox_ref(self, name: str, commit: pygit2.Oid) -> None:
        """Create an inbox ref. If it exists holding the same delta file, that delta is
        already waiting (one delta, one ref); holding anything else, this one was not
        delivered, and that is an error, as a refused push would be."""
        try:
            self.repo.references.create(name, commit, force=False)
        except pygit2.AlreadyExistsError:
            existing = self.repo.lookup_reference(name).target
            if existing != commit and not self._same_delta(name, existing, commit):
                raise GnpError(
                    f"the hub already holds {name} at another commit ({existing}); "
                    "this delta was not delivered"
                ) from None
        except OSError as exc:
            raise GnpError(f"cannot create {name} on the hub: {exc}") from None

    def _same_delta(self, name: str, a: object, b: pygit2.Oid) -> bool:
        named = parse_ref(name)
        if named is None or not isinstance(a, pygit2.Oid):
            return False
        path = delta_path(*named)
        blobs: list[pygit2.Oid] = []
        for oid in (a, b):
            commit = self.repo.get(oid)
            if not isinstance(commit, pygit2.Commit):
                return False
            try:
                blobs.append(commit.tree[path].id)
            except KeyError:
                return False
        return bool(blobs[0] == blobs[1])

    def delete_ref(self, name: str, expected: pygit2.Oid) -> bool:
        """Delete ``name`` if it still points at ``expected``."""
        try:
            ref = self.repo.lookup_reference(name)
        except KeyError:
            return False
        if ref.target != expected:
            return False  # pushed again since it was read: the next frame decides
        try:
            ref.delete()  # libgit2 checks the old value under the ref lock
        except (pygit2.GitError, OSError):  # moved, or locked by another engine right now
            return False
        return True

    def advance_main(self, base: pygit2.Oid, new: pygit2.Oid, message: str) -> bool:
        """Move main from ``base`` to ``new`` only if it still is ``base``."""
        ref = self.repo.lookup_reference(MAIN)
        if ref.target != base:
            return False
        try:
            ref.set_target(new, message)  # libgit2 checks the old value under the ref lock
        except (pygit2.GitError, OSError):  # moved, or locked by another writer right now
            return False
        return True

    def commit_on_main(
        self,
        changes: Callable[[State], Mapping[str, trees.Change]],
        message: str,
        *,
        tries: int = 20,
    ) -> pygit2.Oid:
        """An owner's commit (not a frame) on main: ``changes`` computed from the commit it
        will follow, swapped in by compare-and-swap, recomputed if main moved."""
        for _ in range(tries):
            self.refresh()
            state = self.state()
            tree = trees.edit(self.repo, state.tree, changes(state))
            new = self.repo.create_commit(
                None,
                owner_signature(self.repo),
                engine_signature(),
                message,
                tree,
                [state.commit.id],
            )
            if self.advance_main(state.commit.id, new, message.splitlines()[0]):
                return new
        raise GnpError(f"main kept moving; gave up after {tries} tries")


def _json(tree: pygit2.Tree, path: str) -> Any:
    data = trees.read(tree, path)
    if data is None:
        raise KeyError(f"{path} is missing")
    return canonical.decode(data)


def _limits_json() -> dict[str, int]:
    return {name: getattr(DEFAULT_LIMITS, name) for name in Limits.__slots__}
