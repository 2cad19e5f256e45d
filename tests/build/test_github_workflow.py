"""The example GitHub Actions workflow (docs/github/gnp-frame.yml) is one a user can
copy: valid YAML of the shape GitHub runs, scheduled, and every gnp command in it is one
the command line accepts, options included (parsed by gnp's own parser, not run)."""

from __future__ import annotations

import os
import re
import shlex
from typing import Any

import pytest
import typer.main
import yaml

from gnp_cli.app import app
from tests.helpers import ROOT

WORKFLOW = ROOT / "docs" / "github" / "gnp-frame.yml"


def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def gnp_lines() -> list[list[str]]:
    """Every `gnp ...` command of the workflow's run steps, as argv, with GitHub's
    ${{ }} expressions and shell variables standing for values."""
    lines = []
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                line = re.sub(r"\$\{\{[^}]*\}\}", "VALUE", line)
                argv = shlex.split(line, comments=True)
                if argv and argv[0] == "gnp":
                    lines.append([os.path.expandvars(arg) for arg in argv[1:]])
    return lines


def test_the_workflow_is_scheduled_and_runs_one_frame_at_a_time() -> None:
    flow = workflow()
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    crons = [entry["cron"] for entry in triggers["schedule"]]
    assert crons and all(len(cron.split()) == 5 for cron in crons)
    assert flow["concurrency"]["cancel-in-progress"] is False
    steps = [step for job in flow["jobs"].values() for step in job["steps"]]
    assert all(("run" in step) != ("uses" in step) for step in steps)


def test_the_workflow_pins_the_host_key_and_writes_no_key_to_disk() -> None:
    text = WORKFLOW.read_text()
    assert "known_hosts" in text and "ssh-keyscan" not in text  # pinned, not learned
    assert "ssh-add -" in text  # the key goes to the agent from stdin, not to a file
    assert not re.search(r">\s*\S*(\.pem|id_\w+|engine)\b", text)


@pytest.mark.parametrize("argv", gnp_lines(), ids=lambda argv: " ".join(argv[:1]))
def test_every_gnp_command_of_the_workflow_parses(argv: list[str]) -> None:
    command = typer.main.get_command(app)
    context = command.make_context("gnp", [argv[0], "--help"], resilient_parsing=True)
    sub = command.get_command(context, argv[0])  # type: ignore[attr-defined]
    assert sub is not None, f"gnp has no command {argv[0]!r}"
    sub.make_context(argv[0], list(argv[1:]))  # raises on an unknown option or argument


def test_the_workflow_runs_a_frame_and_verifies_the_hub() -> None:
    assert [argv[0] for argv in gnp_lines()] == ["frame", "verify"]
