"""One name, one meaning: what a function's name promises holds across llmcourse/.

``check_*`` is an exercise check and nothing else: a function of ``llmcourse/checks/``, decorated
with `exercise_check` (so it returns a `Report`) and exported by `llmcourse.checks`. Other kinds
of function are named by what they do: an argument guard that raises is ``require_*`` (``validated_*``
when it returns the cleaned value), a doctor's probe is ``probe_*`` (`llmcourse.checkup`), and a
check's private helper that adds lines to a report is ``_judge_*``.

Names that once meant several things mean one now, and `second_meanings` keeps it so:

- no attribute, method, property or field is named ``tokens`` (``tokens`` is the module
  `llmcourse.tokens`): token strings are ``token_texts``, a count ``token_count``, the new
  tokens of each forward pass ``tokens_per_pass``;
- ``alternatives`` is a count: wherever it is annotated, it is an ``int`` (``object`` in a guard);
- ``scores`` is transformers' word for processed logits (a LogitsProcessor's argument,
  ``outputs.scores``), and nothing is named ``score``, ``*_score`` or ``Scored``: a beam's sum is
  ``cumulative_logprob``, a continuation's ``log_likelihood``.

And one name has one home: a single ``quiet`` context manager (`llmcourse.quiet`), and each
class or type alias (a CapWords name at the top of a module) is defined in one module only.
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
    """``grep -rn "def _\\?check_"`` finds exercise checks in llmcourse/checks/ and nothing else (tests, scripts too)."""
    exported = exercise_checks()
    sources = [path for folder in (PACKAGE, ROOT / "tests", ROOT / "scripts", ROOT / "benchmarks")
               for path in folder.rglob("*.py")] + [ROOT / "conftest.py"]
    found = [line for path in sorted(sources)
             for line in misnamed_checks(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"),
                                         exported)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("name", sorted(exercise_checks()))
def test_every_exported_check_is_named_check_and_returns_a_report(name):
    checks = importlib.import_module("llmcourse.checks")
    assert name.startswith("check_"), f"llmcourse.checks exports {name}: an exercise check's name starts with check_"
    assert inspect.signature(getattr(checks, name)).return_annotation is checks.Report


# ---------------------------------------------------------------- tokens, alternatives, score

SECOND_MEANING = {
    "tokens": "tokens is the module llmcourse.tokens only: name token strings token_texts, a count token_count, "
              "the new tokens of each forward pass tokens_per_pass",
    "alternatives": "alternatives is a count (int): name a list of (token, probability) pairs by what it holds, "
                    "e.g. most_likely",
    "score": "scores means transformers' processed logits only: a beam's summed log-probability is "
             "cumulative_logprob, a continuation's log_likelihood",
}
SCORE_NAME = re.compile(r"(.*_)?score$|Scored$")
COUNT = {"int", "object", "Any"}  # object/Any: a guard's argument, whatever the learner passed


def _defined_names(node: ast.AST) -> list[tuple[str, int]]:
    """The names ``node`` defines or reads as an attribute: (name, line)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [(node.name, node.lineno)]
    if isinstance(node, ast.Attribute):
        return [(node.attr, node.lineno)]
    if isinstance(node, ast.Name):
        return [(node.id, node.lineno)]
    if isinstance(node, ast.arg):
        return [(node.arg, node.lineno)]
    if isinstance(node, ast.keyword) and node.arg:
        return [(node.arg, node.value.lineno)]
    return []


