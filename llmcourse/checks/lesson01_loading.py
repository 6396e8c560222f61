"""Checks for lesson 01 (loading): a 4-bit NF4 model and an 8-bit `BitsAndBytesConfig`."""

from __future__ import annotations

import math
from typing import Any

from ..i18n import say
from .base import Report, exercise_check, is_model, not_a


@exercise_check(en="4-bit model", ja="4 ビット量子化モデル", answer=is_model)
def check_4bit_model(report: Report, my_model: Any) -> None:
    """Lesson 01: ``my_model`` is 4-bit NF4, double quantized, computes in its device's 16-bit type, <= 0.3 of fp32.

    The 16-bit type is bfloat16, or float16 on a GPU older than Ampere (`llmcourse.loading.pick_dtypes`).

    >>> check_4bit_model(my_model).passed   # loaded with BitsAndBytesConfig(load_in_4bit=True, ...)  # doctest: +SKIP
    True
    """
    layers = [module for module in my_model.modules() if type(module).__name__ == "Linear4bit"]
    if not report.add(layers, say(en=f"has {len(layers)} bitsandbytes Linear4bit layers",
                                  ja=f"bitsandbytes の Linear4bit 層が {len(layers)} 個あります") if layers else
                      say(en="has no bitsandbytes Linear4bit layers", ja="bitsandbytes の Linear4bit 層がありません"),
                      _no_4bit_hint(my_model)):
        return
    types = ", ".join(sorted({str(getattr(layer.weight, "quant_type", None)) for layer in layers}))
    nf4 = types == "nf4"
    report.add(nf4, say(en=f"quantization type is {types}" + ("" if nf4 else ", not nf4"),
                        ja=f"量子化の型は {types} です" + ("" if nf4 else "（nf4 ではありません）")),
               say(en='BitsAndBytesConfig(..., bnb_4bit_quant_type="nf4"): NormalFloat4 suits normally '
                      'distributed weights (the default is "fp4")',
                   ja='BitsAndBytesConfig(..., bnb_4bit_quant_type="nf4") と指定します。NormalFloat4 は'
                      '正規分布に近い重みに向いた型です（既定値は "fp4"）'))
    double = all(getattr(layer.weight, "compress_statistics", False) for layer in layers)
    report.add(double, say(en="double quantization is " + ("on" if double else "off"),
                           ja="二重量子化が" + ("有効です" if double else "無効です")),
               say(en="BitsAndBytesConfig(..., bnb_4bit_use_double_quant=True) quantizes the per-block scales too",
                   ja="BitsAndBytesConfig(..., bnb_4bit_use_double_quant=True) でブロックごとのスケールも量子化します"))
    _check_compute_dtype(report, layers[0], _device_dtypes(my_model))
    _check_footprint(report, my_model)


def _device_dtypes(model: Any) -> Any:
    """The dtypes the course's rule picks for the model's device (`llmcourse.loading.pick_dtypes`)."""
    from ..loading import pick_dtypes

    device = getattr(model, "device", None)
    return pick_dtypes("cuda" if getattr(device, "type", "cpu") == "cuda" else "cpu")


def _device_words(dtypes: Any) -> str:
    """'this CPU', or 'this GPU (Tesla T4, compute capability 7.5)'."""
    if dtypes.capability is None:
        return say(en="this CPU", ja="この CPU")
    dotted = ".".join(str(part) for part in dtypes.capability)
    return say(en=f"this GPU ({dtypes.device}, compute capability {dotted})",
               ja=f"この GPU（{dtypes.device}、compute capability {dotted}）")


