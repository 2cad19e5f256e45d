"""A Dask worker that offers the keys it holds: ``dask worker ADDRESS --preload
gnp_tasks.cluster``. Each key in the worker's ``$GNP_HOME`` becomes a resource of the
scheduler's (:mod:`gnp.frame.cluster`), so that a roster worker's task runs only where
its key is. The keys are looked up once, as the Dask worker starts: restart it after a
``gnp keygen`` for it to offer the new key."""

from __future__ import annotations

from distributed import Worker

from gnp.frame.cluster import offered


def dask_setup(worker: Worker) -> None:
    """Dask calls this before the worker registers with the scheduler, whose record of
    the worker's resources is taken from these."""
    offers = offered()
    worker.state.total_resources.update(offers)
    worker.state.available_resources.update(offers)
