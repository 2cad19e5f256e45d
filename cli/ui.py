"""Where a flow run is in the Prefect UI, when the server in use has one.

A server serves its UI beside its API (``http://host:4200`` beside ``.../api``) unless
it was started without (``PREFECT_SERVER_UI_ENABLED=false``, as the server ``gnp`` starts
for one command is: it is gone when the command ends). The UI answers ``/ui-settings``
with the API URL it talks to; no answer, no UI, no link. Best effort and quick: a link
is not worth delaying or failing a frame for.
"""

from __future__ import annotations

import json
import urllib.request

_SECONDS = 3


def ui_base(api_url: str | None) -> str | None:
    """The UI's address for the server at ``api_url``, if it serves one."""
    if not api_url or not api_url.rstrip("/").endswith("/api"):
        return None  # Prefect Cloud's API has another shape; its own links are in its UI
    base = api_url.rstrip("/").removesuffix("/api")
    try:
        with urllib.request.urlopen(f"{base}/ui-settings", timeout=_SECONDS) as answer:
            settings = json.loads(answer.read(65536))
    except (OSError, ValueError):
        return None
    return base if isinstance(settings, dict) and "api_url" in settings else None


def flow_run_url(flow_run_id: str | None) -> str | None:
    """The UI page of flow run ``flow_run_id`` on the server in use, if it has a UI."""
    if flow_run_id is None:
        return None
    from prefect.settings import get_current_settings

    base = ui_base(get_current_settings().api.url)
    return None if base is None else f"{base}/runs/flow-run/{flow_run_id}"