def _check_compute_dtype(report: Report, layer: Any, dtypes: Any) -> None:
    """Add a line: the 4-bit matmuls run in the 16-bit type the course's rule picks for this device.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> from llmcourse.loading import pick_dtypes
    >>> layer = type("Linear4bit", (), {"compute_dtype": None})()
    >>> report = Report("compute"); _check_compute_dtype(report, layer, pick_dtypes("cuda", capability=(7, 5)))
    >>> report.lines[0].message, report.lines[0].hint[:47]
    ('matmuls run in float32, not float16', 'BitsAndBytesConfig(..., bnb_4bit_compute_dtype=')
    """
    used = str(getattr(layer, "compute_dtype", None) or "float32").removeprefix("torch.")  # None: bitsandbytes' float32
    wanted, where = dtypes.compute, _device_words(dtypes)
    why = (say(en="bfloat16 keeps float32's range in half the bits",
               ja="bfloat16 は半分のビット数で float32 と同じ範囲を表せます") if wanted == "bfloat16" else
           say(en="it has no native bfloat16 (that needs compute capability 8.0, Ampere or newer)",
               ja="bfloat16 をネイティブに計算できません（compute capability 8.0 以降、Ampere 以降が必要）"))
    report.add(used == wanted,
               say(en=f"matmuls run in {used}" + (f", the 16-bit type for {where}" if used == wanted else
                                                  f", not {wanted}"),
                   ja=f"行列積は {used} で計算されます" + (f"（{where} に合った 16 ビットの型です）" if used == wanted
                                                          else f"（{wanted} ではありません）")),
               say(en=f"BitsAndBytesConfig(..., bnb_4bit_compute_dtype=torch.{wanted}) on {where}: {why}",
                   ja=f"{where} では BitsAndBytesConfig(..., bnb_4bit_compute_dtype=torch.{wanted}) とします: {why}"))


def _no_4bit_hint(model: Any) -> str:
    """Why there are no 4-bit layers: an 8-bit model, or no quantization at all."""
    if any(type(module).__name__ == "Linear8bitLt" for module in model.modules()):
        return say(en="this model is 8-bit (Linear8bitLt layers): for 4-bit use "
                      "BitsAndBytesConfig(load_in_4bit=True, ...)",
                   ja="これは 8 ビットのモデルです（Linear8bitLt 層）。4 ビットには "
                      "BitsAndBytesConfig(load_in_4bit=True, ...) を使います")
    config = 'BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)'
    return say(en=f"load it with quantization_config={config}", ja=f"quantization_config={config} を渡して読み込みます")


def _check_footprint(report: Report, model: Any) -> None:
    """Add a line: the memory footprint is at most 0.3 of the same model in fp32 (parameter count × 4 bytes).

    >>> import torch; from llmcourse.i18n import set_language; set_language("en")
    >>> report = Report("Footprint"); _check_footprint(report, torch.nn.Linear(10, 10))
    >>> report.lines[0].message
    'memory footprint 0 MB is 1.00 of the fp32 size (0 MB), more than 0.3'
    """
    import torch

    parameters = list(model.parameters())
    full = 4 * sum(_unquantized_numel(parameter) for parameter in parameters)
    used = (model.get_memory_footprint() if hasattr(model, "get_memory_footprint")
            else sum(parameter.numel() * parameter.element_size() for parameter in parameters))
    ratio, small = used / full, used / full <= 0.3
    if any(parameter.dtype == torch.float32 for parameter in parameters):
        dtype = _device_dtypes(model).unquantized  # bfloat16, or float16 on a GPU older than Ampere
        hint = say(en="bitsandbytes quantizes only the Linear layers; the embeddings and norms stay float32: "
                      f"pass dtype=torch.{dtype} to from_pretrained as well",
                   ja="bitsandbytes が量子化するのは Linear 層だけで、埋め込みと正規化層は float32 のままです。"
                      f"from_pretrained に dtype=torch.{dtype} も渡します")
    else:
        hint = say(en="quantize the Linear layers with BitsAndBytesConfig(load_in_4bit=True, ...)",
                   ja="BitsAndBytesConfig(load_in_4bit=True, ...) で Linear 層を量子化します")
    used_mb, full_mb = f"{used / 1e6:.0f} MB", f"{full / 1e6:.0f} MB"
    report.add(small, say(en=f"memory footprint {used_mb} is {ratio:.2f} of the fp32 size ({full_mb})"
                             + ("" if small else ", more than 0.3"),
                          ja=f"メモリ使用量 {used_mb} は fp32 の大きさ（{full_mb}）の {ratio:.2f} 倍です"
                             + ("" if small else "（0.3 を超えています）")), hint)


