"""Checks for lesson 01 (loading): a 4-bit NF4 model and an 8-bit `BitsAndBytesConfig`."""

from __future__ import annotations

import math
from typing import Any

from ..i18n import say
from .base import Report, exercise_check, is_model, not_a

EIGHT_BIT = "my_config = BitsAndBytesConfig(load_in_8bit=True)"  # the 8-bit exercise's code line
FOUR_BIT = ('my_model = AutoModelForCausalLM.from_pretrained(path, quantization_config=BitsAndBytesConfig('
            'load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, '
            'bnb_4bit_compute_dtype=torch.{compute}), dtype=torch.{unquantized})')  # the whole line, on request


@exercise_check(en="4-bit model", ja="4 ビット量子化モデル", answer=is_model)
def check_4bit_model(report: Report, my_model: Any) -> None:
    """Lesson 01: ``my_model`` is 4-bit NF4, double quantized, computes in its device's 16-bit type, <= 0.3 of fp32.

    The 16-bit type is bfloat16, or float16 on a GPU older than Ampere (`llmcourse.precision.pick_dtypes`).

    >>> check_4bit_model(my_model).passed   # loaded with BitsAndBytesConfig(load_in_4bit=True, ...)  # doctest: +SKIP
    True
    """
    dtypes = _device_dtypes(my_model)
    layers = [module for module in my_model.modules() if type(module).__name__ == "Linear4bit"]
    if not report.add(layers, say(en=f"has {len(layers)} bitsandbytes Linear4bit layers",
                                  ja=f"bitsandbytes の Linear4bit 層が {len(layers)} 個あります") if layers else
                      say(en="has no bitsandbytes Linear4bit layers", ja="bitsandbytes の Linear4bit 層がありません"),
                      _no_4bit_hint(my_model), FOUR_BIT.format(compute=dtypes.compute, unquantized=dtypes.unquantized)):
        return
    types = ", ".join(sorted({str(getattr(layer.weight, "quant_type", None)) for layer in layers}))
    nf4 = types == "nf4"
    report.add(nf4, say(en=f"quantization type is {types}" + ("" if nf4 else ", not nf4"),
                        ja=f"量子化の型は {types} です" + ("" if nf4 else "（nf4 ではありません）")),
               say(en='the default 4-bit type is "fp4"; NormalFloat4 ("nf4") suits normally distributed weights '
                      'better, and has to be asked for',
                   ja='4 ビットの既定の型は "fp4" です。NormalFloat4（"nf4"）は正規分布に近い重みに向いた型で、'
                      '指定しないと使われません'),
               'BitsAndBytesConfig(..., bnb_4bit_quant_type="nf4")')
    double = all(getattr(layer.weight, "compress_statistics", False) for layer in layers)
    report.add(double, say(en="double quantization is " + ("on" if double else "off"),
                           ja="二重量子化が" + ("有効です" if double else "無効です")),
               say(en="double quantization (off by default) quantizes the per-block scales too, saving about "
                      "0.4 bits per weight",
                   ja="二重量子化（既定では無効）はブロックごとのスケールも量子化し、重み 1 つあたり約 0.4 ビット"
                      "節約します"),
               "BitsAndBytesConfig(..., bnb_4bit_use_double_quant=True)")
    _judge_compute_dtype(report, layers[0], dtypes)
    _judge_unquantized_dtype(report, my_model, dtypes)
    _judge_footprint(report, my_model)


def _device_dtypes(model: Any) -> Any:
    """The dtypes the course's rule picks for the model's device (`llmcourse.precision.pick_dtypes`)."""
    from ..precision import pick_dtypes

    device = getattr(model, "device", None)
    return pick_dtypes("cuda" if getattr(device, "type", "cpu") == "cuda" else "cpu")


def _device_words(dtypes: Any) -> str:
    """'this CPU', or 'this GPU (Tesla T4, compute capability 7.5)'."""
    if dtypes.capability is None:
        return say(en="this CPU", ja="この CPU")
    dotted = ".".join(str(part) for part in dtypes.capability)
    return say(en=f"this GPU ({dtypes.device}, compute capability {dotted})",
               ja=f"この GPU（{dtypes.device}、compute capability {dotted}）")


