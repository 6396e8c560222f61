"""Write requirements.lock: the exact versions installed in this venv (CPU torch pinned).

Run through `make lock` (`python -m scripts.write_lock`) after changing pyproject.toml's
dependencies; `--check` reports whether the lock still matches the venv.
"""

from __future__ import annotations

import subprocess
import sys

from .regen import ROOT, parser, regenerate

HEADER = ("# Exact versions for every 'make' install (CPU). Regenerate: make lock\n"
          "# torch==2.13.0 is the CPU wheel on the project's machines, PyPI's CUDA build elsewhere:"
          " see README, 'Which torch you get'.")


def lock() -> str:
    """Freeze the venv, drop the editable course package, strip torch's local '+cpu' tag."""
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    lines = [line.split("+")[0] if line.startswith("torch==") else line
             for line in frozen if not line.lower().startswith(("llmcourse", "pip=="))]
    return "\n".join([HEADER, *sorted(lines, key=str.lower)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) requirements.lock."""
    args = parser(__doc__).parse_args(argv)
    return regenerate({ROOT / "requirements.lock": lock()}, args.check, fix="make lock")


if __name__ == "__main__":
    sys.exit(main())
