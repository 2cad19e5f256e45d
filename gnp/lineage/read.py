"""Reading lineage back, as pandas DataFrames: what ``gnp lineage``, the notebooks and
postmortems use. Apart from :mod:`gnp.lineage.store`, so that a frame, which only writes
its rows, never loads pandas.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pds
import pyarrow.fs as pafs

from gnp.core import canonical
from gnp.core.errors import UsageError
from gnp.core.inert import inert
from gnp.core.verdict import REPORTED
from gnp.lineage.store import SCHEMA, location

_OUTCOMES = [o.value for o in REPORTED]  # column names, in the order reports use


def read(
    root: str,
    *,
    frame: int | None = None,
    frames: tuple[int, int] | None = None,
    worker: str | None = None,
    status: str | None = None,
    since: int | None = None,
) -> pd.DataFrame:
    """Lineage rows as a DataFrame, reading only the frames asked for: one ``frame``, a
    span of ``frames`` or every frame ``since`` one, of one ``worker``, with one
    ``status`` (applied, rejected, conflict, duplicate, fallback)."""
    fs, base = location(root)
    try:
        info = fs.get_file_info(base)
    except OSError as exc:
        raise UsageError(f"cannot read lineage at {root}: {exc}") from None
    if info.type == pafs.FileType.NotFound:
        return SCHEMA.empty_table().to_pandas()
    dataset = pds.dataset(
        base,
        filesystem=fs,
        format="parquet",
        partitioning="hive",
        schema=SCHEMA,
        exclude_invalid_files=True,
    )
    condition = None
    if frame is not None:
        condition = pds.field("frame") == frame
    if frames is not None:
        span = (pds.field("frame") >= frames[0]) & (pds.field("frame") <= frames[1])
        condition = span if condition is None else condition & span
    if since is not None:
        later = pds.field("frame") >= since
        condition = later if condition is None else condition & later
    if worker is not None:
        by_worker = pds.field("worker") == worker
        condition = by_worker if condition is None else condition & by_worker
    if status is not None:
        if status not in _OUTCOMES:
            raise UsageError(f"no status {status!r}: one of {', '.join(_OUTCOMES)}")
        by_status = pds.field("status") == status
        condition = by_status if condition is None else condition & by_status
    table = dataset.to_table(filter=condition)
    # Integers stay integers where a row has none (a refused push has no authority):
    # pandas would otherwise make the whole column float, and show 2 as 2.0.
    frame_ = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    return frame_.sort_values(["frame"], kind="stable").reset_index(drop=True)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """The per-frame summary of lineage rows: one row per frame with its deltas counted
    by status, main before and after, the flow run and how long the frame took."""
    per_frame = rows.groupby("frame", sort=True).agg(
        deltas=("status", "size"),
        base_commit=("base_commit", "first"),
        result_commit=("result_commit", "first"),
        flow_run_id=("flow_run_id", "first"),
        frame_seconds=("frame_seconds", "first"),
    )
    counts = pd.crosstab(rows["frame"], rows["status"]).reindex(columns=_OUTCOMES, fill_value=0)
    columns = ["frame", "deltas", *_OUTCOMES, *per_frame.columns.drop("deltas")]
    joined = per_frame.join(counts).reset_index() if len(rows) else None
    if joined is None:
        return pd.DataFrame(columns=columns)
    return joined[columns]


def to_json(frame: pd.DataFrame) -> str:
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return canonical.encode_pretty(
        [{k: (list(v) if hasattr(v, "tolist") else v) for k, v in r.items()} for r in records]
    ).decode("utf-8")


def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` to show a person (a notebook's table): every string in it inert
    (:func:`gnp.core.inert.inert`), lists of strings too, so that a reason or a field name
    a worker wrote cannot hide or fake what is around it. The rows are the same."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(_inert_value)
    return out


def _inert_value(value: object) -> object:
    if isinstance(value, str):
        return inert(value)
    listed = value.tolist() if hasattr(value, "tolist") else value  # a numpy array of files
    if isinstance(listed, (list, tuple)):
        return [inert(v) if isinstance(v, str) else v for v in listed]
    return value
