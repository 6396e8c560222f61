"""Where a model runs and in which number types: the device, the dtypes, the bitsandbytes config.

Lesson 01 introduces `pick_dtypes` and `quantization_config`; `load_model` (`llmcourse.loading`)
uses all of them, and the doctor reports the same choice. bfloat16 where the device computes
in it natively, float16 on GPUs older than Ampere; bitsandbytes only where its kernels run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import CourseError, SetupError
from .i18n import say
from .quiet import silence_bitsandbytes

QUANTIZATIONS = ("auto", None, "4bit", "8bit")
BF16_CAPABILITY = (8, 0)  # native bfloat16 matmuls: Ampere (A100, RTX 30xx, L4) and newer; a T4 is 7.5
BNB_4BIT_CAPABILITY = (6, 0)  # bitsandbytes' NF4/FP4 kernels: Pascal (P100, GTX 10xx) and newer
BNB_8BIT_CAPABILITY = (7, 5)  # bitsandbytes' LLM.int8(): Turing (T4, RTX 20xx) and newer


def pick_device(device: str = "auto") -> str:
    """Resolve ``"auto"`` to ``"cuda"`` when a GPU is usable, else ``"cpu"``.

    >>> pick_device("cpu")
    'cpu'
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SetupError(say(
            en=f"device={device!r} but torch sees no CUDA GPU. Use device='cpu' (or 'auto'), "
               "or on Colab pick Runtime > Change runtime type > GPU.",
            ja=f"device={device!r} が指定されましたが、torch から CUDA GPU が見えません。device='cpu'（または "
               "'auto'）を使うか、Colab ならランタイム > ランタイムのタイプを変更 で GPU を選んでください。"))
    if device.split(":")[0] not in {"cpu", "cuda", "mps"}:
        raise CourseError(say(
            en=f"device={device!r} is not known: use 'auto', 'cpu', 'cuda' or 'cuda:N'.",
            ja=f"device={device!r} は使えません。'auto'、'cpu'、'cuda'、'cuda:N' のいずれかにしてください。"))
    return device


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
    that is not this machine's, e.g. ``(7, 5)`` for a T4. The ``reason`` follows `set_language`.

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
        return Dtypes(device, None, "bfloat16", "bfloat16",
                      say(en="bfloat16 works on every CPU, with float32's range",
                          ja="bfloat16 はどの CPU でも動き、float32 と同じ範囲を持ちます"))
    found = gpu_capability(device)
    if found is None:
        raise SetupError(say(
            en=f"device={device!r} but torch sees no CUDA GPU, so its compute capability is unknown. "
               "Describe the GPU you mean: capability=(7, 5) for a T4, (8, 0) for an A100.",
            ja=f"device={device!r} が指定されましたが、torch から CUDA GPU が見えないため compute capability が"
               "わかりません。対象の GPU を指定してください。T4 なら capability=(7, 5)、A100 なら (8, 0) です。"))
    return _gpu_dtypes(*found)


