"""How `make test` shares its work between pytest-xdist workers (``-n 2 --dist loadscope``).

A group runs whole on one worker: the cells of one notebook (nbval runs them in order in one
kernel), the tests of one module (they share module fixtures, such as a converted cache).
Everything that starts a server on lesson 09's port 8765 is one group, so two lessons never
race for the port. Groups are queued heavy first, so no worker is left with a long notebook
at the end while the other idles.

The groups come from node ids alone (``group_of``), through a scheduler of our own: xdist's
``--dist loadgroup`` marks do not reach pytest 9's node ids (xdist 3.8 writes ``item._nodeid``,
which pytest 9 no longer reads), and a cell sent to the wrong worker runs without its kernel's
earlier cells.
"""

from __future__ import annotations

import pytest

PORT_8765 = "port 8765"  # lesson 09 (both languages) and the test that runs it on an older cache
SERVES_ON_8765 = ("09_serving.ipynb", "test_lesson_09_passes_on_a_cache_from_before_versions")


def group_of(nodeid: str) -> str:
    """The group of a test: its notebook, its parametrized learner copy, or its module.

    >>> group_of("notebooks/ja/09_serving.ipynb::Cell 3"), group_of("tests/test_checkup.py::test_x[a]")
    ('port 8765', 'tests/test_checkup.py')
    """
    if any(name in nodeid for name in SERVES_ON_8765) and "exercises/" not in nodeid:
        return PORT_8765
    if "test_every_check_fails_on_the_placeholder" in nodeid:
        return nodeid  # one learner copy each: they are independent
    return nodeid.split("::")[0]


def weight(group: str, items: list[pytest.Item]) -> int:
    """Queue order: the serving group, then notebooks and slow tests, then quick tests."""
    if group == PORT_8765:
        return 0
    heavy = group.endswith(".ipynb") or any(item.get_closest_marker("slow") for item in items)
    return 1 if heavy else 2


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the items of a group together, heavy groups first (every worker sorts alike)."""
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(group_of(item.nodeid), []).append(item)
    ordered = sorted(groups.items(), key=lambda entry: weight(*entry))  # stable: collection order within a weight
    items[:] = [item for _, members in ordered for item in members]


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """xdist's load-scope scheduler, with `group_of` as the scope (run with ``--no-loadscope-reorder``)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)