def _unquantized_numel(parameter: Any) -> int:
    """Number of weights a parameter stands for (a packed 4-bit one keeps its original shape aside)."""
    shape = getattr(getattr(parameter, "quant_state", None), "shape", None)
    return math.prod(shape) if shape is not None else parameter.numel()


@exercise_check(en="8-bit quantization config", ja="8 ビット量子化の設定")
def check_8bit_config(report: Report, my_config: Any) -> None:
    """Lesson 01: ``my_config`` is a `transformers.BitsAndBytesConfig` asking for 8-bit (and not 4-bit).

    >>> from transformers import BitsAndBytesConfig
    >>> check_8bit_config(BitsAndBytesConfig(load_in_8bit=True)).passed
    True
    """
    from transformers import BitsAndBytesConfig

    is_config = isinstance(my_config, BitsAndBytesConfig)
    if not report.add(is_config, say(en="my_config is a BitsAndBytesConfig", ja="my_config は BitsAndBytesConfig です")
                      if is_config else
                      not_a("my_config", my_config, en="a BitsAndBytesConfig", ja="BitsAndBytesConfig "),
                      _config_type_hint(my_config)):
        return
    eight, four = my_config.load_in_8bit is True, bool(my_config.load_in_4bit)
    report.add(eight, say(en=f"load_in_8bit is {my_config.load_in_8bit}",
                          ja=f"load_in_8bit は {my_config.load_in_8bit} です"),
               say(en="BitsAndBytesConfig(load_in_8bit=True)", ja="BitsAndBytesConfig(load_in_8bit=True) とします"))
    report.add(not four, say(en="asks for 4-bit" if four else "does not ask for 4-bit",
                             ja="4 ビットを指定しています" if four else "4 ビットは指定していません"),
               say(en="this is a 4-bit config (load_in_4bit=True): for 8-bit build "
                      "BitsAndBytesConfig(load_in_8bit=True)",
                   ja="これは 4 ビットの設定です（load_in_4bit=True）。8 ビットには "
                      "BitsAndBytesConfig(load_in_8bit=True) を作ります"))


def _config_type_hint(value: Any) -> str:
    """The removed keyword style as a dict, load_model's shortcut, or something else."""
    if isinstance(value, dict) and {"load_in_8bit", "load_in_4bit"} & set(value):
        return say(en="transformers 5 removed from_pretrained(..., load_in_8bit=True); it wants "
                      "quantization_config=BitsAndBytesConfig(load_in_8bit=True)",
                   ja="transformers 5 では from_pretrained(..., load_in_8bit=True) は使えません。"
                      "quantization_config=BitsAndBytesConfig(load_in_8bit=True) を渡します")
    if isinstance(value, str) and value.lower() in ("8bit", "8-bit"):
        return say(en="'8bit' is load_model's shortcut; build the config itself: BitsAndBytesConfig(load_in_8bit=True)",
                   ja="'8bit' は load_model の省略形です。設定そのものを "
                      "BitsAndBytesConfig(load_in_8bit=True) で作ります")
    return say(en="transformers 5 wants a config object: from transformers import BitsAndBytesConfig; "
                  "my_config = BitsAndBytesConfig(load_in_8bit=True)",
               ja="transformers 5 には設定オブジェクトを渡します: from transformers import BitsAndBytesConfig; "
                  "my_config = BitsAndBytesConfig(load_in_8bit=True)")
