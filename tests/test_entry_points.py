"""Learners land on the exercises, not the answers (issue 26).

A lesson in ``notebooks/`` (and ``notebooks/ja/``) has every exercise answered; the learner's copy in
``exercises/`` has them to do. Every place a learner starts from (the README tables and their Colab
badges, ``make lab``, the handouts' and instructor pages' links) must open the copy, and a link to a
lesson with answers must say so on its line ("solutions", 「解答」). Lesson 00 has nothing to solve.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEARNER_FACING = [ROOT / "README.md", ROOT / "README.ja.md", *sorted((ROOT / "instructor").rglob("*.md"))]
ANSWERED = re.compile(r"notebooks/(?:ja/)?(?!00_)[0-9]{2}_[\w.-]+\.ipynb")  # a lesson with its answers
SAYS_SO = re.compile(r"solution|解答", re.I)


def answered_links(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line that links a lesson with answers (not an exercises/ copy)."""
    return [(number, line) for number, line in enumerate(text.splitlines(), 1)
            if any("/exercises/" not in link for link in ANSWERED.findall(line))]


@pytest.mark.parametrize("path", LEARNER_FACING, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_link_to_a_lesson_with_answers_says_so(path):
    unsaid = [f"{path.name}:{number}: {line.strip()[:120]}" for number, line in answered_links(path.read_text("utf-8"))
              if not SAYS_SO.search(line)]
    assert not unsaid, "a learner-facing link opens the answers without saying so:\n" + "\n".join(unsaid)


def test_the_check_would_catch_a_bare_link_to_the_answers():
    """The meta-test: the README table as it was before issue 26 fails."""
    planted = "| 01 | [Loading a model](notebooks/01_loading.ipynb) | [![Open In Colab](x)](https://colab.research." \
              "google.com/github/llmcourse/llmcourse/blob/main/notebooks/01_loading.ipynb) |"
    assert answered_links(planted) and not SAYS_SO.search(planted)


@pytest.mark.parametrize("readme", ["README.md", "README.ja.md"])
def test_the_readme_tables_open_the_learner_copies_first(readme):
    table = re.search(r"<!-- lessons:start -->(.*?)<!-- lessons:end -->", (ROOT / readme).read_text("utf-8"), re.S)
    rows = [row for row in table.group(1).splitlines() if re.match(r"\| (0[1-9]) ", row)]
    assert len(rows) == 9
    for row in rows:
        lesson, colab = row.split(" | ")[1:3]
        assert "/exercises/" in lesson and "/exercises/" in colab, row


def test_make_lab_opens_a_learner_copy():
    recipe = re.search(r"^lab:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text("utf-8"), re.M).group(1)
    assert "/lab/tree/exercises" in recipe, recipe
