"""Shared fixtures: a tiny random Llama (no download, seconds) and the offline model."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(autouse=True)
def english():
    """Every test starts and ends with messages in English (a test may switch to Japanese inside)."""
    from llmcourse.i18n import set_language

    set_language("en")
    yield
    set_language("en")


@pytest.fixture
def fake_gpu(monkeypatch):
    """Make torch see one CUDA GPU of the given capability and name (no GPU needed)."""
    import torch

    from llmcourse.quiet import silence_bitsandbytes

    silence_bitsandbytes()
    import bitsandbytes  # noqa: F401 (imported before the fake GPU: it picks its backend on import)

    def install(capability: tuple[int, int], name: str) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)

    return install


@pytest.fixture(scope="session")
def tiny_model():
    """A 2-layer random LlamaForCausalLM and a matching tokenizer-free vocab of 64 ids."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config).eval()
    model.generation_config.pad_token_id = 2
    return model


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A character-level tokenizer over 61 characters, with <pad>/<s>/</s> as ids 0-2.

    It behaves like a real transformers tokenizer (padding side, attention mask,
    decode, batch_decode) but needs no files.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = list("abcdefghijklmnopqrstuvwxyz0123456789 ,.!?'ABCDEFGHIJKLMNOPQRS")
    assert len(chars) == 61
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({c: i + 3 for i, c in enumerate(chars)})
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>",
    )
    tokenizer.padding_side = "right"
    return tokenizer


@pytest.fixture(scope="session")
def offline_model():
    """The real offline default in fp32 (fetched and converted once, then cached)."""
    from llmcourse import load_model

    # the thread count the test command pins (1 per xdist worker under `make test`: two workers with two threads
    # each would fight over two cores); 2 where nothing is pinned (`make test-fast`), so numbers match any machine
    torch.set_num_threads(int(os.environ.get("LLMCOURSE_TEST_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))))
    return load_model(quantization=None, device="cpu")


@pytest.fixture(scope="session")
def ready_cache() -> str:
    """The real offline cache folder, fetched (instant when `make` already did it)."""
    from llmcourse import offline

    return str(offline.fetch(progress=lambda message: None).parent)


@pytest.fixture
def course_env(monkeypatch, ready_cache):
    """A ready cache, no model chosen, and a hub that answers 'unreachable' at once."""
    from llmcourse import cache, checkup, offline

    monkeypatch.setenv(cache.CACHE_ENV, ready_cache)
    monkeypatch.delenv("LLMCOURSE_MODEL", raising=False)
    monkeypatch.delenv(offline.SOURCE_ENV, raising=False)
    monkeypatch.setattr(checkup, "hub_reachable", lambda timeout: False)
    return monkeypatch
