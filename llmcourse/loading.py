"""Load a causal LM and its tokenizer, optionally quantized with bitsandbytes.

Lesson 01 introduces `load_model`; every later lesson starts with it. With no name
it loads the offline default (SmolLM2-135M-Instruct, converted by `offline.fetch`);
``$LLMCOURSE_MODEL`` or the ``name`` argument picks a hub model instead (Colab).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import CourseError, ModelNotAvailableError, SetupError
from .hub import hub_offline_by_setting, hub_reachable
from .offline import MODEL_NAME, cache_status, fetch
from .quiet import quiet_loading, silence_bitsandbytes

MODEL_ENV = "LLMCOURSE_MODEL"
QUANTIZATIONS = ("auto", None, "4bit", "8bit")
OFFLINE_NAMES = {None, "", "default", "offline", MODEL_NAME}


def pick_device(device: str = "auto") -> str:
    """Resolve ``"auto"`` to ``"cuda"`` when a GPU is usable, else ``"cpu"``.

    >>> pick_device("cpu")
    'cpu'
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SetupError(f"device={device!r} but torch sees no CUDA GPU. Use device='cpu' (or 'auto'), "
                         "or on Colab pick Runtime > Change runtime type > GPU.")
    if device.split(":")[0] not in {"cpu", "cuda", "mps"}:
        raise CourseError(f"device={device!r} is not known: use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    return device


def resolve_model_name(name: str | os.PathLike | None = None) -> str:
    """The model to load: ``name``, else ``$LLMCOURSE_MODEL``, else the offline default.

    >>> resolve_model_name("HuggingFaceTB/SmolLM2-360M-Instruct")
    'HuggingFaceTB/SmolLM2-360M-Instruct'
    """
    chosen = name if name is not None else os.environ.get(MODEL_ENV)
    if chosen in OFFLINE_NAMES:
        status = cache_status()
        return str(status.path if status.ready else fetch())
    return str(chosen)


def quantization_config(quantization: str | None, device: str) -> Any:
    """Build the `BitsAndBytesConfig` for ``"4bit"``/``"8bit"`` (``None`` stays None).

    >>> quantization_config(None, "cpu") is None
    True
    """
    if quantization not in QUANTIZATIONS:
        raise CourseError(f"quantization={quantization!r} is not known: use None (full precision), "
                          "'4bit', '8bit' or 'auto' (4-bit on a CUDA GPU, full precision on CPU).")
    if quantization == "auto":
        quantization = "4bit" if device.startswith("cuda") else None
    if quantization is None:
        return None
    _require_bitsandbytes(device)
    import torch
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(
            load_in_8bit=True,  # LLM.int8(): int8 weights, outlier features kept in 16 bit
        )
    return BitsAndBytesConfig(
        load_in_4bit=True,  # store each Linear weight in 4 bits (blocks of 64 with one scale each)
        bnb_4bit_quant_type="nf4",  # NormalFloat4: levels spaced for normally distributed weights ("fp4" is the other choice)
        bnb_4bit_use_double_quant=True,  # quantize the per-block scales too: about 0.4 bit/weight less
        bnb_4bit_compute_dtype=torch.bfloat16,  # dtype the matmuls run in after dequantizing
    )


def _require_bitsandbytes(device: str) -> None:
    """Fail early, with the fix, when bitsandbytes cannot quantize on ``device``."""
    if device.startswith("mps"):
        raise SetupError("bitsandbytes quantization is not available on Apple 'mps' here: "
                         "use quantization=None, or device='cpu'.")
    silence_bitsandbytes()
    try:
        import bitsandbytes
    except ImportError:
        raise SetupError("Quantization needs bitsandbytes: run `pip install \"bitsandbytes>=0.49\"`, "
                         "then restart the kernel; or pass quantization=None.") from None
    major, minor = (int(part) for part in bitsandbytes.__version__.split(".")[:2])
    if device == "cpu" and (major, minor) < (0, 49):
        raise SetupError(f"bitsandbytes {bitsandbytes.__version__} quantizes only on CUDA. Upgrade for CPU "
                         "support: `pip install \"bitsandbytes>=0.49\"`; or pass quantization=None.")


def load_model(name: str | os.PathLike | None = None, *, quantization: str | None = "auto",
               device: str = "auto") -> tuple[Any, Any]:
    """Load ``(model, tokenizer)``: the offline default unless a name is given.

    ``quantization``: None (fp32 on CPU, the checkpoint's dtype on GPU), "4bit" (NF4),
    "8bit", or "auto" (4-bit on CUDA, None on CPU).

    >>> model, tokenizer = load_model()                        # doctest: +SKIP
    >>> model, tokenizer = load_model(quantization="4bit")     # doctest: +SKIP
    """
    device = pick_device(device)
    config = quantization_config(quantization, device)
    source = resolve_model_name(name)
    local = Path(source).expanduser().is_dir()
    if not local and looks_like_path(source):
        raise ModelNotAvailableError(f"There is no model folder at {source!r}. Check the path, or call "
                                     f"load_model() with no name for the offline default {MODEL_NAME}.")
    if not local and not in_hub_cache(source) and not hub_reachable():
        why = "switched off (HF_HUB_OFFLINE=1)" if hub_offline_by_setting() else "not reachable from here"
        raise ModelNotAvailableError(
            f"{source!r} is not a local folder and the Hugging Face Hub is {why}. "
            f"Use the offline default instead: load_model() (it loads {MODEL_NAME}), or unset "
            f"${MODEL_ENV}; or connect to the internet."
        )
    # fp32 on CPU (exact, portable); with quantization the layers left unquantized
    # (embeddings, norms) are kept in bf16 so 4-bit really is about 1/4 of fp32.
    dtype = "auto" if device != "cpu" else ("bfloat16" if config is not None else "float32")
    with quiet_loading():
        try:
            tokenizer = _auto("AutoTokenizer").from_pretrained(source)
            model = _auto("AutoModelForCausalLM").from_pretrained(
                source, dtype=dtype, device_map={"": device}, quantization_config=config, use_safetensors=True,
            )
        except (OSError, ValueError) as error:
            raise ModelNotAvailableError(_explain_load_error(source, error)) from None
    return model, tokenizer


def looks_like_path(name: str) -> bool:
    """A hub id is ``org/name``; anything that starts like a path is meant as a folder.

    >>> looks_like_path("./my-model"), looks_like_path("HuggingFaceTB/SmolLM2-135M-Instruct")
    (True, False)
    """
    return name.startswith(("/", "./", "../", "~", ".")) or "\\" in name or name.count("/") > 1


def _auto(class_name: str) -> Any:
    """Import a transformers Auto class lazily (keeps `import llmcourse` fast)."""
    import transformers

    return getattr(transformers, class_name)


def in_hub_cache(repo_id: str) -> bool:
    """True if the hub model's config is already in the local Hugging Face cache.

    >>> in_hub_cache("nobody/no-such-model")
    False
    """
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an invalid repo id, for instance
        return False


def _explain_load_error(source: str, error: Exception) -> str:
    """Turn a from_pretrained failure into a message with the fix."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "safetensors" in text.lower() or "pytorch_model.bin" in text:
        return (f"{source!r} has no safetensors weights; the course loads only safetensors (no pickle). "
                "Pick a model whose repository has *.safetensors files.")
    if "gated" in text.lower() or "401" in text or "403" in text:
        return (f"{source!r} is gated: accept its licence on huggingface.co, then log in "
                "(`from huggingface_hub import login; login()`), and load it again.")
    return (f"Could not load {source!r}: {text}. Check the spelling of the hub id or folder, "
            f"or call load_model() with no name for the offline default {MODEL_NAME}.")
