"""Load a causal LM and its tokenizer, optionally quantized with bitsandbytes.

Lesson 01 introduces `load_model`; every later lesson starts with it. With no name
it loads the offline default (SmolLM2-135M-Instruct, converted by `offline.fetch`);
``$LLMCOURSE_MODEL`` or the ``name`` argument picks a hub model instead (Colab).
The device, dtypes and quantization config come from `llmcourse.precision`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CourseError, ModelNotAvailableError, describe, first_line
from .hub import hub_offline_by_setting, hub_reachable
from .i18n import say
from .offline import MODEL_NAME, cache_status, checkpoint_dir, fetch
from .precision import describe_loaded, pick_device, pick_dtypes, quantization_config
from .quiet import quiet

MODEL_ENV = "LLMCOURSE_MODEL"
OFFLINE_NAMES = {None, "", "default", "offline", MODEL_NAME}


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
        raise CourseError(say(
            en=f"load_model takes a model's name: a hub id such as 'HuggingFaceTB/SmolLM2-360M-Instruct' "
               f"or a folder, not {describe(name)}. Call load_model() for the offline default; "
               "a model you already loaded needs no loading.",
            ja=f"load_model にはモデルの名前（'HuggingFaceTB/SmolLM2-360M-Instruct' のようなハブの ID）か"
               f"フォルダーを渡します。{describe(name)}は渡せません。オフラインの既定モデルなら load_model() を"
               "呼び出してください。読み込み済みのモデルを読み込み直す必要はありません。"))
    asked = name if name is not None else os.environ.get(MODEL_ENV)
    chosen = "" if asked is None else str(asked)
    if asked in OFFLINE_NAMES:
        return ModelChoice(chosen, str(checkpoint_dir()), "offline default")
    if Path(chosen).expanduser().is_dir():
        return ModelChoice(chosen, chosen, "folder")
    if Path(chosen).expanduser().is_file():
        return _a_file(chosen)
    if looks_like_path(chosen):
        return ModelChoice(chosen, chosen, "folder",
                           say(en=f"There is no model folder at {chosen!r}.",
                               ja=f"{chosen!r} にモデルのフォルダーはありません。"),
                           say(en=f"Check the path, or call load_model() with no name for the offline default "
                                  f"{MODEL_NAME}.",
                               ja=f"パスを確かめるか、名前を付けずに load_model() を呼び出してオフラインの既定モデル "
                                  f"{MODEL_NAME} を使ってください。"))
    if in_hub_cache(chosen):
        return ModelChoice(chosen, chosen, "hub cache")
    if reachable is None:  # probe only now: a folder or a cached model never waits for the network
        reachable = hub_reachable()
    if reachable:
        return ModelChoice(chosen, chosen, "hub")
    off = hub_offline_by_setting()
    why = "switched off (HF_HUB_OFFLINE=1)" if off else "not reachable from here"
    return ModelChoice(chosen, chosen, "hub",
                       say(en=f"{chosen!r} is not a local folder and the Hugging Face Hub is {why}.",
                           ja=f"{chosen!r} はローカルのフォルダーではなく、Hugging Face Hub は"
                              f"{'無効にされています（HF_HUB_OFFLINE=1）' if off else 'ここから接続できません'}。"),
                       say(en=f"Use the offline default instead: load_model() (it loads {MODEL_NAME}), or unset "
                              f"${MODEL_ENV}; or connect to the internet.",
                           ja=f"代わりにオフラインの既定モデルを使ってください。load_model() で {MODEL_NAME} が"
                              f"読み込まれます。${MODEL_ENV} の設定を解除するか、インターネットに接続してもかまいません。"))


def _a_file(path: str) -> ModelChoice:
    """The choice for a file given where a folder is wanted: the problem, and the folder to pass instead."""
    folder = str(Path(path).parent)
    fix = say(en=f"Pass the folder that holds it (config.json, the weights, the tokenizer files): "
                 f"load_model({folder!r}).",
              ja=f"そのファイルのあるフォルダー（config.json、重み、トークナイザーのファイルを含むもの）を渡してください："
                 f"load_model({folder!r})。")
    if path.endswith(".gguf"):
        fix = say(en=f"A .gguf file is loaded with AutoModelForCausalLM.from_pretrained({folder!r}, "
                     f"gguf_file={Path(path).name!r}) (lesson 01); load_model() loads the offline default, "
                     "converted from one.",
                  ja=f".gguf ファイルは AutoModelForCausalLM.from_pretrained({folder!r}, "
                     f"gguf_file={Path(path).name!r}) で読み込みます（レッスン 01）。load_model() が読み込む"
                     "オフラインの既定モデルは、.gguf ファイルから変換したものです。")
    return ModelChoice(path, path, "folder", say(en=f"{path!r} is a file, and load_model loads a model folder.",
                                                 ja=f"{path!r} はファイルです。load_model はモデルのフォルダーを"
                                                    "読み込みます。"),
                       fix)


def ensure_model_source(name: str | os.PathLike | None = None) -> str:
    """The folder or hub id `load_model` reads; the offline default is downloaded and converted first if needed.

    `resolve_model` only decides; this one also runs `offline.fetch` when the cache lacks the default
    (the hub is not probed).

    >>> ensure_model_source("HuggingFaceTB/SmolLM2-360M-Instruct")
    'HuggingFaceTB/SmolLM2-360M-Instruct'
    """
    return _ready_source(resolve_model(name, reachable=True))


def _ready_source(choice: ModelChoice) -> str:
    """The choice's source, with the offline default fetched first if it is not ready yet."""
    if choice.origin != "offline default":
        return choice.source
    status = cache_status()
    return str(status.path if status.ready else fetch())


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
        raise ModelNotAvailableError(say(en=f"{choice.problem} {choice.fix}", ja=choice.problem + choice.fix)) from None
    source = _ready_source(choice)
    dtype = _weights_dtype(device, config)
    with quiet():
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
    """Turn a from_pretrained failure into a message with the fix (transformers' own words quoted as they are)."""
    text = first_line(error)
    if "safetensors" in text.lower() or "pytorch_model.bin" in text:
        return say(en=f"{source!r} has no safetensors weights; the course loads only safetensors (no pickle). "
                      "Pick a model whose repository has *.safetensors files.",
                   ja=f"{source!r} には safetensors 形式の重みがありません。このコースは safetensors だけを読み込みます"
                      "（pickle は使いません）。リポジトリに *.safetensors ファイルがあるモデルを選んでください。")
    if "gated" in text.lower() or "401" in text or "403" in text:
        return say(en=f"{source!r} is gated: accept its licence on huggingface.co, then log in "
                      "(`from huggingface_hub import login; login()`), and load it again.",
                   ja=f"{source!r} はアクセス制限付きのモデルです。huggingface.co でライセンスに同意してからログインし"
                      "（`from huggingface_hub import login; login()`）、もう一度読み込んでください。")
    return say(en=f"Could not load {source!r}: {text}. Check the spelling of the hub id or folder, "
                  f"or call load_model() with no name for the offline default {MODEL_NAME}.",
               ja=f"{source!r} を読み込めませんでした（「{text}」）。ハブの ID やフォルダーの綴りを確かめるか、"
                  f"名前を付けずに load_model() を呼び出してオフラインの既定モデル {MODEL_NAME} を使ってください。")
