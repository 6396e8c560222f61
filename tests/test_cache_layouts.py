"""Every model cache a learner may have loads, serves under the stable name, and runs lesson 09.

The cache keeps each conversion under ``versions/<name>-<date>-<pid>`` behind a link named
``SmolLM2-135M-Instruct`` (`llmcourse.offline`). Caches made before that layout are a plain
folder, and a link can outlive the version it points to. A server once served the version
folder's name, so a request for ``"SmolLM2-135M-Instruct"`` got HTTP 400 on every new cache
while the CI machine's old cache hid it. Here each layout is built from the fetched
checkpoint (hard links, no copy), then loaded (which repairs a link to a removed version),
served, and asked what lesson 09 asks. Lesson 09 itself runs under nbval on the plain folder
here, and on the current layout in the main nbval run; on a broken link its first cell would
show the repair, so that case stops at the serving test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmcourse import cache, offline
from llmcourse.cache import CACHE_ENV
from llmcourse.offline import MODEL_NAME, cache_status

ROOT = Path(__file__).resolve().parents[1]
LESSON_09 = ROOT / "notebooks" / "09_serving.ipynb"
VERSION_FOLDER = re.compile(rf"{cache.VERSIONS}/|{re.escape(MODEL_NAME)}-\d{{8}}-\d{{6}}")
LAYOUTS = ["current", "plain folder (before versions/)", "link to a removed version"]


def build(layout: str, root: Path) -> Path:
    """A cache at ``root`` in the given layout, with the files of the fetched checkpoint."""
    checkpoint, gguf = offline.fetch(progress=lambda message: None), offline.gguf_path()
    (root / "gguf").mkdir(parents=True)
    os.link(gguf, root / "gguf" / gguf.name)  # a repair converts from it, with no download
    if layout.startswith("plain"):
        shutil.copytree(checkpoint, root / MODEL_NAME, copy_function=os.link)
        return root
    version = root / cache.VERSIONS / f"{MODEL_NAME}-20260101-000000-1"
    if layout == "current":
        shutil.copytree(checkpoint, version, copy_function=os.link)
    os.symlink(os.path.relpath(version, root), root / MODEL_NAME, target_is_directory=True)
    return root


@pytest.fixture(params=LAYOUTS, scope="module")
def layout_cache(request, tmp_path_factory) -> Path:
    return build(request.param, tmp_path_factory.mktemp("layout"))


@pytest.mark.slow
def test_each_layout_loads_and_serves_under_the_stable_name(layout_cache, monkeypatch):
    from openai import OpenAI

    from llmcourse import generate, load_model, start_server

    monkeypatch.setenv(CACHE_ENV, str(layout_cache))
    monkeypatch.setenv("PYTHONHASHSEED", "4")  # a learner's own; without its own seed the server would print the other order
    model, tokenizer = load_model()  # a link to a removed version is repaired here
    assert cache_status().ready
    with start_server(port=0) as server:
        assert server.model == MODEL_NAME
        assert server.command.endswith(f"--log-level warning {MODEL_NAME}")
        client = OpenAI(base_url=server.url, api_key="not-needed")
        assert [entry.id for entry in client.models.list().data] == [MODEL_NAME]
        completion = client.chat.completions.create(  # what lesson 09's ask() sends
            model=MODEL_NAME, messages=[{"role": "user", "content": "Why is the sky blue?"}], max_tokens=8,
            temperature=0, logprobs=True, top_logprobs=3)
        ignored = [line for line in server.log(100).splitlines() if "logprobs" in line]
    local = generate(model, tokenizer, "Why is the sky blue?", chat=True, max_new_tokens=8).texts[0]
    assert completion.choices[0].message.content == local
    assert not VERSION_FOLDER.search(f"{server!r} {server.command}")
    assert ignored and ignored[-1].endswith("{'top_logprobs', 'logprobs'}"), ignored  # as lesson 09 commits it


@pytest.mark.slow
def test_lesson_09_passes_on_a_cache_from_before_versions(tmp_path):
    cache = build(LAYOUTS[1], tmp_path / "cache")
    env = {**os.environ, CACHE_ENV: str(cache)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "--nbval", "--nbval-current-env",
                           "--nbval-sanitize-with", "nbval_sanitize.cfg", str(LESSON_09.relative_to(ROOT))],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def test_no_committed_output_names_a_version_folder():
    lessons = sorted((ROOT / "notebooks").rglob("*.ipynb"))
    leaks = [path.relative_to(ROOT).as_posix() for path in lessons
             if VERSION_FOLDER.search(path.read_text(encoding="utf-8"))]
    assert not leaks, f"a cache version folder in committed outputs: {leaks}"


def test_the_version_folder_pattern_finds_one():
    assert VERSION_FOLDER.search(f"/home/a/.cache/llmcourse/{MODEL_NAME}-20261206-043348-5064/config.json")
    assert not VERSION_FOLDER.search(f"CACHE/{MODEL_NAME}")
