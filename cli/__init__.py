"""The ``gnp`` command: its front door, one Typer app, and the relay that makes ``gnp
submit`` quick. The top layer: it runs flows and serves deployments, so it sits above
them (``gnp_cli -> gnp_deployments -> gnp_flows -> gnp_tasks -> gnp``).
"""
