"""`resolve_model` decides what `load_model` loads (and what the doctor reports); errors keep their cause."""

from __future__ import annotations

import sys
import traceback

import pytest

from llmcourse import cache, loading, offline, precision
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
        precision.quantization_config("4bit", "cpu")
    assert isinstance(error.value.cause, ImportError) and type(error.value.cause).__name__ in error.value.details


def test_course_error_without_a_cause():
    error = CourseError("top_p must be in (0, 1]")
    assert error.cause is None and error.details == "" and str(error) == "top_p must be in (0, 1]"


# --- the dtype rule (issue 19): bf16 where the device has it natively, fp16 on GPUs older than Ampere ---

@pytest.mark.parametrize("device, capability, dtype", [
    ("cpu", None, "bfloat16"),  # a CPU: bf16 compute, measured and fine
    ("cuda", (7, 5), "float16"),  # Tesla T4 (Colab's free GPU): no native bf16
    ("cuda", (7, 0), "float16"),  # V100
    ("cuda", (8, 0), "bfloat16"),  # A100
    ("cuda", (8, 9), "bfloat16"),  # L4
    ("cuda", (9, 0), "bfloat16"),  # H100
], ids=["cpu", "t4", "v100", "a100", "l4", "h100"])
def test_pick_dtypes_follows_the_device(device, capability, dtype):
    dtypes = precision.pick_dtypes(device, capability)
    assert dtypes.compute == dtypes.unquantized == dtype
    assert dtypes.capability == capability
    if capability is not None and dtype == "float16":
        assert "no native bfloat16" in dtypes.reason and "8.0" in dtypes.reason


@pytest.mark.parametrize("capability, name, dtype", [((7, 5), "Tesla T4", "float16"),
                                                     ((8, 0), "NVIDIA A100", "bfloat16")])
def test_this_machines_gpu_decides(fake_gpu, capability, name, dtype):
    import torch

    fake_gpu(capability, name)
    dtypes = precision.pick_dtypes()  # device="auto": the fake GPU
    assert (dtypes.device, dtypes.capability, dtypes.compute) == (name, capability, dtype)
    config = precision.quantization_config("auto", "cuda")
    assert config.load_in_4bit and config.bnb_4bit_compute_dtype == getattr(torch, dtype)
    assert loading._weights_dtype("cuda", config) == getattr(torch, dtype)  # the layers left unquantized


def test_the_cpu_is_unchanged():
    import torch

    assert precision.quantization_config("auto", "cpu") is None
    assert loading._weights_dtype("cpu", None) == "float32"
    config = precision.quantization_config("4bit", "cpu")
    assert config.bnb_4bit_compute_dtype == torch.bfloat16
    assert loading._weights_dtype("cpu", config) == torch.bfloat16


def test_a_gpu_that_is_not_here_must_be_described(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SetupError, match=r"torch sees no CUDA GPU.*capability=\(7, 5\) for a T4"):
        precision.quantization_config("auto", "cuda")
    assert precision.quantization_config("auto", "cuda", capability=(7, 5)).bnb_4bit_compute_dtype == torch.float16


@pytest.mark.parametrize("quantization, capability, needed", [("4bit", (5, 2), "6.0"), ("8bit", (6, 1), "7.5")])
def test_a_gpu_too_old_for_bitsandbytes_gets_the_fix(quantization, capability, needed):
    with pytest.raises(SetupError) as error:
        precision.quantization_config(quantization, "cuda", capability=capability)
    message = str(error.value)
    assert f"compute capability {capability[0]}.{capability[1]}" in message and f"needs {needed}" in message
    assert "quantization=None" in message


def test_load_model_on_a_t4_loads_in_float16_and_says_so(fake_gpu, no_probe, ready_cache, capsys):
    """load_model passes the rule's dtypes to from_pretrained, and prints which on a GPU."""
    import torch

    no_probe.setenv(cache.CACHE_ENV, ready_cache)
    fake_gpu((7, 5), "Tesla T4")
    calls = {}

    class Fake:
        @classmethod
        def from_pretrained(cls, source, **kwargs):
            calls[cls.__name__] = kwargs
            config = type("Config", (), {"quantization_config": kwargs.get("quantization_config")})()
            return type("Model", (), {"config": config, "dtype": kwargs.get("dtype"), "device": "cuda:0"})()

    no_probe.setattr(loading, "_auto", lambda name: type(name, (Fake,), {}))
    load_model()
    kwargs = calls["AutoModelForCausalLM"]
    assert kwargs["dtype"] == torch.float16 and kwargs["device_map"] == {"": "cuda"}
    assert kwargs["quantization_config"].bnb_4bit_compute_dtype == torch.float16
    assert capsys.readouterr().out.strip() == (
        "load_model: 4-bit on Tesla T4: matmuls in float16, other layers in float16 "
        "(compute capability 7.5 has no native bfloat16: that needs 8.0, Ampere or newer)")


@pytest.mark.parametrize("quantization", ["4-bit", "4BIT", "4_bit"])
def test_a_misspelled_quantization_gets_a_suggestion(quantization):
    with pytest.raises(CourseError, match=r"Did you mean '4bit'\?"):
        precision.quantization_config(quantization, "cpu")


def test_a_file_is_not_a_model_folder(no_probe, tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    choice = resolve_model(weights)
    assert not choice.ok and "is a file" in choice.problem and f"load_model({str(tmp_path)!r})" in choice.fix
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"")
    assert "gguf_file='model.gguf'" in resolve_model(str(gguf)).fix
