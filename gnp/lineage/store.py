"""Writing lineage: one row per delta per frame, in a Parquet dataset partitioned by
frame.

Theory of operation: everything a row says is derived from the frame's commit on main
(its archived deltas and verdicts) plus what only the run knows (the flow run id,
timings), so lineage can always be rebuilt from the hub. Each frame is one file,
``frame=<N>/part.parquet``, written to a temporary name and renamed into place: a reader
never sees half a frame, and writing a frame again replaces it, never duplicates it.
The location is any filesystem pyarrow reaches (a folder, ``s3://...``).
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from gnp.core.archive import FrameRecord
from gnp.core.delta import decode
from gnp.core.errors import Refused, UsageError
from gnp.core.verdict import Outcome
from gnp.host import keys

SCHEMA_VERSION = 2  # 2: sha256
SCHEMA = pa.schema(
    [
        pa.field("frame", pa.int64(), nullable=False),
        pa.field("delta_id", pa.string()),  # null: a push whose delta could not be read
        pa.field("source", pa.string(), nullable=False),  # the inbox ref it arrived on
        pa.field("worker", pa.string()),
        pa.field("author", pa.string()),
        pa.field("authority", pa.int64()),
        pa.field("utc", pa.string()),
        pa.field("base_frame", pa.int64()),
        pa.field("op_count", pa.int64()),
        pa.field("files", pa.list_(pa.string())),
        pa.field("status", pa.string(), nullable=False),  # applied rejected conflict ...
        pa.field("code", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("winner", pa.string()),
        pa.field("signature_verified", pa.bool_(), nullable=False),
        pa.field("bytes", pa.int64()),
        pa.field("base_commit", pa.string(), nullable=False),
        pa.field("result_commit", pa.string(), nullable=False),
        pa.field("flow_run_id", pa.string()),
        pa.field("frame_seconds", pa.float64()),
        pa.field("sha256", pa.string()),  # of the delta file; kept for a refused push too
    ],
    metadata={b"gnp.lineage.schema": str(SCHEMA_VERSION).encode()},
)


def rows(
    record: FrameRecord, *, flow_run_id: str | None = None, frame_seconds: float | None = None
) -> list[dict[str, Any]]:
    """The lineage rows of one frame: one per verdict, in the archive's order."""
    out = []
    for verdict in record.verdicts:
        data = record.deltas.get(verdict.source)
        delta = None
        if data is not None:
            try:
                delta = decode(data)
            except Refused:
                delta = None
        admitted = not (verdict.outcome is Outcome.REJECTED and verdict.code in _ADMISSION_CODES)
        verified = delta is not None and admitted
        out.append(
            {
                "frame": record.frame,
                "delta_id": verdict.delta,
                "source": verdict.source,
                "worker": verdict.worker,
                "author": delta.author if delta else None,
                "authority": delta.authority if delta else None,
                "utc": delta.utc if delta else None,
                "base_frame": delta.frame if delta else None,
                "op_count": len(delta.ops) if delta else None,
                "files": sorted({op.file for op in delta.ops}) if delta else [],
                "status": verdict.outcome.value,
                "code": verdict.code,
                "reason": verdict.reason,
                "winner": verdict.winner,
                "signature_verified": bool(verified),
                "bytes": len(data) if data is not None else verdict.size,
                "base_commit": record.base_commit,
                "result_commit": record.result_commit,
                "flow_run_id": flow_run_id,
                "frame_seconds": frame_seconds,
                "sha256": hashlib.sha256(data).hexdigest() if data is not None else verdict.sha256,
            }
        )
    return out


# Codes with which admission refuses a delta before or at its signature check.
_ADMISSION_CODES = frozenset(
    {
        "malformed",
        "bad-pointer",
        "bad-file",
        "too-large",
        "bad-signature",
        "unknown-worker",
        "unreadable",
        "internal-error",
    }
)


def default_root(hub_path: Path, hub_id: str, *, remote: bool) -> str:
    """Where a hub's lineage goes unless told otherwise: inside a local hub's folder (it
    travels with the hub), or under ``$GNP_HOME/lineage/<hub id>`` for a hub at a URL."""
    if remote:
        return str(keys.home() / "lineage" / hub_id)
    return str(hub_path / "gnp-lineage")


def location(root: str) -> tuple[pafs.FileSystem, str]:
    try:
        return (
            pafs.FileSystem.from_uri(root)
            if "://" in root
            else (pafs.LocalFileSystem(), str(Path(root).resolve()))
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise UsageError(f"cannot use {root!r} for lineage: {exc}") from None


def has_frame(root: str, frame: int) -> bool:
    """Whether frame ``frame``'s part is written."""
    fs, base = location(root)
    return bool(fs.get_file_info(f"{base}/frame={frame}/part.parquet").is_file)


def check_writable(root: str) -> None:
    """Raise UsageError unless lineage can be written at ``root``: checked before a frame
    merges, so that a frame is never on main without its lineage."""
    fs, base = location(root)
    probe = f"{base}/.probe-{uuid.uuid4().hex}"
    try:
        fs.create_dir(base, recursive=True)
        with fs.open_output_stream(probe) as stream:
            stream.write(b"")
        fs.delete_file(probe)
    except (pa.ArrowException, OSError) as exc:
        raise UsageError(f"cannot write lineage at {root}: {exc}") from None


def write(root: str, frame_rows: list[dict[str, Any]], frame: int) -> str:
    """Write (or replace) frame ``frame``'s part, atomically; returns its path."""
    fs, base = location(root)
    folder = f"{base}/frame={frame}"
    fs.create_dir(folder, recursive=True)
    table = pa.Table.from_pylist(frame_rows, schema=SCHEMA)
    final = f"{folder}/part.parquet"
    tmp = f"{folder}/.part-{uuid.uuid4().hex}.tmp"
    with fs.open_output_stream(tmp) as stream:
        pq.write_table(table, stream)
    fs.move(tmp, final)  # a rename: readers see the old part or the new, never half
    return final
