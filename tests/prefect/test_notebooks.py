"""The notebooks: saved without outputs, and run end to end against a temporary hub.

Each notebook runs in a fresh kernel of this interpreter (a kernelspec written for
``sys.executable``, so a ``python3`` kernelspec elsewhere on the machine cannot substitute
another Python), with parameters injected in a cell after its ``parameters`` cell, the way
papermill does. The kernel inherits this process's environment when it starts: the
Prefect server's ``PREFECT_API_URL`` and the test's own ``GNP_HOME`` and ``TMPDIR``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbformat import NotebookNode

from gnp import demo
from gnp.frame.pipeline import lineage_root
from gnp.git.connect import open_hub
from gnp.lineage import read as lineage
from tests.helpers import ROOT

NOTEBOOKS = ROOT / "notebooks"
KERNEL = "gnp-test-python"
CELL_TIMEOUT = 120  # seconds, for a loaded machine; a whole notebook takes 5 to 20 s here


def test_notebooks_are_saved_without_outputs() -> None:
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert {p.name for p in paths} >= {"run_frame.ipynb", "postmortem.ipynb"}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                where = f"{path.name}, cell {cell.get('id')}"
                assert cell.outputs == [], f"{where} has outputs; clear them before committing"
                assert cell.execution_count is None, f"{where} has an execution count"


def test_notebooks_start_with_their_parameters() -> None:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert "parameters" in first.metadata.get("tags", []), path.name
        if path.name in ("run_frame.ipynb", "postmortem.ipynb"):
            assert "hub_path = None" in first.source.splitlines(), path.name


@pytest.fixture
def kernel(tmp_path: Path) -> KernelManager:
    """A kernel manager whose only kernelspec runs this interpreter."""
    kernels = tmp_path / "kernels"
    write_kernel_spec(kernels / KERNEL)
    specs = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def execute(name: str, km: KernelManager, **parameters: Any) -> NotebookNode:
    """Run notebook ``name`` with ``parameters``; return it with its outputs."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    # The assertions read tables as text: one line per row, however wide.
    injected += "\nimport pandas\npandas.set_option('display.width', 10_000)"
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(injected, id="injected-parameters"))
    nb.cells.append(
        nbformat.v4.new_code_cell("import sys\nprint(sys.executable)", id="which-python")
    )
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT,
        startup_timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS)}},  # run where a user would
    )
    client.execute(cleanup_kc=True)  # and shut the kernel down: nbclient does not own km
    assert output(nb, "which-python").strip() == sys.executable
    return nb


def output(nb: NotebookNode, cell_id: str) -> str:
    """What cell ``cell_id`` printed and displayed, as text."""
    [cell] = [c for c in nb.cells if c.get("id") == cell_id]
    texts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            texts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            texts.append(out.data.get("text/plain", ""))
    return "\n".join(texts)


def svg(nb: NotebookNode, cell_id: str) -> str:
    [cell] = [c for c in nb.cells if c.get("id") == cell_id]
    images = [o.data["image/svg+xml"] for o in cell.outputs if "image/svg+xml" in o.get("data", {})]
    assert len(images) == 1, f"cell {cell_id} shows {len(images)} SVG images"
    return str(images[0])


def row(text: str, *cells: object) -> bool:
    """Whether a text table has a line with these cells, in order, separated by spaces."""
    pattern = " +".join(re.escape(str(c)) for c in cells)
    return re.search(rf"(^| ){pattern}( |$)", text, re.MULTILINE) is not None