def _judge_compute_dtype(report: Report, layer: Any, dtypes: Any) -> None:
    """Add a line: the 4-bit matmuls run in the 16-bit type the course's rule picks for this device.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> from llmcourse.precision import pick_dtypes
    >>> layer = type("Linear4bit", (), {"compute_dtype": None})()
    >>> report = Report("compute"); _judge_compute_dtype(report, layer, pick_dtypes("cuda", capability=(7, 5)))
    >>> report.lines[0].message, report.lines[0].code
    ('matmuls run in float32, not float16', 'BitsAndBytesConfig(..., bnb_4bit_compute_dtype=torch.float16)')
    """
    used = str(getattr(layer, "compute_dtype", None) or "float32").removeprefix("torch.")  # None: bitsandbytes' float32
    wanted, where = dtypes.compute, _device_words(dtypes)
    why = dtypes.reason  # the rule's own words (precision.pick_dtypes)
    report.add(used == wanted,
               say(en=f"matmuls run in {used}" + (f", the 16-bit type for {where}" if used == wanted else
                                                  f", not {wanted}"),
                   ja=f"行列積は {used} で計算されます" + (f"（{where} に合った 16 ビットの型です）" if used == wanted
                                                          else f"（{wanted} ではありません）")),
               say(en=f"the 4-bit weights are unpacked for each matmul into the compute type, float32 by default; "
                      f"on {where} use {wanted}: {why}",
                   ja=f"4 ビットの重みは行列積のたびに計算用の型（既定は float32）に戻されます。{where} では "
                      f"{wanted} を使います：{why}"),
               f"BitsAndBytesConfig(..., bnb_4bit_compute_dtype=torch.{wanted})")


def _judge_unquantized_dtype(report: Report, model: Any, dtypes: Any) -> None:
    """Add a line: the weights bitsandbytes leaves alone (embeddings, norms) are in the device's 16-bit type.

    >>> import torch; from llmcourse.i18n import set_language; set_language("en")
    >>> from llmcourse.precision import pick_dtypes
    >>> report = Report("Demo"); _judge_unquantized_dtype(report, torch.nn.Linear(2, 2).half(), pick_dtypes("cpu"))
    >>> report.lines[0].message
    'the layers left unquantized (embeddings, norms) are float16, not bfloat16'
    """
    found = sorted({str(parameter.dtype).removeprefix("torch.") for parameter in model.parameters()
                    if type(parameter).__name__ != "Params4bit" and parameter.is_floating_point()})
    wanted, where, shown = dtypes.unquantized, _device_words(dtypes), ", ".join(found)
    right = found == [wanted]
    report.add(right, say(en=f"the layers left unquantized (embeddings, norms) are {shown}"
                             + ("" if right else f", not {wanted}"),
                          ja=f"量子化しない層（埋め込み、正規化層）は {shown} です"
                             + ("" if right else f"（{wanted} ではありません）")),
               say(en=f"bitsandbytes quantizes only the Linear layers; the others keep the dtype from_pretrained loads "
                      f"them in, which the exercise asks to be {wanted} on {where}",
                   ja=f"bitsandbytes が量子化するのは Linear 層だけで、それ以外は from_pretrained で読み込んだ型の"
                      f"ままです。演習では {where} で {wanted} にします"),
               f"from_pretrained(path, quantization_config=..., dtype=torch.{wanted})")


def _no_4bit_hint(model: Any) -> str:
    """Why there are no 4-bit layers: an 8-bit model, or no quantization at all."""
    if any(type(module).__name__ == "Linear8bitLt" for module in model.modules()):
        return say(en="this model is 8-bit (Linear8bitLt layers): the exercise asks for 4-bit",
                   ja="これは 8 ビットのモデルです（Linear8bitLt 層）。演習は 4 ビットを求めています")
    return say(en="this model is not quantized: load it with a 4-bit quantization config",
               ja="このモデルは量子化されていません。4 ビットの量子化設定を渡して読み込みます")


