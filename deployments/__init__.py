"""Prefect deployments: scheduled frames and replay, served or deployed to a work pool."""
