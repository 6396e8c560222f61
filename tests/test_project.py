"""Project files agree: environment.yml installs pyproject.toml's list, requirements.lock pins it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DECLARED = PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"]


def environment_pip_lines() -> list[str]:
    text = (ROOT / "environment.yml").read_text()
    return re.findall(r'^\s+- "([^"]+)"\s*$', text, flags=re.M)


def locked() -> dict[str, str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    pairs = (line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
    return {name.lower().replace("_", "-"): version for name, version in pairs}


def test_environment_yml_installs_the_package_with_its_dev_extra_and_copies_nothing():
    """environment.yml installs `-e .[dev]`, so pyproject.toml is the one list of dependencies."""
    assert environment_pip_lines() == ["-e .[dev]"]


def test_environment_yml_python_matches():
    assert "python=3.11" in (ROOT / "environment.yml").read_text()
    assert PYPROJECT["requires-python"] == ">=3.11"


@pytest.mark.parametrize("line", DECLARED)
def test_lock_pins_every_requirement_within_its_range(line):
    requirement = Requirement(line)
    pins = locked()
    name = requirement.name.lower().replace("_", "-")
    assert name in pins, f"{name} is missing from requirements.lock: run `make lock`"
    assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} outside {requirement}"


def test_lock_pins_the_cpu_torch():
    assert locked()["torch"] == "2.13.0"


def test_makefile_runs_scripts_as_modules_that_exist():
    makefile = (ROOT / "Makefile").read_text()
    assert not re.search(r"python scripts/", makefile), "run scripts as `python -m scripts.<name>`"
    modules = re.findall(r"python -m scripts\.(\w+)", makefile)
    assert {"colab", "translate", "exercises", "normalize_notebooks", "handouts", "write_lock"} <= set(modules)
    for module in modules:
        assert (ROOT / "scripts" / f"{module}.py").is_file(), f"Makefile runs a missing script: {module}"
