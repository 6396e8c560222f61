"""Re-execute notebooks in place (restart and run all), then normalize them.

`make notebooks` runs it (`python -m scripts.run_notebooks notebooks`) with the same
thread and instruction-set settings as `make test`, so the committed outputs are the
ones nbval expects.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .normalize_notebooks import dumps, normalize, notebooks


def execute(path: Path, timeout: int = 600) -> float:
    """Run one notebook top to bottom in a fresh kernel, save it normalized; return seconds."""
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - started
    path.write_text(dumps(normalize(nbformat.from_dict(notebook))), encoding="utf-8")
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Execute the given notebooks, or every notebook under the given folders."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    paths = sorted(p for arg in args.paths for p in ([arg] if arg.suffix == ".ipynb" else notebooks([arg]))
                   if "exercises" not in p.parts)
    for path in paths:
        print(f"{path}: {execute(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
