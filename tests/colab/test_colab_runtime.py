"""Every lesson runs on Colab from its own install cell (`make test-colab`; not part of `make test`).

Each lesson is run headless (nbclient), top to bottom, on a fresh Colab-like runtime (see
conftest.py) with an older and a newer transformers preinstalled. Nothing is compared: no cell
may raise, and at the end the running kernel must use the versions the install cell pinned,
the runtime's own torch, and the course package installed from this checkout.

$LLMCOURSE_COLAB_LESSONS (paths, space-separated) runs other notebooks instead, e.g. a copy
with its install cell removed.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from colab_runtimes import LOCK, ROOT, TORCH, TRANSFORMERS
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from scripts import colab

pytestmark = [
    pytest.mark.colab,
    pytest.mark.skipif(not os.environ.get("LLMCOURSE_TEST_COLAB"),
                       reason="builds Colab-like runtimes and runs whole lessons (minutes): `make test-colab`"),
]
LESSONS = [Path(p) for p in os.environ.get("LLMCOURSE_COLAB_LESSONS", "").split()] or [
    next((ROOT / "notebooks").glob(f"{number}_*.ipynb")) for number in ("00", "01", "03", "05")]
CELL_TIMEOUT_S = 1200  # the install cell on a busy machine; a lesson's slowest cell is far below
PIN = re.compile(r'"([A-Za-z0-9_.-]+)==([^"]+)"')
# The last cell appended to each run: what the kernel has installed and what it has imported.
STACK_CELL = """\
import importlib.metadata, json, sys
names = {"transformers", "bitsandbytes", "accelerate", "gguf", "matplotlib_fontja", "torch", "numpy", "llmcourse"}
print(json.dumps({
    "installed": {dist.metadata["Name"].lower().replace("_", "-"): dist.version
                  for dist in importlib.metadata.distributions()},
    "imported": {name: getattr(sys.modules[name], "__version__", None) for name in names if name in sys.modules},
    "llmcourse": getattr(sys.modules.get("llmcourse"), "__file__", None),
}))"""


def shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def tagged_install_cell(notebook) -> dict | None:
    cells = [cell for cell in notebook.cells if colab.INSTALL_TAG in cell.get("metadata", {}).get("tags", [])]
    return cells[0] if len(cells) == 1 else None


def for_colab(notebook, checkout: str) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The notebook as this test runs it: outputs cleared, llmcourse from ``checkout``, the stack cell at the end.

    Returns the notebook and the pins of its install cell (empty when it has none).
    """
    notebook = nbformat.from_dict(json.loads(json.dumps(notebook)))  # a copy
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    cell = tagged_install_cell(notebook)
    pins = {}
    if cell is not None:
        repository, ref = colab.setting()
        github = f"git+{repository}@{ref}"
        assert github in cell.source, f"the install cell does not install llmcourse from {github}"
        cell.source = cell.source.replace(github, checkout)
        pins = {name.lower(): version for name, version in PIN.findall(cell.source)}
    notebook.cells.append(nbformat.v4.new_code_cell(STACK_CELL))
    return notebook, pins


def execute(notebook, runtime, preimport: tuple[str, ...] = ()) -> None:
    """Run ``notebook`` top to bottom in a new kernel of ``runtime``, then shut the kernel down."""
    kernel = runtime.start_kernel(preimport)
    client = NotebookClient(notebook, km=kernel, timeout=CELL_TIMEOUT_S, startup_timeout=180,
                            resources={"metadata": {"path": str(runtime.folder / "content")}})
    try:
        client.execute(env=runtime.kernel_env())
    finally:
        nbformat.write(notebook, runtime.folder / "executed.ipynb")
        if kernel.has_kernel:  # nbclient leaves a kernel it was given running
            kernel.shutdown_kernel(now=True)


