"""Print requirements.lock: the exact versions installed in this venv (CPU torch pinned).

Run through `make lock` after changing pyproject.toml's dependencies.
"""

import subprocess
import sys

HEADER = """# Exact versions for every 'make' install (CPU). Regenerate: make lock
# torch is pinned to the CPU build: 'pip install torch==2.13.0' takes the CPU wheel here."""


def main() -> None:
    """Freeze the venv, drop the editable course package, strip torch's local '+cpu' tag."""
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    lines = [line.split("+")[0] if line.startswith("torch==") else line
             for line in frozen if not line.lower().startswith(("llmcourse", "pip=="))]
    print(HEADER)
    print("\n".join(sorted(lines, key=str.lower)))


if __name__ == "__main__":
    main()
