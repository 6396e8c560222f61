"""Badges, Colab install cells and README tables are generated and up to date."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "colab.py"
LESSONS = sorted(p for p in (ROOT / "notebooks").rglob("[0-9][0-9]_*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def test_badges_install_cells_and_tables_are_fresh():
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, f"run `python scripts/colab.py`:\n{done.stdout}{done.stderr}"


def test_every_badge_points_at_an_existing_lesson():
    texts = [p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *LESSONS] if p.exists()]
    links = [m for text in texts for m in re.findall(r"colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/([^)\s\"\\]+)", text)]
    assert links, "no Colab badges found"
    for link in links:
        assert (ROOT / link).is_file(), f"badge points at a missing file: {link}"


def test_every_lesson_has_a_badge_pointing_at_itself_and_the_install_cell():
    for path in LESSONS:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        assert path.relative_to(ROOT).as_posix() in "".join(cells[0]["source"]), path.name
        install = [c for c in cells if c["cell_type"] == "code" and "google.colab" in "".join(c["source"])]
        assert install, f"{path.name} has no Colab install cell"
        assert re.search(r'"transformers==[\d.]+"', "".join(install[0]["source"])), "pins must be quoted"
