"""The exercise checks' test cases, each tagged with the check it is for, so that one test can count them,
and the two ways a test judges a check's report: `assert_fails_with` and `assert_passes`.

A test module writes its parametrize lists with `wrong` (a learner's mistake and the pattern the
hint must match) and `right` (a correct answer); each call records the case under its check in
`CASES` when the module is imported. `test_check_corpus.py` imports every module that uses them
and asks for at least 5 mistakes and 2 right answers per check of `llmcourse.checks.__all__`.

>>> case = wrong("check_temperature", "doctest: multiplied", lambda logits, t: logits * t, "multiplies")
>>> case.id, "doctest: multiplied" in CASES["check_temperature"].wrong
('doctest: multiplied', True)
>>> CASES["check_temperature"].wrong.discard(case.id)  # the example counts for nothing
"""

from __future__ import annotations

import ast
import functools
import json
import re
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llmcourse import checks


def assert_fails_with(report: checks.Report, hint: str, *, code: bool = False) -> None:
    """Assert that a check's report failed with a line whose hint (the idea, shown first) matches ``hint``.

    With ``code=True`` the pattern may match the line of code that fixes it instead (shown at ``hint=2``).
    On failure pytest shows the rendered report.

    >>> from llmcourse.checks import Report
    >>> report = Report("Demo")
    >>> _ = report.add(False, "pads on the right", "the pads must come first", "padding_side = 'left'")
    >>> assert_fails_with(report, "pads must come first")
    >>> assert_fails_with(report, "padding_side", code=True)
    """
    assert isinstance(report, checks.Report) and not report.passed, report
    said = [f"{line.hint}; {line.code}" if code else line.hint for line in report.failures]
    assert any(re.search(hint, text) for text in said), report
    assert not shown_solution(report), f"the first failure shows the solution {shown_solution(report)}:\n{report!r}"


def assert_passes(report: checks.Report) -> None:
    """Assert that a check's report passed; on failure pytest shows the rendered report."""
    assert isinstance(report, checks.Report) and report.passed, report


@dataclass
class Cases:
    """The names of one check's cases: mistakes that must fail, and correct answers that must pass."""

    wrong: set[str] = field(default_factory=set)
    right: set[str] = field(default_factory=set)


CASES: defaultdict[str, Cases] = defaultdict(Cases)


def _known(check: str) -> str:
    """The check's name, refused when llmcourse.checks does not export it (a typo would count for nothing)."""
    if check not in checks.__all__:
        raise ValueError(f"{check!r} is not an exercise check of llmcourse.checks")
    return check


def wrong(check: str, name: str, answer: Any, hint: str) -> Any:
    """A learner's mistake: ``answer`` must fail ``check`` with a failed line whose hint matches ``hint``."""
    if not hint:
        raise ValueError(f"the mistake {name!r} needs the pattern of the hint that names it")
    CASES[_known(check)].wrong.add(name)
    return pytest.param(answer, hint, id=name)


def right(check: str, name: str, answer: Any) -> Any:
    """A correct answer, written in its own way: ``answer`` must pass ``check``."""
    CASES[_known(check)].right.add(name)
    return pytest.param(answer, id=name)


# ------------------------------------------------------------ what a first failure may show (issue 26, rule 3)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
BLOCK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)

@functools.cache
def solutions() -> dict[str, str]:
    """Each check's name -> the SOLUTION block of the exercise it checks, read from the English lessons."""
    found = {}
    for lesson in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        cells = ["".join(cell["source"]) for cell in json.loads(lesson.read_text())["cells"]]
        for position, source in enumerate(cells):
            for block in BLOCK.findall(source):
                check = next((m.group(0) for later in cells[position + 1:position + 4]
                              if (m := re.search(r"\bcheck_\w+", later))), None)
                if check:
                    found[check] = found.get(check, "") + block
    return found


def solution_pieces(check: str) -> list[tuple[str, ...]]:
    """The pieces of a check's solution that a first failure must not show, spaces removed.

    Each statement's value (``logits / t`` of ``return logits / t``), each slice (``ids[start:end]``), and each call's keyword
    arguments as one group (shown only when all of them are): ``dict(max_new_tokens=40, min_new_tokens=40)``
    counts as shown when a report spells both keywords out, even on two lines.

    >>> ("logits/t",) in solution_pieces("check_temperature")
    True
    """
    source = textwrap.dedent(solutions().get(check, ""))
    squeeze = lambda node: re.sub(r"\s|#[^\n]*", "", ast.get_source_segment(source, node))  # noqa: E731
    pieces = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.keywords:
            pieces.append(tuple(squeeze(keyword) for keyword in node.keywords if keyword.arg))
        if isinstance(node, (ast.Assign, ast.Return, ast.Expr)) and node.value is not None \
                and not isinstance(node.value, (ast.Name, ast.Constant, ast.Tuple)):
            pieces.append((squeeze(node.value),))
        if isinstance(node, ast.Subscript) and any(isinstance(part, ast.Slice) for part in ast.walk(node.slice)):
            pieces.append((squeeze(node),))  # the slice an exercise is about: logits[:, prompt_length - 1:-1]
    return [piece for piece in pieces if piece and len("".join(piece)) >= 8]


def shown_solution(report: checks.Report) -> list[tuple[str, ...]]:
    """The pieces of its own check's solution that ``report``, as first shown (level 1), gives away."""
    check = report.ask.split("(")[0]
    if report.level >= 2 or not check:
        return []
    shown = re.sub(r"\s", "", repr(report))
    return [piece for piece in solution_pieces(check) if all(part in shown for part in piece)]
