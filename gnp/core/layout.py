"""Names the protocol gives things on the hub: refs, and paths under ``.gnp/`` on main.

Pure: no git here, so the core (settle, replay's arithmetic) can name things without
importing the git shell.
"""

from __future__ import annotations

import re

from gnp.core.limits import WORKER_ID

MAIN = "refs/heads/main"
INBOX_REFS = "refs/gnp/inbox/"
PROTOCOL_FILE = ".gnp/protocol.json"
FRAME_FILE = ".gnp/frame.json"
KEYRING_FILE = ".gnp/keyring.json"
TYPES_FILE = ".gnp/types.json"
GRANTS_FILE = ".gnp/grants.json"
LEDGER_DIR = ".gnp/ledger"
FRAMES_DIR = ".gnp/frames"
INBOX_DIR = ".gnp/inbox"

_REF = re.compile(re.escape(INBOX_REFS) + r"(?P<worker>[^/]+)/(?P<id>[^/]+)")
_ID = re.compile(r"[0-9a-f]{64}")


def ledger_path(delta_id: str) -> str:
    return f"{LEDGER_DIR}/{delta_id[:2]}/{delta_id[2:]}"


def frame_dir(frame: int) -> str:
    return f"{FRAMES_DIR}/{frame:06d}"


def ref_name(worker: str, delta_id: str) -> str:
    return f"{INBOX_REFS}{worker}/{delta_id}"


def delta_path(worker: str, delta_id: str) -> str:
    return f"{INBOX_DIR}/{worker}/{delta_id}.json"


def parse_ref(ref: str) -> tuple[str, str] | None:
    """(worker, delta id) named by an inbox ref, or None if it is not one."""
    match = _REF.fullmatch(ref)
    if not match or not WORKER_ID.fullmatch(match["worker"]) or not _ID.fullmatch(match["id"]):
        return None
    return match["worker"], match["id"]
