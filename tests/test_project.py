"""Project files agree: environment.yml and requirements.lock match pyproject.toml."""

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
    return [m.group(1) for m in re.finditer(r'^\s+- "([^"]+)"\s*$', text, flags=re.M) if m.group(1) != "-e ."]


def locked() -> dict[str, str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    pairs = (line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
    return {name.lower().replace("_", "-"): version for name, version in pairs}


def test_environment_yml_lists_exactly_the_pyproject_requirements():
    assert sorted(environment_pip_lines()) == sorted(DECLARED)


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