def test_run_frame_runs_the_demo_roster_on_a_given_hub(
    prefect_api: str, kernel: KernelManager, tmp_path: Path
) -> None:
    hub = demo.setup(tmp_path / "hub.git")  # keys in this test's GNP_HOME, which the kernel shares
    roster = tmp_path / "roster.json"  # a roster file, as `gnp frame --roster` takes
    roster.write_text(json.dumps(demo.ROSTERS[0]))

    nb = execute("run_frame.ipynb", kernel, hub_path=str(hub.path), roster=str(roster))

    assert f"hub {hub.path}, at frame 0" in output(nb, "hub")
    roster = output(nb, "roster")
    for worker, call in [("poster-1", "gnp.demo:post"), ("flaky", "gnp.demo:crash")]:
        assert row(roster, worker, call), roster
    ran = output(nb, "run")
    assert "frame 1: 4 applied, 0 rejected, 0 conflict, 1 fallback, 0 duplicate" in ran
    counts = output(nb, "counts")
    for outcome, n in [("applied", 4), ("rejected", 0), ("conflict", 0), ("fallback", 1)]:
        assert row(counts, outcome, n), counts
    verdicts = output(nb, "verdicts")
    for worker in ("poster-1", "poster-2", "commenter", "counter"):
        assert row(verdicts, worker, "applied"), verdicts
    assert row(verdicts, "flaky", "fallback"), verdicts
    workers = output(nb, "workers")
    assert row(workers, "flaky", "fallback"), workers
    state = output(nb, "state")
    for counter, before, after in [("posts", 0, 2), ("comments", 0, 1), ("visits", 0, 5)]:
        assert row(state, counter, before, after), state
    assert open_hub(hub.path).state().document("stats.json") == {
        "posts": 2,
        "comments": 1,
        "visits": 5,
    }
    rows = output(nb, "lineage")
    assert row(rows, 1, "flaky", "fallback"), rows
    assert row(rows, 1, "counter", "applied"), rows
    stored = lineage.read(lineage_root(open_hub(hub.path)), frame=1)
    assert sorted(stored["status"]) == ["applied"] * 4 + ["fallback"]
    assert output(nb, "cleanup") == ""  # a hub it was given is left alone
    assert hub.path.is_dir()


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kernel's TMPDIR: where a notebook given no hub makes its demo hub."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def test_run_frame_makes_a_demo_hub_when_given_none(
    prefect_api: str, kernel: KernelManager, temp: Path
) -> None:
    nb = execute("run_frame.ipynb", kernel, hub_path=None)

    said = re.search(r"^hub (\S+), at frame 0$", output(nb, "hub"), re.MULTILINE)
    assert said is not None, output(nb, "hub")
    hub_path = Path(said[1])
    folder = hub_path.parent
    assert folder.parent == temp and folder.name.startswith("gnp-notebook-")
    assert f"its workers' keys in {folder / 'gnp-home'}" in output(nb, "hub")  # beside the hub
    assert "frame 1: 4 applied" in output(nb, "run")
    # The temporary demo hub is removed at the end, and the notebook says so.
    assert output(nb, "cleanup") == f"removed the demo hub's folder {folder}\n"
    assert not folder.exists()


def test_postmortem_of_the_demo_s_second_frame(
    prefect_api: str, kernel: KernelManager, temp: Path
) -> None:
    nb = execute("postmortem.ipynb", kernel, hub_path=None, frame=2, keep_demo_hub=True)

    [hub_path] = temp.glob("gnp-postmortem-*/hub.git")
    assert f"(remove it with: rm -rf {hub_path.parent})" in output(nb, "cleanup")
    assert f"hub {hub_path}: 3 frames; looking into frame 2" in output(nb, "hub")
    stored = lineage.read(lineage_root(open_hub(hub_path)), frame=2)
    lead = stored.loc[stored["worker"] == "scout-lead", "delta_id"].item()
    lost = stored.loc[stored["worker"] == "scout-new", "delta_id"].item()

    assert output(nb, "lineage").startswith("frame 2: 7 deltas; main ")
    deltas = output(nb, "deltas")
    assert row(deltas, lead[:12], "scout-lead", "scout-lead", 2), deltas
    assert row(deltas, lost[:12], "scout-new", "scout-new", 1), deltas
    counts = output(nb, "counts")
    for status, n in [
        ("applied", 4),
        ("rejected", 1),
        ("conflict", 1),
        ("fallback", 1),
        ("duplicate", 0),
    ]:
        assert row(counts, status, n), counts
    verdicts = output(nb, "verdicts")
    assert row(verdicts, "mallory", "rejected", "bad-signature"), verdicts
    assert "it was altered, or signed with another key" in verdicts  # whole, not cut at 50
    assert row(verdicts, "doomed", "fallback"), verdicts
    conflicts = output(nb, "conflicts")
    assert row(conflicts, lost[:12], "scout-new", 1, lead[:12], "scout-lead", 2), conflicts
    assert len(conflicts.strip().splitlines()) == 2  # a header and the one conflict
    assert re.fullmatch(r"frame 2: identical \(tree [0-9a-f]{12}\)\n", output(nb, "replay"))
    history = output(nb, "history")
    for frame, applied, rejected, conflict, fallback in [(1, 4, 0, 0, 1), (2, 4, 1, 1, 1)]:
        assert row(history, frame, applied, rejected, conflict, fallback, 0), history
    plot = svg(nb, "plot")
    assert plot.count("<rect") == 2 + 4 + 2 + 5  # the bars' segments, and the legend
    assert "<title>frame 2: 1 conflict</title>" in plot
    assert "<title>frame 3: 1 fallback</title>" in plot
    assert ">deltas</text>" in plot and ">frame</text>" in plot  # both axes say what they are
    for tick in (0, 3, 7):  # the y axis's ticks: none, half and the most (frame 2's 7)
        assert f'text-anchor="end">{tick}</text>' in plot, plot
