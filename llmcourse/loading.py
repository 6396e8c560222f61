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

from .errors import CourseError, ModelNotAvailableError, SetupError, a_type
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
    if name is not None and not isinstance(name, (str, os.PathLike)):
        raise CourseError(f"load_model takes a model's name: a hub id such as 'HuggingFaceTB/SmolLM2-360M-Instruct' "
                          f"or a folder, not {a_type(name)}. Call load_model() for the offline default; "
                          "a model you already loaded needs no loading.")
    asked = name if name is not None else os.environ.get(MODEL_ENV)
    chosen = "" if asked is None else str(asked)
    if asked in OFFLINE_NAMES:
        return ModelChoice(chosen, str(checkpoint_dir()), "offline default")
    if Path(chosen).expanduser().is_dir():
        return ModelChoice(chosen, chosen, "folder")
    if Path(chosen).expanduser().is_file():
        return _a_file(chosen)
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


def _a_file(path: str) -> ModelChoice:
    """The choice for a file given where a folder is wanted: the problem, and the folder to pass instead."""
    folder = str(Path(path).parent)
    fix = f"Pass the folder that holds it (config.json, the weights, the tokenizer files): load_model({folder!r})."
    if path.endswith(".gguf"):
        fix = (f"A .gguf file is loaded with AutoModelForCausalLM.from_pretrained({folder!r}, "
               f"gguf_file={Path(path).name!r}) (lesson 01); load_model() loads the offline default, "
               "converted from one.")
    return ModelChoice(path, path, "folder", f"{path!r} is a file, and load_model loads a model folder.", fix)


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


BF16_CAPABILITY = (8, 0)  # native bfloat16 matmuls: Ampere (A100, RTX 30xx, L4) and newer; a T4 is 7.5
BNB_4BIT_CAPABILITY = (6, 0)  # bitsandbytes' NF4/FP4 kernels: Pascal (P100, GTX 10xx) and newer
BNB_8BIT_CAPABILITY = (7, 5)  # bitsandbytes' LLM.int8(): Turing (T4, RTX 20xx) and newer


@dataclass(frozen=True)
class Dtypes:
    """The dtypes `load_model` quantizes with on one device, and why (`pick_dtypes` decides).

    >>> Dtypes("cpu", None, "bfloat16", "bfloat16", "").compute
    'bfloat16'
    """

    device: str  # "cpu", or the GPU's name
    capability: tuple[int, int] | None  # the GPU's compute capability (None on a CPU)
    compute: str  # bnb_4bit_compute_dtype: what the 4-bit matmuls run in after dequantizing
    unquantized: str  # dtype= for the layers bitsandbytes leaves alone (embeddings, norms)
    reason: str  # why, in one sentence

    def torch_dtype(self, which: str = "compute") -> Any:
        """``compute`` or ``unquantized`` as a torch dtype, e.g. ``torch.float16``."""
        import torch

        return getattr(torch, getattr(self, which))


def gpu_capability(device: str = "cuda") -> tuple[tuple[int, int], str] | None:
    """The compute capability and name of the GPU torch sees, or None without one.

    >>> gpu_capability("cpu") is None
    True
    """
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    return tuple(torch.cuda.get_device_capability(device)), torch.cuda.get_device_name(device)


def pick_dtypes(device: str = "auto", capability: tuple[int, int] | None = None, name: str = "") -> Dtypes:
    """bfloat16 where the device computes in it natively, float16 on GPUs older than Ampere.

    bfloat16 keeps float32's range (no overflow), so it is the safer 16-bit type; but only
    GPUs of compute capability 8.0 and newer have bfloat16 units. Colab's free T4 (7.5)
    emulates it slowly, or fails: there float16 is the fast type. CPUs run bfloat16 fine.
    (``torch.cuda.is_bf16_supported()`` says True on a T4 too, because it counts emulation;
    ``including_emulation=False`` gives the answer used here.) ``capability`` describes a GPU
    that is not this machine's, e.g. ``(7, 5)`` for a T4.

    >>> pick_dtypes("cpu").compute
    'bfloat16'
    >>> pick_dtypes("cuda", capability=(7, 5)).compute     # Tesla T4 (Turing)
    'float16'
    >>> pick_dtypes("cuda", capability=(8, 0)).compute     # A100 (Ampere)
    'bfloat16'
    """
    if capability is not None:  # a GPU described, not necessarily this machine's
        return _gpu_dtypes(tuple(capability), name or "GPU")
    device = pick_device("auto") if device == "auto" else device
    if not device.startswith("cuda"):
        return Dtypes(device, None, "bfloat16", "bfloat16", "bfloat16 works on every CPU, with float32's range")
    found = gpu_capability(device)
    if found is None:
        raise SetupError(f"device={device!r} but torch sees no CUDA GPU, so its compute capability is unknown. "
                         "Describe the GPU you mean: capability=(7, 5) for a T4, (8, 0) for an A100.")
    return _gpu_dtypes(*found)


def _gpu_dtypes(capability: tuple[int, int], name: str) -> Dtypes:
    """The rule on a GPU: bfloat16 from compute capability 8.0 on, float16 before."""
    if capability >= BF16_CAPABILITY:
        return Dtypes(name, capability, "bfloat16", "bfloat16",
                      f"compute capability {_dotted(capability)} has native bfloat16")
    return Dtypes(name, capability, "float16", "float16",
                  f"compute capability {_dotted(capability)} has no native bfloat16: "
                  f"that needs {_dotted(BF16_CAPABILITY)}, Ampere or newer")


