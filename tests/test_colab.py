"""Badges, Colab install cells and README tables are generated and up to date; generated cells carry tags."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BADGE_LINK = re.compile(r"colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/([^)\s\"\\]+)")
LESSONS = sorted(p for p in (ROOT / "notebooks").rglob("[0-9][0-9]_*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def test_badges_install_cells_and_tables_are_fresh():
    done = subprocess.run([sys.executable, "-m", "scripts.colab", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"run `make colab`:\n{done.stdout}{done.stderr}"


def test_every_badge_points_at_an_existing_lesson():
    texts = [p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *LESSONS] if p.exists()]
    links = [m for text in texts for m in BADGE_LINK.findall(text)]
    assert links, "no Colab badges found"
    for link in links:
        assert (ROOT / link).is_file(), f"badge points at a missing file: {link}"


def tagged(cells: list[dict], tag: str) -> list[dict]:
    return [c for c in cells if tag in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_lesson_has_a_tagged_badge_pointing_at_itself_and_a_tagged_install_cell(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert tagged(cells, "colab-badge") == [cells[0]], "the title cell holds the badge: tag it colab-badge"
    assert path.relative_to(ROOT).as_posix() in "".join(cells[0]["source"])
    install = tagged(cells, "colab-install")
    assert len(install) == 1 and install[0]["cell_type"] == "code", "tag the Colab install cell colab-install"
    source = "".join(install[0]["source"])
    assert 'if "google.colab" in sys.modules:' in source
    assert re.search(r'"transformers==[\d.]+"', source), "pins must be quoted"