def _judge_footprint(report: Report, model: Any) -> None:
    """Add a line: the memory footprint is at most 0.3 of the same model in fp32 (parameter count × 4 bytes).

    >>> import torch; from llmcourse.i18n import set_language; set_language("en")
    >>> report = Report("Footprint"); _judge_footprint(report, torch.nn.Linear(10, 10))
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
        hint = say(en="bitsandbytes quantizes only the Linear layers; the embeddings and norms stay float32 unless "
                      f"from_pretrained is told to load them in {dtype}",
                   ja="bitsandbytes が量子化するのは Linear 層だけで、埋め込みと正規化層は from_pretrained に指定しない"
                      f"限り float32 のままです。{dtype} で読み込ませます")
        code = f"from_pretrained(path, quantization_config=..., dtype=torch.{dtype})"
    else:
        hint = say(en="the Linear layers, most of the weights, are not all quantized to 4 bits",
                   ja="重みの大部分を占める Linear 層が 4 ビットに量子化されていません")
        code = "BitsAndBytesConfig(load_in_4bit=True, ...)"
    used_mb, full_mb = f"{used / 1e6:.0f} MB", f"{full / 1e6:.0f} MB"
    report.add(small, say(en=f"memory footprint {used_mb} is {ratio:.2f} of the fp32 size ({full_mb})"
                             + ("" if small else ", more than 0.3"),
                          ja=f"メモリ使用量 {used_mb} は fp32 の大きさ（{full_mb}）の {ratio:.2f} 倍です"
                             + ("" if small else "（0.3 を超えています）")), hint, code)


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
                      _config_type_hint(my_config), EIGHT_BIT):
        return
    eight, four = my_config.load_in_8bit is True, bool(my_config.load_in_4bit)
    report.add(eight, say(en=f"load_in_8bit is {my_config.load_in_8bit}",
                          ja=f"load_in_8bit は {my_config.load_in_8bit} です"),
               say(en="a BitsAndBytesConfig asks for nothing until told: switch 8-bit loading on",
                   ja="BitsAndBytesConfig は指定しない限り何も量子化しません。8 ビットでの読み込みを有効にします"),
               EIGHT_BIT)
    report.add(not four, say(en="asks for 4-bit" if four else "does not ask for 4-bit",
                             ja="4 ビットを指定しています" if four else "4 ビットは指定していません"),
               say(en="this is a 4-bit config (load_in_4bit=True); the exercise asks for 8-bit, and not both",
                   ja="これは 4 ビットの設定です（load_in_4bit=True）。演習は 8 ビットだけを求めています"),
               EIGHT_BIT)


def _config_type_hint(value: Any) -> str:
    """A dict of keywords (the config inside, or the removed style), load_model's shortcut, the class, a model, ..."""
    from transformers import BitsAndBytesConfig

    if isinstance(value, dict) and isinstance(value.get("quantization_config"), BitsAndBytesConfig):
        return say(en="this is the keyword dict for from_pretrained; my_config is the config object inside it, "
                      "the value of quantization_config",
                   ja="これは from_pretrained に渡すキーワード引数の dict です。my_config はその中の設定オブジェクト、"
                      "つまり quantization_config の値です")
    if isinstance(value, dict) and {"load_in_8bit", "load_in_4bit"} & set(value):
        return say(en="transformers 5 removed the load_in_8bit keyword of from_pretrained; the exercise asks for the "
                      "config object itself, a BitsAndBytesConfig (from_pretrained would also read this dict as "
                      "quantization_config)",
                   ja="transformers 5 では from_pretrained の load_in_8bit キーワードはなくなりました。演習が求めるのは"
                      "設定オブジェクトそのもの、BitsAndBytesConfig です（この dict も quantization_config としてなら"
                      " from_pretrained は読みます）")
    if isinstance(value, str) and value.lower() in ("8bit", "8-bit"):
        return say(en="'8bit' is load_model's shortcut; the exercise asks for the config object itself",
                   ja="'8bit' は load_model の省略形です。演習は設定オブジェクトそのものを求めています")
    if value is BitsAndBytesConfig:
        return say(en="this is the class itself: call it, with the setting that asks for 8-bit",
                   ja="これはクラスそのものです。8 ビットを指定して呼び出します")
    if hasattr(value, "modules") and hasattr(value, "parameters"):
        return say(en="this is a model; the exercise asks for the config you would load it with",
                   ja="これはモデルです。演習はモデルを読み込むときに渡す設定を求めています")
    return say(en="transformers 5 wants a config object, a BitsAndBytesConfig (from transformers import it)",
               ja="transformers 5 には設定オブジェクト BitsAndBytesConfig を渡します（transformers から import します）")
