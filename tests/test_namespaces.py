"""One name, one home: each module's name says what it holds, once, and each public namespace holds one idea.

- No two modules of ``llmcourse/`` share a base name (``scoring.py`` and ``plots/scoring.py`` did):
  a plots module is named by what it draws (``plots/surprisal.py``), a data module by what it computes.
- Every name a public namespace exports is imported by a lesson's code, or is one a learner meets
  anyway (`LEARNER_FACING`: what a lesson's functions return, the error they raise).
- ``llmcourse.plots`` only draws, ``llmcourse.sampling`` only picks tokens: neither re-exports a name
  that another module defines (the data behind a figure, a constraint processor).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from test_structure import notebook_imports  # the lessons' llmcourse imports, parsed once

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "llmcourse"


def repeated_module_names(paths: list[Path]) -> dict[str, list[str]]:
    """Base names held by more than one module (``__init__`` aside), with where.

    >>> repeated_module_names([Path("a/scoring.py"), Path("a/plots/scoring.py"), Path("a/plots/step.py")])
    {'scoring': ['a/scoring.py', 'a/plots/scoring.py']}
    """
    homes: dict[str, list[str]] = {}
    for path in paths:
        if path.stem != "__init__":
            homes.setdefault(path.stem, []).append(path.as_posix())
    return {name: where for name, where in homes.items() if len(where) > 1}


def test_no_two_modules_share_a_name():
    paths = [path.relative_to(ROOT) for path in sorted(PACKAGE.rglob("*.py"))]
    repeated = repeated_module_names(paths)
    assert not repeated, f"name each module by what it holds, once (plots by what they draw): {repeated}"


# ---------------------------------------------------------------- every exported name is a lesson's

PUBLIC = ("llmcourse", "llmcourse.plots", "llmcourse.sampling", "llmcourse.constrain", "llmcourse.checks")
LESSONS = sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb"))  # the Japanese twins run the same code
# Exported though no lesson imports them: what a learner meets anyway, and where.
LEARNER_FACING = {
    "GenerationResult": "generate returns it",
    "Step": "generation_steps returns a list of them",
    "BeamTree": "beam_search_tree returns it",
    "Explorer": "explore returns it",
    "ContinuationLogprobs": "score_continuations returns a list of them",
    "Timing": "time_interleaved returns them",
    "Server": "start_server returns it",
    "StreamedReply": "stream_chat returns it",
    "RequestRun": "send_requests returns it",
    "CourseError": "every helper raises it on a wrong argument; lesson 09 shows it",
    "stop_servers": "lesson 09's error for a second server says to call llmcourse.stop_servers()",
    "CourseFigure": "every plot function returns it",
    "Report": "every exercise check returns it",
}


def unused_exports(exported: dict[str, list[str]], used: set[tuple[str, str]]) -> list[str]:
    """``module.name`` for each exported name that no lesson imports and that is not `LEARNER_FACING`.

    >>> unused_exports({"llmcourse": ["fetch", "Server", "pick_device"]}, {("llmcourse", "fetch")})
    ['llmcourse.pick_device']
    """
    return [f"{module}.{name}" for module, names in exported.items() for name in names
            if (module, name) not in used and name not in LEARNER_FACING]


def test_every_exported_name_is_used_by_a_lesson_or_met_by_a_learner():
    used = {pair for path in LESSONS for pair in notebook_imports(path)}
    exported = {module: importlib.import_module(module).__all__ for module in PUBLIC}
    unused = unused_exports(exported, used)
    assert not unused, ("no lesson imports these: drop them from __all__ (tests import them from their module), "
                        "or, for a type a learner meets, add it to LEARNER_FACING: " + ", ".join(unused))


def test_the_allow_list_names_only_exported_names():
    exported = set().union(*(importlib.import_module(module).__all__ for module in PUBLIC))
    assert set(LEARNER_FACING) <= exported, sorted(set(LEARNER_FACING) - exported)


# ---------------------------------------------------------------- one idea per namespace

def foreign_names(namespace: str, names: dict[str, object]) -> list[str]:
    """The names that ``namespace`` exports but another part of the package defines (a re-export).

    >>> from llmcourse.constrain import RegexLogitsProcessor
    >>> foreign_names("llmcourse.sampling", {"RegexLogitsProcessor": RegexLogitsProcessor})
    ['RegexLogitsProcessor (from llmcourse.constrain)']
    """
    return [f"{name} (from {value.__module__})" for name, value in names.items()
            if not (getattr(value, "__module__", namespace) + ".").startswith(namespace + ".")]


@pytest.mark.parametrize("namespace", ["llmcourse.plots", "llmcourse.sampling", "llmcourse.constrain"])
def test_a_namespace_exports_only_what_it_defines(namespace):
    """plots only draws, sampling only picks tokens, constrain only constrains: no data or processor re-exported."""
    module = importlib.import_module(namespace)
    foreign = foreign_names(namespace, {name: getattr(module, name) for name in module.__all__})
    assert not foreign, f"{namespace} re-exports {foreign}: lessons import them from their own module"


def test_plots_exports_only_drawing():
    """Every name of llmcourse.plots draws a figure (``plot_*``), or is the figure they return."""
    plots = importlib.import_module("llmcourse.plots")
    other = [name for name in plots.__all__ if not name.startswith("plot_") and name != "CourseFigure"]
    assert not other, f"llmcourse.plots only draws; import these from the module that computes them: {other}"


def test_sampling_exports_no_constraint_processor():
    from transformers import LogitsProcessor

    sampling = importlib.import_module("llmcourse.sampling")
    processors = [name for name in sampling.__all__ if isinstance(getattr(sampling, name), type)
                  and issubclass(getattr(sampling, name), LogitsProcessor)]
    assert not processors, f"llmcourse.sampling picks tokens; constraint processors are llmcourse.constrain's: {processors}"
