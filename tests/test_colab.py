"""Badges, Colab install cells and README tables are generated and up to date; generated cells carry tags."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import llmcourse
from scripts.colab import install_cell

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


def run_install_cell(monkeypatch, *, on_colab: bool = True) -> list[str]:
    """Run the generated install cell here as IPython would, `%pip` recorded, not run; return what it did."""
    from IPython.core.inputtransformer2 import TransformerManager

    done: list[str] = []
    shell = types.SimpleNamespace(run_line_magic=lambda name, line: done.append(f"%{name} {line}"))
    monkeypatch.setattr(llmcourse, "fetch", lambda: done.append("fetch"))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(TransformerManager().transform_cell(install_cell()), {"get_ipython": lambda: shell})
    return done


def test_the_install_cell_installs_the_pins_then_fetches_the_model_on_colab_only(monkeypatch):
    assert run_install_cell(monkeypatch, on_colab=False) == []
    pip, fetch = run_install_cell(monkeypatch)
    assert pip.startswith('%pip install -q "llmcourse @ git+https://') and '"transformers==' in pip
    assert fetch == "fetch"


def test_the_install_cell_stops_when_pip_did_not_install_a_pin(monkeypatch):
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "4.57.6" if name == "transformers" else real(name))
    with pytest.raises(RuntimeError, match=r"pip did not install transformers==[\d.]+ \(found 4\.57\.6\)"):
        run_install_cell(monkeypatch)


def test_the_install_cell_asks_for_a_restart_when_an_older_transformers_is_in_use(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(__version__="4.57.6"))
    with pytest.raises(RuntimeError, match=r"transformers 4\.57\.6 is still in use.*Runtime > Restart session"):
        run_install_cell(monkeypatch)


def test_a_non_editable_install_holds_every_subpackage():
    """Colab installs llmcourse from git, not editable: a subpackage left out of pyproject.toml is missing there."""
    from setuptools.config.pyprojecttoml import read_configuration

    packaged = set(read_configuration(ROOT / "pyproject.toml")["tool"]["setuptools"]["packages"])
    on_disk = {path.parent.relative_to(ROOT).as_posix().replace("/", ".")
               for path in (ROOT / "llmcourse").rglob("__init__.py")}
    assert on_disk <= packaged, f"pyproject.toml leaves out {sorted(on_disk - packaged)}: lessons importing them fail"


def test_lesson_09_installs_the_serving_extra_and_the_others_do_not():
    assert [path for path in LESSONS if path.stem == "09_serving"], "lesson 09 not found"
    for path in LESSONS:
        cell = "".join(tagged(json.loads(path.read_text(encoding="utf-8"))["cells"], "colab-install")[0]["source"])
        assert ('"llmcourse[serving] @ git+' in cell) == (path.stem == "09_serving"), path
