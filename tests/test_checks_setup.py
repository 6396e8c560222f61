"""Tests for lesson 00's checks: the offline model's folder and a classroom's shared cache.

Each correct answer is accepted in two ways; each typical wrong answer fails with its hint.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from check_cases import assert_fails_with, right, wrong

from llmcourse import checks
from llmcourse.cache import cache_root
from llmcourse.checks import check_classroom_env, check_model_folder
from llmcourse.i18n import set_language
from llmcourse.offline import checkpoint_dir


def test_both_checks_are_exported():
    assert {"check_model_folder", "check_classroom_env"} <= set(checks.__all__)


@pytest.mark.parametrize("answer", [
    right("check_model_folder", "a Path", lambda: checkpoint_dir()),
    right("check_model_folder", "a string", lambda: str(checkpoint_dir())),
])
def test_model_folder_passes_as_a_path_or_a_string(ready_cache, answer):
    assert check_model_folder(answer()).passed


def folder_mistake(name, answer, hint):
    return wrong("check_model_folder", name, answer, hint)


@pytest.mark.parametrize(("answer", "hint"), [
    folder_mistake("a file inside", lambda: checkpoint_dir() / "model.safetensors", "a file in the folder"),
    folder_mistake("the cache root", lambda: cache_root(), "cache root"),
    folder_mistake("elsewhere", lambda: "/nonexistent/folder", "the folder whose files the lesson listed"),
    folder_mistake("None", lambda: None, "pathlib.Path"),
    folder_mistake("a number", lambda: 42, "pathlib.Path"),
    folder_mistake("the function, not called", lambda: checkpoint_dir, "call it"),
    folder_mistake("the model's hub name", lambda: "HuggingFaceTB/SmolLM2-135M-Instruct", "the model's name"),
])
def test_model_folder_wrong_answers(ready_cache, answer, hint):
    assert_fails_with(check_model_folder(answer()), hint)


def test_an_unfinished_folder_is_not_ready(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    report = check_model_folder(tmp_path)
    assert not report.passed and "not a ready checkpoint" in report.failures[0].message


@pytest.mark.parametrize("answer", [
    right("check_classroom_env", "a literal", {"LLMCOURSE_CACHE": "/srv/llmcourse"}),
    right("check_classroom_env", "dict(), a trailing slash, offline too",
          dict(LLMCOURSE_CACHE="/srv/llmcourse/", HF_HUB_OFFLINE="1")),
    right("check_classroom_env", "a Path", {"LLMCOURSE_CACHE": Path("/srv/llmcourse")}),
])
def test_classroom_env_passes_with_or_without_a_trailing_slash(answer):
    assert check_classroom_env(answer).passed


def env_mistake(name, answer, hint):
    return wrong("check_classroom_env", name, answer, hint)


@pytest.mark.parametrize(("answer", "hint"), [
    env_mistake("HF_HOME", {"HF_HOME": "/srv/llmcourse"}, "not in Hugging Face's cache"),
    env_mistake("the model's subfolder", {"LLMCOURSE_CACHE": "/srv/llmcourse/SmolLM2-135M-Instruct"},
                "the shared folder itself"),
    env_mistake("another folder", {"LLMCOURSE_CACHE": "/home/me"}, "to the shared folder, ./srv/llmcourse."),
    env_mistake("a hub model", {"LLMCOURSE_CACHE": "/srv/llmcourse",
                                "LLMCOURSE_MODEL": "HuggingFaceTB/SmolLM2-360M-Instruct"}, "network"),
    env_mistake("a string", "LLMCOURSE_CACHE=/srv/llmcourse", "a dict of environment variables"),
])
def test_classroom_env_wrong_answers(answer, hint):
    assert_fails_with(check_classroom_env(answer), hint)


def test_japanese_hints():
    set_language("ja")
    assert repr(check_classroom_env({"LLMCOURSE_CACHE": "/srv/llmcourse"})).endswith("すべてのチェックに合格しました！")
    assert_fails_with(check_classroom_env({"HF_HOME": "/srv/llmcourse"}), "Hugging Face のキャッシュ")
    assert_fails_with(check_model_folder(None), "pathlib.Path")
