"""What the browser tests read from and do in JupyterLab's UI: the open notebook's state, Run All Cells.

Shared by test_lab.py and test_explorer.py (a plain module: test modules and conftest.py are not
imported from one another).
"""

from __future__ import annotations

import re
import time

# One snapshot of the open notebook, straight from the DOM.
STATE_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell')];
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const kernel = panel.querySelector('[data-jp-item-name="kernelName"]');
  return {
    kernel: kernel ? kernel.textContent.trim() : '',
    status: indicator ? indicator.dataset.status : '',
    cells: cells.map(cell => ({
      code: cell.classList.contains('jp-CodeCell'),
      prompt: (cell.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
      errors: [...cell.querySelectorAll(
          '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.textContent).filter(t => /Traceback|Error/.test(t)).map(t => t.slice(-1500)),
    })),
  };
}"""


def poll(page, script: str, predicate, timeout_s: float, what: str):
    """Evaluate ``script`` in the page until ``predicate(result)`` holds; return the result."""
    deadline = time.monotonic() + timeout_s
    result = None
    while time.monotonic() < deadline:
        result = page.evaluate(script)
        if result is not None and predicate(result):
            return result
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last seen: {result}")


def wait_for(page, predicate, timeout_s: float, what: str):
    """Poll the notebook state until ``predicate(state)`` holds; return the state."""
    return poll(page, STATE_JS, predicate, timeout_s, what)


def executed(prompt: str) -> bool:
    return re.fullmatch(r"\s*\[\d+\]:\s*", prompt) is not None


def finished(state: dict) -> bool:
    """The kernel is idle and every code cell ran, or Run All stopped at an error."""
    if state["status"] != "idle":
        return False
    code = [c for c in state["cells"] if c["code"]]
    if any("*" in c["prompt"] for c in code):
        return False
    return all(executed(c["prompt"]) for c in code) or any(c["errors"] for c in code)


def wait_until_open(page, cells: int, timeout_s: float = 45) -> dict:
    """The notebook shows its ``cells`` cells and its kernel has started and is idle."""
    return wait_for(page, lambda s: len(s["cells"]) == cells and s["kernel"] not in ("", "No Kernel")
                    and s["status"] == "idle", timeout_s, "the notebook to open with an idle kernel")


def start_run_all(page) -> None:
    """Run > Run All Cells, as a learner does; return once the run has begun."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    # The kernel turns busy at once; waiting for that avoids reading "idle" before the run began.
    wait_for(page, lambda s: s["status"] != "idle" or any(executed(c["prompt"]) for c in s["cells"] if c["code"]),
             15, "Run All Cells to start")


def cell_errors(state: dict, expected: set[int] = frozenset()) -> list[tuple[int, str]]:
    """(cell index, error text) for each error shown, except in the cells of ``expected``."""
    return [(i, e) for i, c in enumerate(state["cells"]) if i not in expected for e in c["errors"]]
