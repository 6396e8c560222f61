"""`resolve_model` decides what `load_model` loads (and what the doctor reports); errors keep their cause."""

from __future__ import annotations

import sys
import traceback

import pytest

from llmcourse import loading, offline
from llmcourse.errors import CourseError, ModelNotAvailableError, SetupError
from llmcourse.loading import MODEL_ENV, load_model, resolve_model

HUB_ID = "someone/not-a-cached-model"


@pytest.fixture
def no_probe(monkeypatch):
    """No model chosen, nothing in the hub cache, and a hub probe that must not happen."""
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(loading, "in_hub_cache", lambda repo_id: False)
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: pytest.fail("the hub was probed"))
    return monkeypatch


@pytest.mark.parametrize("name", [None, "", "default", "offline", offline.MODEL_NAME])
def test_offline_names_choose_the_offline_default(no_probe, name):
    choice = resolve_model(name)
    assert choice.ok and choice.origin == "offline default"
    assert choice.source == str(offline.checkpoint_dir()) and choice.name == (name or "")


def test_the_argument_wins_over_the_environment(no_probe, tmp_path):
    no_probe.setenv(MODEL_ENV, HUB_ID)
    assert resolve_model(str(tmp_path)).origin == "folder"
    assert resolve_model(reachable=False).name == HUB_ID


def test_a_folder_is_loaded_as_it_is(no_probe, tmp_path):
    choice = resolve_model(tmp_path)
    assert choice.ok and choice.origin == "folder" and choice.source == str(tmp_path)


@pytest.mark.parametrize("name", ["./no-such-model", "~/no-such-model", "a/b/c"])
def test_a_missing_folder_is_a_problem_with_a_fix(no_probe, name):
    choice = resolve_model(name)
    assert not choice.ok and choice.origin == "folder"
    assert choice.problem == f"There is no model folder at {name!r}."
    assert "load_model() with no name" in choice.fix and offline.MODEL_NAME in choice.fix


def test_a_cached_hub_model_needs_no_hub(no_probe):
    no_probe.setattr(loading, "in_hub_cache", lambda repo_id: repo_id == HUB_ID)
    choice = resolve_model(HUB_ID)
    assert choice.ok and choice.origin == "hub cache" and choice.source == HUB_ID


@pytest.mark.parametrize("reachable", [True, False])
def test_a_hub_model_needs_the_hub(no_probe, reachable):
    no_probe.setattr(loading, "hub_reachable", lambda timeout=3.0: reachable)
    for choice in (resolve_model(HUB_ID), resolve_model(HUB_ID, reachable=reachable)):
        assert choice.origin == "hub" and choice.ok is reachable
    if not reachable:
        assert choice.problem.endswith("the Hugging Face Hub is not reachable from here.")
        assert f"unset ${MODEL_ENV}" in choice.fix


def test_a_hub_switched_off_says_so(no_probe):
    no_probe.setenv("HF_HUB_OFFLINE", "1")
    assert "switched off (HF_HUB_OFFLINE=1)" in resolve_model(HUB_ID, reachable=False).problem


def test_load_model_raises_the_choice_problem_and_fix(no_probe):
    with pytest.raises(ModelNotAvailableError) as error:
        load_model("./no-such-model", device="cpu")
    choice = resolve_model("./no-such-model")
    assert str(error.value) == f"{choice.problem} {choice.fix}"


def one_line(error: BaseException) -> list[str]:
    """What a notebook shows below the traceback frames: the exception's own lines."""
    return traceback.format_exception_only(error)


def test_a_failed_load_is_one_line_with_the_cause_kept(no_probe, tmp_path):
    with pytest.raises(ModelNotAvailableError) as error:
        load_model(tmp_path, quantization=None, device="cpu")  # a folder without a model in it
    message = str(error.value)
    assert message.startswith(f"Could not load {str(tmp_path)!r}: ") and "\n" not in message
    assert len(one_line(error.value)) == 1 and error.value.__suppress_context__
    assert isinstance(error.value.cause, (OSError, ValueError))
    assert error.value.details.startswith("Traceback") and str(error.value.cause).splitlines()[0] in error.value.details


def test_missing_bitsandbytes_keeps_the_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import bitsandbytes now raises ImportError
    with pytest.raises(SetupError, match="Quantization needs bitsandbytes") as error:
        loading.quantization_config("4bit", "cpu")
    assert isinstance(error.value.cause, ImportError) and type(error.value.cause).__name__ in error.value.details


def test_course_error_without_a_cause():
    error = CourseError("top_p must be in (0, 1]")
    assert error.cause is None and error.details == "" and str(error) == "top_p must be in (0, 1]"