def _gpu_dtypes(capability: tuple[int, int], name: str) -> Dtypes:
    """The rule on a GPU: bfloat16 from compute capability 8.0 on, float16 before."""
    dotted = _dotted(capability)
    if capability >= BF16_CAPABILITY:
        return Dtypes(name, capability, "bfloat16", "bfloat16",
                      say(en=f"compute capability {dotted} has native bfloat16",
                          ja=f"compute capability {dotted} は bfloat16 をネイティブに計算できます"))
    return Dtypes(name, capability, "float16", "float16",
                  say(en=f"compute capability {dotted} has no native bfloat16: "
                         f"that needs {_dotted(BF16_CAPABILITY)}, Ampere or newer",
                      ja=f"compute capability {dotted} は bfloat16 をネイティブに計算できません。"
                         f"それには {_dotted(BF16_CAPABILITY)}（Ampere）以降が必要です"))


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
        hint = say(en=f" Did you mean {meant!r}?", ja=f"{meant!r} のことでしょうか。") if meant in QUANTIZATIONS else ""
        raise CourseError(say(
            en=f"quantization={quantization!r} is not known: use None (full precision), "
               f"'4bit', '8bit' or 'auto' (4-bit on a CUDA GPU, full precision on CPU).{hint}",
            ja=f"quantization={quantization!r} は使えません。None（全精度）、'4bit'、'8bit'、'auto'（CUDA GPU では "
               f"4 ビット、CPU では全精度）のいずれかにしてください。{hint}"))
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
        raise SetupError(say(
            en=f"{dtypes.device} (compute capability {_dotted(dtypes.capability)}) is too old for "
               f"bitsandbytes {quantization[0]}-bit, which needs {_dotted(needed)} or newer. Use "
               f"{other + ' or ' if other else ''}quantization=None (full precision, no bitsandbytes); "
               "on Colab pick a T4 GPU or newer (Runtime > Change runtime type).",
            ja=f"{dtypes.device}（compute capability {_dotted(dtypes.capability)}）は bitsandbytes の "
               f"{quantization[0]} ビットには古すぎます（{_dotted(needed)} 以降が必要です）。"
               f"{other + ' か ' if other else ''}quantization=None（全精度、bitsandbytes なし）を使ってください。"
               "Colab なら T4 以降の GPU を選んでください（ランタイム > ランタイムのタイプを変更）。"))
    return dtypes


def _require_bitsandbytes(device: str) -> None:
    """Fail early, with the fix, when bitsandbytes cannot quantize on ``device``."""
    if device.startswith("mps"):
        raise SetupError(say(en="bitsandbytes quantization is not available on Apple 'mps' here: "
                                "use quantization=None, or device='cpu'.",
                             ja="ここでは Apple の 'mps' で bitsandbytes の量子化を使えません。"
                                "quantization=None か device='cpu' を使ってください。"))
    silence_bitsandbytes()
    try:
        import bitsandbytes
    except ImportError as error:
        raise SetupError(say(en="Quantization needs bitsandbytes: run `pip install \"bitsandbytes>=0.49\"`, "
                                "then restart the kernel; or pass quantization=None.",
                             ja="量子化には bitsandbytes が必要です。`pip install \"bitsandbytes>=0.49\"` を実行して"
                                "カーネルを再起動するか、quantization=None を渡してください。"),
                         cause=error) from None
    major, minor = (int(part) for part in bitsandbytes.__version__.split(".")[:2])
    if device == "cpu" and (major, minor) < (0, 49):
        raise SetupError(say(
            en=f"bitsandbytes {bitsandbytes.__version__} quantizes only on CUDA. Upgrade for CPU "
               "support: `pip install \"bitsandbytes>=0.49\"`; or pass quantization=None.",
            ja=f"bitsandbytes {bitsandbytes.__version__} は CUDA でしか量子化できません。CPU で使うには "
               "`pip install \"bitsandbytes>=0.49\"` で更新するか、quantization=None を渡してください。"))


def describe_loaded(model: Any, dtypes: Dtypes | None) -> str:
    """One line: what `load_model` loaded where, and in which dtypes (printed on a GPU).

    >>> describe_loaded(model, pick_dtypes("cuda", capability=(7, 5), name="Tesla T4"))  # doctest: +SKIP
    'load_model: 4-bit on Tesla T4: matmuls in float16, other layers in float16 (compute capability 7.5 has ...)'
    """
    if dtypes is None:
        dtype = str(model.dtype).removeprefix("torch.")
        return say(en=f"load_model: full precision ({dtype}) on {model.device}",
                   ja=f"load_model：{model.device} で全精度（{dtype}）")
    bits = "8-bit" if getattr(model.config.quantization_config, "load_in_8bit", False) else "4-bit"
    matmuls = "in 16 bit" if bits == "8-bit" else f"in {dtypes.compute}"
    return say(en=f"load_model: {bits} on {dtypes.device}: matmuls {matmuls}, other layers in {dtypes.unquantized} "
                  f"({dtypes.reason})",
               ja=f"load_model：{dtypes.device} で {bits.replace('-bit', ' ビット')}。行列積は "
                  f"{'16 ビット' if bits == '8-bit' else dtypes.compute}、ほかの層は {dtypes.unquantized}"
                  f"（{dtypes.reason}）")
