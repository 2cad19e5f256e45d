"""Prefect flows: one frame per flow run (fan out -> gather -> merge -> lineage), replay.
Flows read like a recipe; their logic lives in gnp."""
