"""The one regenerate-or-check path every writer in scripts/ goes through.

A writer works out ``{path: the text it should hold}`` and hands it to `regenerate`:
without ``--check`` the files that differ are written and named; with ``--check``
nothing is written, each stale file is named with a short diff, and the exit status is 1.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "table.md"
    >>> regenerate({path: "| a |\\n"}, check=False, fix="make colab")  # doctest: +ELLIPSIS
    wrote: .../table.md
    0
    >>> regenerate({path: "| b |\\n"}, check=True, fix="make colab")  # doctest: +ELLIPSIS
    stale: .../table.md
    ...
    -| a |
    +| b |
    run `make colab` to update it
    1
"""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIFF_LINES = 12  # of each stale file's diff
LINE_WIDTH = 160  # notebook outputs hold very long lines (base64 figures)


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the ``--check`` flag every writer takes."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; name the stale files with a short diff and exit 1 if there are any")
    return parser


def shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def short_diff(old: str, new: str, limit: int = DIFF_LINES) -> str:
    """The first ``limit`` lines of a unified diff from ``old`` to ``new``, long lines cut.

    >>> print(short_diff("a\\nb\\n", "a\\nc\\n"))
    @@ -2 +2 @@
    -b
    +c
    """
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0))[2:]  # no ---/+++
    cut = [line if len(line) <= LINE_WIDTH else line[:LINE_WIDTH] + " …" for line in lines[:limit]]
    if len(lines) > limit:
        cut.append(f"… ({len(lines) - limit} more diff lines)")
    return "\n".join(cut)


def regenerate(targets: dict[Path, str], check: bool, fix: str) -> int:
    """Write each file of ``targets`` whose text differs; with ``check``, only report them.

    Returns the exit status: 1 when ``check`` finds a stale file, else 0. ``fix`` is the
    command that brings stale files up to date, shown after a failed check.
    """
    stale = [path for path, text in targets.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    for path in stale:
        if check:
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            print(f"stale: {shown(path)}" + ("" if path.exists() else " (missing)"))
            print(short_diff(old, targets[path]))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(targets[path], encoding="utf-8")
            print(f"wrote: {shown(path)}")
    if check and stale:
        print(f"run `{fix}` to update {'it' if len(stale) == 1 else 'them'}")
        return 1
    return 0
