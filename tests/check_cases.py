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

import re
from collections import defaultdict
from dataclasses import dataclass, field
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
