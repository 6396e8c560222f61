"""Tests for lesson 00's checks: the offline model's folder and a classroom's shared cache.

Each correct answer is accepted in two ways; each typical wrong answer fails with its hint.
"""

from __future__ import annotations

import re

import pytest

from llmcourse import checks
from llmcourse.checks import Report, check_classroom_env, check_model_folder
from llmcourse.i18n import set_language
from llmcourse.offline import cache_root, checkpoint_dir


@pytest.fixture(autouse=True)
def english():
    set_language("en")
    yield
    set_language("en")


def assert_fails_with(report: Report, hint: str) -> None:
    assert not report.passed, report
    assert any(re.search(hint, line.hint) for line in report.failures), report


def test_both_checks_are_exported():
    assert {"check_model_folder", "check_classroom_env"} <= set(checks.__all__)


def test_model_folder_passes_as_a_path_or_a_string(ready_cache):
    assert check_model_folder(checkpoint_dir()).passed
    assert check_model_folder(str(checkpoint_dir())).passed


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda: checkpoint_dir() / "model.safetensors", "a file in the folder"),
    (lambda: cache_root(), "cache root"),
    (lambda: "/nonexistent/folder", "checkpoint_dir()"),
    (lambda: None, "pathlib.Path"),
    (lambda: 42, "pathlib.Path"),
], ids=["a file inside", "the cache root", "elsewhere", "None", "a number"])
def test_model_folder_wrong_answers(ready_cache, answer, hint):
    assert_fails_with(check_model_folder(answer()), hint)


def test_an_unfinished_folder_is_not_ready(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    report = check_model_folder(tmp_path)
    assert not report.passed and "not a ready checkpoint" in report.failures[0].message


def test_classroom_env_passes_with_or_without_a_trailing_slash():
    assert check_classroom_env({"LLMCOURSE_CACHE": "/srv/llmcourse"}).passed
    assert check_classroom_env(dict(LLMCOURSE_CACHE="/srv/llmcourse/", HF_HUB_OFFLINE="1")).passed


@pytest.mark.parametrize(("answer", "hint"), [
    ({"HF_HOME": "/srv/llmcourse"}, "not in Hugging Face's cache"),
    ({"LLMCOURSE_CACHE": "/srv/llmcourse/SmolLM2-135M-Instruct"}, "the shared folder itself"),
    ({"LLMCOURSE_CACHE": "/home/me"}, "LLMCOURSE_CACHE"),
    ({"LLMCOURSE_CACHE": "/srv/llmcourse", "LLMCOURSE_MODEL": "HuggingFaceTB/SmolLM2-360M-Instruct"}, "network"),
    ("LLMCOURSE_CACHE=/srv/llmcourse", "a dict of environment variables"),
], ids=["HF_HOME", "the model's subfolder", "another folder", "a hub model", "a string"])
def test_classroom_env_wrong_answers(answer, hint):
    assert_fails_with(check_classroom_env(answer), hint)


def test_japanese_hints():
    set_language("ja")
    assert repr(check_classroom_env({"LLMCOURSE_CACHE": "/srv/llmcourse"})).endswith("すべてのチェックに合格しました！")
    assert_fails_with(check_classroom_env({"HF_HOME": "/srv/llmcourse"}), "Hugging Face のキャッシュ")
    assert_fails_with(check_model_folder(None), "pathlib.Path")
