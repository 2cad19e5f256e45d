"""Prefect deployments: scheduled frames and replay, served or deployed to a work pool."""

from gnp_deployments.schedules import FRAME_CRON, REPLAY_CRON, build

__all__ = ["FRAME_CRON", "REPLAY_CRON", "build"]
