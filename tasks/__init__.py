"""Prefect tasks: thin wrappers that call gnp (run a worker, collect the inbox, merge,
write lineage). Arrows point down only: deployments -> flows -> tasks -> gnp."""
