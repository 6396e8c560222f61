"""Fixtures for `make test-colab`: base runtimes, the checkout snapshot, one fresh runtime per lesson.

The machinery itself is in colab_runtimes.py.
"""

from __future__ import annotations

import shutil
import time

import pytest
from colab_runtimes import Base, Runtime, build_base, new_runtime, snapshot_checkout


def pytest_configure(config):
    config.addinivalue_line("markers", "colab: runs lessons on Colab-like runtimes (make test-colab)")


@pytest.fixture(scope="session")
def bases() -> dict[str, Base]:
    """``bases[version]``: the base runtime with that transformers preinstalled, built (or reused) on first use."""

    class Lazy(dict):
        def __missing__(self, version: str) -> Base:
            started = time.monotonic()
            self[version] = build_base(version)
            print(f"\nruntime with transformers {version} preinstalled: ready in {time.monotonic() - started:.0f} s")
            return self[version]

    return Lazy()


@pytest.fixture(scope="session")
def snapshot() -> str:
    """The pip URL of a git snapshot of this checkout, standing in for ``git+<repository>@<ref>``."""
    return snapshot_checkout()


@pytest.fixture
def fresh_runtime():
    """``fresh_runtime(base, name)``: a new runtime copied from ``base``; removed after a passing test."""
    made: list[Runtime] = []

    def make(base: Base, name: str) -> Runtime:
        made.append(new_runtime(base, name))
        return made[-1]

    yield make
    for runtime in made:  # a failed test keeps its folder: the executed notebook is there
        if (runtime.folder / "passed").exists():
            shutil.rmtree(runtime.folder, ignore_errors=True)
