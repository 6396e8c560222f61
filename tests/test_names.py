"""One name, one meaning: what a function's name promises holds across llmcourse/.

``check_*`` is an exercise check and nothing else: a function of ``llmcourse/checks/``, decorated
with `exercise_check` (so it returns a `Report`) and exported by `llmcourse.checks`. Other kinds
of function are named by what they do: an argument guard that raises is ``require_*`` (``validated_*``
when it returns the cleaned value), a doctor's probe is ``probe_*`` (`llmcourse.checkup`), and a
check's private helper that adds lines to a report is ``_judge_*``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "llmcourse"
CHECK_NAME = re.compile(r"_*check_")
GUARD = "name an argument guard require_* (validated_* if it returns the value), a doctor's probe probe_*"


def exercise_checks() -> set[str]:
    """The names `llmcourse.checks` exports as exercise checks."""
    return {name for name in importlib.import_module("llmcourse.checks").__all__ if name != "Report"}


def is_exercise_check(node: ast.AST) -> bool:
    """Decorated with ``@exercise_check(...)``, the decorator that builds and returns the `Report`."""
    return any(isinstance(d, ast.Call) and getattr(d.func, "id", getattr(d.func, "attr", None)) == "exercise_check"
               for d in node.decorator_list)


def misnamed_checks(path: str, source: str, exported: set[str]) -> list[str]:
    """``path:line name: why`` for each function named ``check_*``/``_check_*`` that is not an exercise check.

    >>> misnamed_checks("llmcourse/limits.py", "def check_room(model): ...", set())[0].split(": ")[0]
    'llmcourse/limits.py:1 check_room'
    """
    tree = ast.parse(source)
    top = {id(node) for node in tree.body}
    in_checks = path.startswith("llmcourse/checks/")
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not CHECK_NAME.match(node.name):
            continue
        if not in_checks:
            why = f"check_* means an exercise check (llmcourse/checks/) only: {GUARD}"
        elif id(node) not in top or not is_exercise_check(node):
            why = "not an @exercise_check: name a check's helper _judge_*, " + GUARD
        elif node.name not in exported:
            why = "an exercise check that llmcourse.checks does not export: add it to its __all__"
        else:
            continue
        found.append(f"{path}:{node.lineno} {node.name}: {why}")
    return found


@pytest.mark.parametrize("path, source, kind", [
    ("llmcourse/limits.py", "def check_room(model, prompt_tokens, new_tokens): ...", "llmcourse/checks/) only"),
    ("llmcourse/generation.py", "class A:\n    def _check_prompts(self, prompts): ...", "llmcourse/checks/) only"),
    ("llmcourse/checks/lesson04_pitfalls.py", "def _check_length(report, events): ...", "@exercise_check"),
    ("llmcourse/checks/lesson04_pitfalls.py",
     "@exercise_check(en='A', ja='A')\ndef check_new(report, my_answer): ...", "export"),
], ids=["public guard", "private method", "check helper", "unexported check"])
def test_misnamed_checks_finds_each_kind(path, source, kind):
    found = misnamed_checks(path, source, exported=set())
    assert len(found) == 1 and kind in found[0], found


def test_misnamed_checks_accepts_an_exported_exercise_check():
    source = "@exercise_check(en='A', ja='A')\ndef check_new(report, my_answer): ..."
    assert misnamed_checks("llmcourse/checks/lesson99.py", source, exported={"check_new"}) == []


def test_check_names_only_exercise_checks():
    """``grep -rn "def _\\?check_" llmcourse`` finds exercise checks in llmcourse/checks/ and nothing else."""
    exported = exercise_checks()
    found = [line for path in sorted(PACKAGE.rglob("*.py"))
             for line in misnamed_checks(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"),
                                         exported)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("name", sorted(exercise_checks()))
def test_every_exported_check_is_named_check_and_returns_a_report(name):
    checks = importlib.import_module("llmcourse.checks")
    assert name.startswith("check_"), f"llmcourse.checks exports {name}: an exercise check's name starts with check_"
    assert inspect.signature(getattr(checks, name)).return_annotation is checks.Report
