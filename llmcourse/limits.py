"""What one generation request may ask, checked before the model runs: each refusal says why, with the numbers.

`generate` and the hand-written loop (`handloop`) share these guards (`require_*`), so a learner's
mistake gets the same message from both: the model and tokenizer in the right places,
a prompt and a length that fit the model's context and the course's new-token cap, a
batch whose record fits in memory, and sampling settings that act and are in range.
"""

from __future__ import annotations

from typing import Any

import torch

from .errors import CourseError, describe
from .i18n import say
from .sampling import process_logits

NEW_TOKEN_CAP = 1024  # new tokens per call: a lesson expects seconds (about a minute at 20 tokens/s on a CPU)
RECORD_LIMIT_BYTES = 2_000_000_000  # generate keeps two (rows, vocab) float32 distributions per step: at most 2 GB
NEUTRAL = {"temperature": 1.0}  # a sampling setting that changes nothing, also accepted with greedy decoding
MISNAMED = {  # settings other libraries name differently, and what generate calls them (`say`'s arguments if worded)
    "max_tokens": "max_new_tokens=...", "max_new_token": "max_new_tokens=...", "n": "num_return_sequences=...",
    "stop": "stop_strings=[...]", "top": "alternatives=...",
    "k": {"en": "alternatives=... (or top_k=... to sample)", "ja": "alternatives=...（サンプリングするなら top_k=...）"},
    "seed": {"en": "transformers.set_seed(...) before the call", "ja": "呼び出す前の transformers.set_seed(...)"},
    "temp": "temperature=...", "sample": "do_sample=True",
}


def misnamed(name: str) -> str:
    """What generate calls a setting that other libraries name ``name``, in the language of `set_language`.

    >>> misnamed("max_tokens")
    'max_new_tokens=...'
    """
    meant = MISNAMED[name]
    return meant if isinstance(meant, str) else say(**meant)


def require_model(model: Any, tokenizer: Any = None, where: str = "generate") -> None:
    """Refuse anything but a model (and a tokenizer) in the first arguments, e.g. the two swapped.

    >>> require_model("SmolLM2-135M-Instruct")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmcourse.errors.CourseError: generate's first argument must be the model, got the string 'SmolLM2-135M-Instruct'...
    """
    if not (hasattr(model, "generate") and hasattr(model, "config") and hasattr(model, "device")):
        swapped = say(en=" (model and tokenizer swapped?)", ja="（モデルとトークナイザーが逆になっていませんか？）"
                      ) if hasattr(model, "decode") else ""
        raise CourseError(say(en=f"{where}'s first argument must be the model, got {describe(model)}{swapped}. "
                                 "Load one with: model, tokenizer = load_model()",
                              ja=f"{where} の最初の引数はモデルですが、{describe(model)}が渡されました{swapped}。"
                                 "model, tokenizer = load_model() で読み込んでください。"))
    if tokenizer is not None and not (callable(tokenizer) and hasattr(tokenizer, "decode")):
        raise CourseError(say(en=f"{where}'s second argument must be the tokenizer, got {describe(tokenizer)}. "
                                 "Load both with: model, tokenizer = load_model()",
                              ja=f"{where} の 2 つ目の引数はトークナイザーですが、{describe(tokenizer)}が渡されました。"
                                 "model, tokenizer = load_model() で両方を読み込んでください。"))


