"""The frame as Prefect shows it: `gnp frame` names its flow run's page in the UI, and
the frame's artifact, opened in the real Prefect UI by a real headless Chromium, shows
the verdict table (what the README's screenshot shows)."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

from gnp.git.hub import Hub
from gnp.git.registry import register
from tests.helpers.cli import cli
from tests.helpers.hubs import incr, push_raw, send
from tests.helpers.real import need

BROWSER_SECONDS = 180


def browse(chromium: str, url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Chromium, headless, on ``url``: the page as it is once its scripts have run."""
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox will not start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=30000",  # the UI's requests to the API, answered
            "--window-size=1400,900",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=BROWSER_SECONDS,
    )


def artifact_of(api: str, flow_run_id: str) -> str:
    query = json.dumps({"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}).encode()
    request = urllib.request.Request(
        f"{api}/artifacts/filter", data=query, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        [artifact] = json.loads(answer.read())
    return str(artifact["id"])


def test_the_frames_artifact_shows_its_verdicts_in_the_prefect_ui(
    prefect_api: str, hub: Hub, tmp_path: Path
) -> None:
    chromium = need("chromium")["chromium"]
    send(hub, "alice", incr())
    register(hub, "mallory")
    push_raw(hub, "mallory", "cd" * 32, b"not json at all")

    ran = cli("frame", "--hub", str(hub.path), timeout=300)
    assert ran.returncode == 0, ran.stderr
    said = re.search(
        r"in the Prefect UI: (http://\S+/runs/flow-run/([0-9a-f-]{36}))$", ran.stderr, re.M
    )
    assert said is not None, ran.stderr
    flow_run_page, flow_run_id = said[1], said[2]
    assert flow_run_page.startswith(prefect_api.removesuffix("/api"))

    artifact = artifact_of(prefect_api, flow_run_id)
    page = f"{prefect_api.removesuffix('/api')}/artifacts/artifact/{artifact}"
    dom = browse(chromium, page, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "frame 1: 1 applied, 1 rejected" in html  # the headline, rendered
    tables = re.findall(r"<table.*?</table>", html, re.S)
    assert any(">verdict<" in t and ">applied<" in t and ">rejected<" in t for t in tables), html
    assert any(">mallory<" in t and "JSON" in t for t in tables), tables  # the reason, whole

    shot = tmp_path / "artifact.png"
    pictured = browse(chromium, page, tmp_path / "profile", f"--screenshot={shot}")
    assert pictured.returncode == 0, pictured.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
