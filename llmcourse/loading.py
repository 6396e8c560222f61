"""Load a causal LM and its tokenizer, optionally quantized with bitsandbytes.

Lesson 01 introduces `load_model`; every later lesson starts with it. With no name
it loads the offline default (SmolLM2-135M-Instruct, converted by `offline.fetch`);
``$LLMCOURSE_MODEL`` or the ``name`` argument picks a hub model instead (Colab).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CourseError, ModelNotAvailableError, SetupError
from .hub import hub_offline_by_setting, hub_reachable
from .offline import MODEL_NAME, cache_status, checkpoint_dir, fetch
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


@dataclass(frozen=True)
class ModelChoice:
    """What `resolve_model` decided: which model, loaded from where, and why not if it cannot be.

    >>> ModelChoice("", "/cache/SmolLM2-135M-Instruct", "offline default").ok
    True
    """

    name: str  # as asked: the argument, else $LLMCOURSE_MODEL, else "" (nothing asked: the offline default)
    source: str  # what from_pretrained reads: a folder or a hub id
    origin: str  # "offline default", "folder", "hub cache" (downloaded before) or "hub" (downloaded on first load)
    problem: str = ""  # why it cannot be loaded here ("" when it can)
    fix: str = ""  # what to do about it

    @property
    def ok(self) -> bool:
        """True when `load_model` can load this choice from here."""
        return not self.problem


def resolve_model(name: str | os.PathLike | None = None, *, reachable: bool | None = None) -> ModelChoice:
    """Decide what `load_model(name)` loads, without loading or downloading anything.

    ``name``, else ``$LLMCOURSE_MODEL``, else the offline default; a folder, or else a hub
    id, which needs the hub cache or a reachable hub (``reachable``: the answer of a probe
    already made; None probes only when it matters). The doctor reports the same choice.

    >>> resolve_model("./no-such-model").problem
    "There is no model folder at './no-such-model'."
    """
    asked = name if name is not None else os.environ.get(MODEL_ENV)
    chosen = "" if asked is None else str(asked)
    if asked in OFFLINE_NAMES:
        return ModelChoice(chosen, str(checkpoint_dir()), "offline default")
    if Path(chosen).expanduser().is_dir():
        return ModelChoice(chosen, chosen, "folder")
    if looks_like_path(chosen):
        return ModelChoice(chosen, chosen, "folder", f"There is no model folder at {chosen!r}.",
                           f"Check the path, or call load_model() with no name for the offline default {MODEL_NAME}.")
    if in_hub_cache(chosen):
        return ModelChoice(chosen, chosen, "hub cache")
    if reachable is None:  # probe only now: a folder or a cached model never waits for the network
        reachable = hub_reachable()
    if reachable:
        return ModelChoice(chosen, chosen, "hub")
    why = "switched off (HF_HUB_OFFLINE=1)" if hub_offline_by_setting() else "not reachable from here"
    return ModelChoice(chosen, chosen, "hub", f"{chosen!r} is not a local folder and the Hugging Face Hub is {why}.",
                       f"Use the offline default instead: load_model() (it loads {MODEL_NAME}), or unset "
                       f"${MODEL_ENV}; or connect to the internet.")


def resolve_model_name(name: str | os.PathLike | None = None) -> str:
    """The folder or hub id `load_model` reads, fetching the offline default if needed (the hub is not probed).

    >>> resolve_model_name("HuggingFaceTB/SmolLM2-360M-Instruct")
    'HuggingFaceTB/SmolLM2-360M-Instruct'
    """
    return _ready_source(resolve_model(name, reachable=True))


def _ready_source(choice: ModelChoice) -> str:
    """The choice's source, with the offline default fetched first if it is not ready yet."""
    if choice.origin != "offline default":
        return choice.source
    status = cache_status()
    return str(status.path if status.ready else fetch())


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
        bnb_4bit_quant_type="nf4",  # NormalFloat4: levels spaced for normally distributed weights (or "fp4")
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
    except ImportError as error:
        raise SetupError("Quantization needs bitsandbytes: run `pip install \"bitsandbytes>=0.49\"`, "
                         "then restart the kernel; or pass quantization=None.", cause=error) from None
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
    choice = resolve_model(name)
    if not choice.ok:
        raise ModelNotAvailableError(f"{choice.problem} {choice.fix}") from None
    source = _ready_source(choice)
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
            raise ModelNotAvailableError(_explain_load_error(source, error), cause=error) from None
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