def failure(path: Path, runtime, notebook) -> str:
    """What went wrong, for a reader: the lesson, the runtime, the failing cell and its error."""
    index, cell, error = next((i, c, o) for i, c in enumerate(notebook.cells) if c.cell_type == "code"
                              for o in c.outputs if o.output_type == "error")
    traceback = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback)).splitlines()
    lines = [f"{shown(path)} on a Colab-like runtime with transformers {runtime.base.transformers} preinstalled:",
             f"the cell at index {index} (markdown cells counted) raised {error.ename}: {error.evalue}", "",
             *cell.source.splitlines()[:6], "", *traceback[-12:], ""]
    if tagged_install_cell(notebook) is None:
        lines.append(f"This lesson has no cell tagged {colab.INSTALL_TAG!r}: on Colab nothing installs llmcourse "
                     "or the pinned stack. `make colab` writes it (scripts/colab.py).")
    lines.append(f"The executed copy: {shown(runtime.folder / 'executed.ipynb')}")
    return "\n".join(lines)


def seconds(cell) -> float:
    """How long ``cell`` ran (nbclient records it in the cell's metadata)."""
    timing = cell["metadata"].get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() if start and end else 0.0


def stack(notebook) -> dict:
    outputs = notebook.cells[-1].outputs
    return json.loads("".join(o.get("text", "") for o in outputs if o.output_type == "stream"))


def assert_stack(notebook, pins: dict[str, str], runtime) -> None:
    """The kernel runs the pinned versions, the runtime's torch and llmcourse from this checkout."""
    found = stack(notebook)
    installed, imported = found["installed"], found["imported"]
    wrong = {name: installed.get(name) for name, version in pins.items() if installed.get(name) != version}
    assert not wrong, f"installed {wrong}, but the install cell pinned { {n: pins[n] for n in wrong} }"
    stale = {name: version for name, version in imported.items()
             if version and name != "llmcourse" and installed.get(name.replace("_", "-")) != version}
    assert not stale, f"the kernel still runs {stale}, not the installed versions (a restart would be needed)"
    assert installed["torch"].split("+")[0] == TORCH, f"pip replaced the runtime's torch: {installed}"
    assert found["llmcourse"] and found["llmcourse"].startswith(str(runtime.venv)), found["llmcourse"]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
@pytest.mark.parametrize("transformers", TRANSFORMERS, ids=lambda v: f"transformers-{v}")
def test_lesson_runs_on_colab_from_its_install_cell(path, transformers, bases, snapshot, fresh_runtime):
    runtime = fresh_runtime(bases[transformers], f"{transformers}-{path.stem}")
    notebook, pins = for_colab(nbformat.read(path, as_version=4), snapshot)
    started = time.monotonic()
    try:
        execute(notebook, runtime)
    except CellExecutionError:
        failed = True
    else:
        failed = False
    if failed:  # outside the except block: the message alone, not nbclient's traceback too
        pytest.fail(failure(path, runtime, notebook), pytrace=False)
    assert_stack(notebook, pins, runtime)
    install = seconds(tagged_install_cell(notebook) or {"metadata": {}})
    print(f"\n{path.stem} with transformers {transformers} preinstalled: ran in {time.monotonic() - started:.0f} s, "
          f"its install cell (pip and the model) in {install:.0f} s")
    (runtime.folder / "passed").touch()


def test_the_install_cell_asks_for_a_restart_when_transformers_was_imported_first(bases, snapshot, fresh_runtime):
    """A session that imported the preinstalled transformers keeps it: the cell says so, and a restart helps."""
    older = TRANSFORMERS[0]
    if older == LOCK["transformers"]:
        pytest.skip(f"the first runtime already has the pinned transformers {older}: nothing to restart for")
    runtime = fresh_runtime(bases[older], f"{older}-restart")
    cell = nbformat.v4.new_code_cell(colab.install_cell(), metadata={"tags": [colab.INSTALL_TAG]})
    notebook, pins = for_colab(nbformat.v4.new_notebook(cells=[cell]), snapshot)
    with pytest.raises(CellExecutionError) as raised:
        execute(notebook, runtime, preimport=("transformers",))
    assert "Runtime > Restart session" in str(raised.value), str(raised.value)[-2000:]
    # Runtime > Restart session: a new kernel in the same runtime, the packages installed before kept
    notebook, pins = for_colab(nbformat.v4.new_notebook(cells=[cell]), snapshot)
    execute(notebook, runtime)
    assert_stack(notebook, pins, runtime)
    (runtime.folder / "passed").touch()
