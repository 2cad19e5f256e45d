"""Lineage: one row per delta per frame, in a Parquet dataset partitioned by frame.
:mod:`gnp.lineage.store` writes a frame's rows (pyarrow alone), :mod:`gnp.lineage.read`
reads them back as DataFrames (pandas)."""
