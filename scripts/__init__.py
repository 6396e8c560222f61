"""Maintainer commands, each run from the repository root as ``python -m scripts.<name>``.

- ``colab``: Colab badges, Colab install cells, README lesson tables (``make colab``)
- ``translate``: the Japanese lessons from the English ones (``make translations``)
- ``exercises``: the learner's copies (``make exercises``)
- ``normalize_notebooks``: clean notebook metadata and counts (``make normalize``)
- ``run_notebooks``: re-execute lessons (``make notebooks``)
- ``handouts``: printable HTML (``make handouts``)
- ``write_lock``: requirements.lock (``make lock``)

The writers share `regen.regenerate`: write what changed, or with ``--check`` name
the stale files with a short diff and exit 1. Generated cells are found by their tag
(cell metadata ``tags``): ``colab-badge`` and ``colab-install``.
"""
