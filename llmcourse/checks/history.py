"""Which exercise cell last ran with an error, so that a check never judges a stale answer (issue 26, rule 4).

In a notebook, an exercise cell that stops with an error leaves the learner's name bound to what
an earlier run gave it (or to the ``None`` placeholder). A check must judge only the answer of the
last *successful* run of that cell, and say so every time it is run after a failed one, not only
right after it. `last_failure(name)` tells, for an answer name such as ``my_apply_temperature``,
the error of the last cell run that defines it, or ``None``. It watches IPython's cell runs from
the first check of a session on (a ``post_run_cell`` callback), and reads the cell run just
before that first check from the shell itself. Outside IPython nothing is known: ``None``.

>>> defined_names("import torch\\nmy_top_p = None\\ndef my_fn(x):\\n    y = 1\\n    return x")
['my_fn', 'my_top_p']
>>> defined_names("my_config = BitsAndBytesConfig(load_in_8bit=True")   # a syntax error: read by pattern
['my_config']
"""

from __future__ import annotations

import ast
import re
import sys
from typing import Any

from .values import error_text

STATE = "_llmcourse_last_errors"  # the shell's attribute: answer name -> error of its cell's last run ('' if none)
ASSIGNED = re.compile(r"^(?:def\s+(\w+)|(\w+)\s*(?::[^=]*)?=(?!=))", re.M)


def defined_names(source: str) -> list[str]:
    """The names a cell binds at its top level (assignments, def, class), sorted."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return sorted({a or b for a, b in ASSIGNED.findall(source)})
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        names.update(t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name))
    return sorted(names)


def _recorder(errors: dict[str, str]) -> Any:
    """A post_run_cell callback noting, for every name a cell binds, whether this run of it stopped with an error."""
    def record(result: Any) -> None:
        if result is None:
            return
        source = getattr(getattr(result, "info", None), "raw_cell", None) or ""
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        for name in defined_names(source):
            errors[name] = error_text(error) if error is not None else ""
    return record


def last_failure(name: str) -> str | None:
    """The error of the last run of a cell that defines ``name``, if it stopped with one; else None."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None:
        return None
    errors = getattr(shell, STATE, None)
    if errors is None:  # the first check of this session: start watching, and note the cell run just before
        errors = {}
        setattr(shell, STATE, errors)
        record = _recorder(errors)
        shell.events.register("post_run_cell", record)
        record(getattr(shell, "last_execution_result", None))
    return errors.get(name) or None