def _dotted(capability: tuple[int, int]) -> str:
    """``(7, 5)`` -> ``"7.5"``."""
    return ".".join(str(part) for part in capability)


def quantization_config(quantization: str | None, device: str, capability: tuple[int, int] | None = None) -> Any:
    """Build the `BitsAndBytesConfig` for ``"4bit"``/``"8bit"`` (``None`` stays None), in `pick_dtypes`' dtypes.

    ``capability`` describes a GPU other than this machine's (e.g. ``(7, 5)``, a T4).

    >>> quantization_config(None, "cpu") is None
    True
    >>> quantization_config("4bit", "cuda", capability=(7, 5)).bnb_4bit_compute_dtype  # doctest: +SKIP
    torch.float16
    """
    if quantization not in QUANTIZATIONS:
        meant = str(quantization).replace("-", "").replace("_", "").replace(" ", "").lower()
        hint = f" Did you mean {meant!r}?" if meant in QUANTIZATIONS else ""
        raise CourseError(f"quantization={quantization!r} is not known: use None (full precision), "
                          f"'4bit', '8bit' or 'auto' (4-bit on a CUDA GPU, full precision on CPU).{hint}")
    if quantization == "auto":
        quantization = "4bit" if device.startswith("cuda") else None
    if quantization is None:
        return None
    _require_bitsandbytes(device)
    dtypes = _dtypes_for(quantization, device, capability)
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(
            load_in_8bit=True,  # LLM.int8(): int8 weights, outlier features kept in 16 bit
        )
    return BitsAndBytesConfig(
        load_in_4bit=True,  # store each Linear weight in 4 bits (blocks of 64 with one scale each)
        bnb_4bit_quant_type="nf4",  # NormalFloat4: levels spaced for normally distributed weights (or "fp4")
        bnb_4bit_use_double_quant=True,  # quantize the per-block scales too: about 0.4 bit/weight less
        bnb_4bit_compute_dtype=dtypes.torch_dtype("compute"),  # dtype the matmuls run in: see pick_dtypes
    )


def _dtypes_for(quantization: str, device: str, capability: tuple[int, int] | None) -> Dtypes:
    """`pick_dtypes`, after refusing a GPU too old for the bitsandbytes kernel asked for."""
    dtypes = pick_dtypes(device, capability)
    if dtypes.capability is None:  # a CPU
        return dtypes
    needed = BNB_4BIT_CAPABILITY if quantization == "4bit" else BNB_8BIT_CAPABILITY
    if dtypes.capability < needed:
        other = "quantization='4bit'" if quantization == "8bit" and dtypes.capability >= BNB_4BIT_CAPABILITY else ""
        raise SetupError(f"{dtypes.device} (compute capability {_dotted(dtypes.capability)}) is too old for "
                         f"bitsandbytes {quantization[0]}-bit, which needs {_dotted(needed)} or newer. Use "
                         f"{other + ' or ' if other else ''}quantization=None (full precision, no bitsandbytes); "
                         "on Colab pick a T4 GPU or newer (Runtime > Change runtime type).")
    return dtypes


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
    dtype = _weights_dtype(device, config)
    with quiet_loading():
        try:
            tokenizer = _auto("AutoTokenizer").from_pretrained(source)
            model = _auto("AutoModelForCausalLM").from_pretrained(
                source, dtype=dtype, device_map={"": device}, quantization_config=config, use_safetensors=True,
            )
        except (OSError, ValueError) as error:
            raise ModelNotAvailableError(_explain_load_error(source, error), cause=error) from None
    if device.startswith("cuda"):  # the dtypes depend on the GPU: say which (on a CPU they are the lessons' own)
        print(describe_loaded(model, pick_dtypes(device) if config is not None else None))
    return model, tokenizer


def _weights_dtype(device: str, config: Any) -> Any:
    """The ``dtype=`` for from_pretrained: what the layers bitsandbytes leaves alone are kept in.

    fp32 on a CPU without quantization (exact, portable); with quantization the unquantized
    layers (embeddings, norms) take `pick_dtypes`' 16-bit type, so 4-bit really is about 1/4
    of fp32; on a GPU without quantization, the checkpoint's own dtype ("auto").
    """
    if config is None:
        return "float32" if device == "cpu" else "auto"
    return pick_dtypes(device).torch_dtype("unquantized")


def describe_loaded(model: Any, dtypes: Dtypes | None) -> str:
    """One line: what `load_model` loaded where, and in which dtypes (printed on a GPU).

    >>> describe_loaded(model, pick_dtypes("cuda", capability=(7, 5), name="Tesla T4"))  # doctest: +SKIP
    'load_model: 4-bit on Tesla T4: matmuls in float16, other layers in float16 (compute capability 7.5 has ...)'
    """
    if dtypes is None:
        return f"load_model: full precision ({str(model.dtype).removeprefix('torch.')}) on {model.device}"
    bits = "8-bit" if getattr(model.config.quantization_config, "load_in_8bit", False) else "4-bit"
    matmuls = "in 16 bit" if bits == "8-bit" else f"in {dtypes.compute}"
    return (f"load_model: {bits} on {dtypes.device}: matmuls {matmuls}, other layers in {dtypes.unquantized} "
            f"({dtypes.reason})")


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
