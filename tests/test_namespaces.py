"""One name, one home: each module's name says what it holds, once, and each public namespace holds one idea.

- No two modules of ``llmcourse/`` share a base name (``scoring.py`` and ``plots/scoring.py`` did):
  a plots module is named by what it draws (``plots/surprisal.py``), a data module by what it computes.
"""

from __future__ import annotations

from pathlib import Path

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
