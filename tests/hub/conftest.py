"""JupyterHub tests run only when asked for (`make test-hub`, i.e. `pytest tests/hub -m hub`)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    """Skip the hub tests unless the marker expression selects them: `make test` stays fast."""
    if "hub" in (config.option.markexpr or "") and "not hub" not in config.option.markexpr:
        return
    skip = pytest.mark.skip(reason="starts a real JupyterHub (about a minute): run `make test-hub`")
    for item in items:
        if item.get_closest_marker("hub"):
            item.add_marker(skip)
