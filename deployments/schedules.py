"""What runs when: the frame and replay deployments of one hub, built without a server.

A frame every few minutes is what turns a hub's inbox into state; a nightly replay of
every frame is what proves that state was derived honestly, and fails loudly (a failed
flow run) when it was not. Both are plain objects here so that tests and callers can
inspect them offline; ``gnp serve`` (:mod:`gnp_deployments.serve`) registers and serves
them, ``prefect.yaml`` describes the same two for teams with a work pool.

Entrypoints are module paths (``gnp_flows.frame.frame``): gnp is installed where its flows
run, so a run imports the flow the same way whatever directory the server started in.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any, cast

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from gnp.core.errors import UsageError
from gnp.frame.roster import load, parse
from gnp.git.connect import is_url
from gnp_flows.frame import frame
from gnp_flows.replay import replay

FRAME_CRON = "*/5 * * * *"  # every 5 minutes: deltas wait at most one interval
REPLAY_CRON = "0 3 * * *"  # nightly, 03:00
TIMEZONE = "UTC"  # said outright: one schedule reads the same on every machine
TAGS = ["gnp"]

# One frame at a time: a frame still running when the next is due makes the next one
# cancel itself (the inbox waits for the one after) instead of queueing up behind it.
ONE_FRAME_AT_A_TIME = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
)


def build(
    hub: str,
    roster: str | list[dict[str, Any]] | None = None,
    *,
    name: str | None = None,
    cron: str = FRAME_CRON,
    replay_cron: str = REPLAY_CRON,
    lineage: str | None = None,
    max_workers: int = 8,
    dask: str | None = None,
) -> list[RunnerDeployment]:
    """The frame deployment and the replay deployment of ``hub``, in that order.

    Both are named ``name`` (default: the hub's name), so they show in Prefect as
    ``gnp-frame/<name>`` and ``gnp-replay/<name>``. ``roster`` is a roster file or a
    list (:func:`roster_parameter`). ``dask`` is the address of a Dask scheduler whose
    cluster runs each frame's worker tasks (the flow's ``dask``). Raises UsageError for
    a bad roster, a bad cron string or a bad name, before anything is registered.
    """
    name = name or default_name(hub)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise UsageError(f"deployment name {name!r}: use letters, digits, '.', '_', '-'")
    if max_workers < 1:
        raise UsageError(f"max_workers must be at least 1, not {max_workers}")
    location = _absolute(hub)
    parameters: dict[str, Any] = {
        "hub": location,
        "roster": roster_parameter(roster),
        "max_workers": max_workers,
    }
    if lineage is not None:
        parameters["lineage"] = _absolute(lineage)
    if dask is not None:
        parameters["dask"] = dask
    made = [
        frame.to_deployment(
            name,
            schedule=Cron(check_cron(cron), timezone=TIMEZONE),
            parameters=parameters,
            concurrency_limit=ONE_FRAME_AT_A_TIME,
            description=f"One frame of {location} on '{cron}' ({TIMEZONE}).",
            tags=TAGS,
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        replay.to_deployment(
            name,
            schedule=Cron(check_cron(replay_cron), timezone=TIMEZONE),
            parameters={"hub": location},
            description=f"Replay every frame of {location} on '{replay_cron}' ({TIMEZONE}).",
            tags=TAGS,
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
    ]
    return cast(list[RunnerDeployment], made)  # called from sync code: never a coroutine


def roster_parameter(roster: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The frame deployment's roster: a roster file's workers, their paths resolved from
    its folder, or a list's, from the current folder (:mod:`gnp.frame.roster`). Each
    entry keeps its folder as an absolute ``cwd``, so that a scheduled run resolves them
    the same in whatever folder Prefect's runner starts it."""
    members = load(roster) if isinstance(roster, str) else parse(roster)
    return [m.to_json() for m in members]


def check_cron(cron: str) -> str:
    """``cron`` if it has five fields and Prefect's scheduler accepts it; UsageError
    otherwise (Prefect also takes seconds fields, a frame every second is no schedule)."""
    try:
        if len(cron.split()) != 5:
            raise ValueError(cron)
        CronSchedule(cron=cron)
    except ValueError:  # pydantic's ValidationError is one
        raise UsageError(
            f"{cron!r} is not a cron schedule Prefect accepts (five fields, e.g. '{FRAME_CRON}')"
        ) from None
    return cron


def default_name(hub: str) -> str:
    """The hub's own name: ``/srv/social.git`` and ``git@host:org/social.git`` give
    ``social``."""
    last = PurePosixPath(hub.rstrip("/").rsplit(":", 1)[-1]).name
    stem = last.removesuffix(".git")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "gnp"


def _absolute(location: str) -> str:
    """Runs may start in another directory than the command that registered them."""
    if is_url(location):
        return location
    return str(Path(location).resolve())