def context_size(model: Any) -> int | None:
    """How many tokens the model reads at most, prompt and new tokens together (None if its config does not say).

    >>> context_size(model)  # doctest: +SKIP
    8192
    """
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(getattr(model, "config", None), name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def require_room(model: Any, prompt_tokens: int, new_tokens: int) -> None:
    """Fail fast, with the numbers, when a request exceeds the model's context or the new-token cap.

    >>> require_room(model, prompt_tokens=9000, new_tokens=20)  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    llmcourse.errors.CourseError: The prompt has 9,000 tokens, more than this model's context of 8,192 tokens ...
    """
    context = context_size(model)
    where = "model.config.max_position_embeddings"
    if context is not None and prompt_tokens >= context:
        raise CourseError(say(
            en=f"The prompt has {prompt_tokens:,} tokens, more than this model's context of {context:,} "
               f"tokens ({where}), which must hold the new tokens too: shorten the prompt.",
            ja=f"プロンプトが {prompt_tokens:,} トークンあり、このモデルのコンテキスト {context:,} トークン（{where}）を"
               "超えています。コンテキストには新しいトークンも収まる必要があります。プロンプトを短くしてください。"))
    if new_tokens > NEW_TOKEN_CAP:
        fits = "" if context is None else (f"; this model's context of {context:,} tokens would hold at most "
                                           f"{context - prompt_tokens:,} after this prompt of {prompt_tokens:,}")
        fits_ja = "" if context is None else (f"（このモデルのコンテキスト {context:,} トークンには、この "
                                              f"{prompt_tokens:,} トークンのプロンプトの後に最大 "
                                              f"{context - prompt_tokens:,} トークンが収まります）")
        raise CourseError(say(
            en=f"max_new_tokens={new_tokens:,} is more than the course's cap of {NEW_TOKEN_CAP:,} new "
               f"tokens per call{fits}. Ask for at most {NEW_TOKEN_CAP:,}; for longer texts call "
               "model.generate(**inputs, max_new_tokens=...) yourself.",
            ja=f"max_new_tokens={new_tokens:,} は、このコースの上限である 1 回あたり {NEW_TOKEN_CAP:,} 個の新しいトークンを"
               f"超えています{fits_ja}。{NEW_TOKEN_CAP:,} 以下にしてください。もっと長いテキストには "
               "model.generate(**inputs, max_new_tokens=...) を自分で呼び出してください。"))
    if context is not None and prompt_tokens + new_tokens > context:
        raise CourseError(say(
            en=f"The prompt ({prompt_tokens:,} tokens) and max_new_tokens={new_tokens:,} make "
               f"{prompt_tokens + new_tokens:,} tokens, more than this model's context of {context:,} "
               f"({where}): at most {context - prompt_tokens:,} new tokens fit after this prompt.",
            ja=f"プロンプト（{prompt_tokens:,} トークン）と max_new_tokens={new_tokens:,} を合わせると "
               f"{prompt_tokens + new_tokens:,} トークンになり、このモデルのコンテキスト {context:,}（{where}）を"
               f"超えます。このプロンプトの後に収まる新しいトークンは最大 {context - prompt_tokens:,} 個です。"))


def require_sampling_settings(do_sample: Any, **filters: Any) -> None:
    """Sampling settings act only when sampling, and must be in range: refuse them otherwise, before any step.

    >>> require_sampling_settings(False, temperature=0.7)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmcourse.errors.CourseError: temperature=0.7 has no effect without do_sample=True: greedy decoding and beam...
    """
    if not isinstance(do_sample, bool):
        raise CourseError(say(en=f"do_sample must be True or False, got {do_sample!r}.",
                              ja=f"do_sample は True か False にしてください。{do_sample!r} が渡されました。"))
    given = {name: value for name, value in filters.items() if value is not None and value != NEUTRAL.get(name)}
    if given and not do_sample:
        shown = ", ".join(f"{name}={value!r}" for name, value in given.items())
        raise CourseError(say(
            en=f"{shown} has no effect without do_sample=True: greedy decoding and beam search pick the "
               "most likely tokens and ignore it. Add do_sample=True to sample, or leave it out.",
            ja=f"{shown} は do_sample=True がないと効果がありません。貪欲デコーディングとビームサーチは最も確率の"
               "高いトークンを選び、この設定を無視します。サンプリングするには do_sample=True を加え、そうでなければ"
               "この設定を外してください。"))
    process_logits(torch.zeros(1, 2), **given)  # a value out of range (top_p=1.5...) raises its CourseError now


def require_record_size(model: Any, tokenizer: Any, prompts: int, new_tokens: int, settings: dict[str, Any]) -> None:
    """Refuse a batch whose per-step record (two float32 distributions per row and step) would not fit in memory."""
    per_prompt = max(settings.get("num_beams", 1), settings.get("num_return_sequences", 1))  # rows per prompt
    vocab = getattr(model.config, "vocab_size", None) or len(tokenizer)
    size = 2 * prompts * per_prompt * new_tokens * vocab * 4  # bytes
    if size <= RECORD_LIMIT_BYTES:
        return
    fits = RECORD_LIMIT_BYTES // (size // prompts)  # prompts per call that would fit
    fix = (f"Pass at most {fits:,} prompts at a time (a loop over batches)." if fits >= 1 else
           "Ask for fewer new tokens (or fewer beams).")
    fix_ja = (f"一度に渡すプロンプトを {fits:,} 個以下にしてください（バッチごとのループにします）。" if fits >= 1 else
              "新しいトークン（またはビーム）の数を減らしてください。")
    raise CourseError(say(
        en=f"{prompts:,} prompts with {new_tokens:,} new tokens each are too many for one call: generate "
           f"keeps two distributions over {vocab:,} tokens per row and step, {size / 1e9:.1f} GB in all, "
           f"more than its limit of {RECORD_LIMIT_BYTES / 1e9:.1f} GB. {fix}",
        ja=f"新しいトークンがそれぞれ {new_tokens:,} 個のプロンプト {prompts:,} 個は、1 回の呼び出しには多すぎます。"
           f"generate は行とステップごとに {vocab:,} トークンの分布を 2 つ記録するので、合計 {size / 1e9:.1f} GB に"
           f"なり、上限の {RECORD_LIMIT_BYTES / 1e9:.1f} GB を超えます。{fix_ja}"))