def second_meanings(path: str, source: str) -> list[str]:
    """``path:line name: why`` for each ``tokens`` attribute, non-int ``alternatives`` and ``score`` name.

    >>> second_meanings("llmcourse/x.py", "class A:\\n    tokens: list[int]")[0].split(": ")[0]
    'llmcourse/x.py:2 tokens'
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "tokens":
            found.append((node.lineno, "tokens", SECOND_MEANING["tokens"]))
        if isinstance(node, ast.Attribute) and node.attr == "tokens":
            found.append((node.lineno, "tokens", SECOND_MEANING["tokens"]))
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "tokens":
            found.append((node.lineno, "tokens", SECOND_MEANING["tokens"]))  # a dataclass field
        annotated = ([(node.arg, node.annotation)] if isinstance(node, ast.arg) else
                     [(node.target.id, node.annotation)] if isinstance(node, ast.AnnAssign)
                     and isinstance(node.target, ast.Name) else [])
        for name, annotation in annotated:
            if name == "alternatives" and annotation is not None and ast.unparse(annotation) not in COUNT:
                found.append((node.lineno, name, SECOND_MEANING["alternatives"]))
        for name, line in _defined_names(node):
            if SCORE_NAME.fullmatch(name):
                found.append((line, name, SECOND_MEANING["score"]))
    return [f"{path}:{line} {name}: {why}" for line, name, why in sorted(set(found))]


@pytest.mark.parametrize("source, name", [
    ("class GenerationResult:\n    def tokens(self, row): ...", "tokens"),
    ("@dataclass\nclass StepLog:\n    tokens: list[int]", "tokens"),
    ("def rate(reply):\n    return reply.tokens / reply.seconds", "tokens"),
    ("@dataclass\nclass Step:\n    alternatives: list[tuple[str, float]]", "alternatives"),
    ("def step(alternatives: list[int]): ...", "alternatives"),
    ("@dataclass\nclass BeamNode:\n    score: float", "score"),
    ("def plot(tree):\n    return tree.final_score", "final_score"),
    ("class Scored: ...", "Scored"),
], ids=["tokens method", "tokens field", "tokens attribute", "alternatives field", "alternatives argument",
        "score field", "final_score attribute", "Scored class"])
def test_second_meanings_finds_each_kind(source, name):
    found = second_meanings("llmcourse/x.py", source)
    assert len(found) == 1 and f" {name}: " in found[0], found


def test_second_meanings_accepts_the_one_meanings():
    source = ("def generate(model, alternatives: int = 10): ...\n"
              "def __call__(self, input_ids, scores):\n    return scores.masked_fill(blocked, 0)\n"
              "from .tokens import show_token\n"
              "def rate(reply):\n    return reply.token_count / reply.seconds, outputs.scores\n")
    assert second_meanings("llmcourse/x.py", source) == []


def test_tokens_alternatives_and_score_have_one_meaning():
    """``grep -rn "\\.tokens\\b\\|def tokens" llmcourse`` finds only ``from .tokens import``."""
    found = [line for path in sorted(PACKAGE.rglob("*.py"))
             for line in second_meanings(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)


# ---------------------------------------------------------------- one home

def _top_level(path: Path) -> list[tuple[str, ast.AST]]:
    """The names a module defines at its top level, with their nodes."""
    names = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append((node.name, node))
        elif isinstance(node, ast.Assign):
            names += [(target.id, node) for target in node.targets if isinstance(target, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append((node.target.id, node))
    return names


def test_one_quiet_context_manager():
    quiets = [f"{path.relative_to(ROOT).as_posix()}:{node.lineno} {node.name}"
              for path in sorted(PACKAGE.rglob("*.py")) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
              if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("quiet")]
    one = len(quiets) == 1 and quiets[0].startswith("llmcourse/quiet.py:") and quiets[0].endswith(" quiet")
    assert one, "one quiet context manager, llmcourse.quiet.quiet; import it, do not write another:\n" + "\n".join(quiets)


def test_each_class_and_type_alias_has_one_home():
    """A CapWords name (``Progress``, ``Report``...) is defined at the top of one module; the others import it."""
    homes: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, node in _top_level(path):
            if re.fullmatch(r"_?[A-Z][a-z]\w*", name):
                homes.setdefault(name, []).append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    twice = {name: where for name, where in homes.items() if len(where) > 1}
    assert not twice, "defined in several modules (define once, import elsewhere): " + repr(twice)
