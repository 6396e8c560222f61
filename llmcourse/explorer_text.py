"""The explorer's state in words: the labels of its widget and the table shown where widgets do not render.

Everything here follows `set_language`; tokens are shown as every table of the course shows
them (`show_token`: ␣ for a space, ↵ for a newline).

>>> print(format_explorer(explore(model, tokenizer, "A list of colors: red, blue").run(2)))  # doctest: +SKIP
Text: A list of colors: red, blue⟨,␣and⟩
...
"""

from __future__ import annotations

from typing import Any

from .applied import DEFAULT_TOP_K, applied_label
from .i18n import say
from .tokens import pad_text, show_token, text_width, token_bytes

FILTER_NAMES = {"TopKLogitsWarper": "top-k", "TopPLogitsWarper": "top-p", "MinPLogitsWarper": "min-p",
                "RepetitionPenaltyLogitsProcessor": "repetition_penalty"}


def settings_label(settings: dict[str, Any]) -> str:
    """What the processed distribution is under these settings, naming only what was applied.

    top_k=50 is named as generate's default (it applies when sampling unless told otherwise).

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> settings_label({"do_sample": True, "temperature": 0.7, "top_k": 50, "top_p": 1.0, "min_p": 0.0,
    ...                 "repetition_penalty": 1.0})
    'sampling distribution (after temperature=0.7, top_k=50 (default))'
    """
    shown = {name: value for name, value in settings.items() if value is not None}
    if shown.get("top_k") == DEFAULT_TOP_K:
        del shown["top_k"]  # applied_label names it as the default
    if not shown.get("min_p"):
        shown.pop("min_p", None)
    return applied_label(shown)


def filter_name(processor: Any) -> str:
    """The setting a logits processor stands for, e.g. 'top-k' for TopKLogitsWarper."""
    name = type(processor).__name__
    return FILTER_NAMES.get(name, name)


def prompt_text(explorer: Any) -> str:
    """The prompt as the model reads it (a chat template's markers included), newlines shown as ↵."""
    return explorer.tokenizer.decode(explorer.prompt_ids).replace("\n", "↵")


def new_text(explorer: Any) -> str:
    """The new tokens decoded together (a character split over two tokens shows whole), as `show_token` shows text."""
    return show_token(explorer.tokenizer.decode(explorer.new_ids)) if explorer.taken else ""


def token_label(tokenizer: Any, token_id: int, max_chars: int | None = 14) -> str:
    """One token as `show_token` shows it; a piece of a character (a few of its UTF-8 bytes) as those bytes.

    Byte-level tokenizers split some characters (e.g. Japanese ones) over several tokens, and each piece
    alone decodes to '�': the bytes tell them apart.

    >>> token_label(tokenizer, 24211)  # doctest: +SKIP
    '‹e3 81›'
    """
    text = tokenizer.decode([token_id])
    if "\ufffd" not in text:
        return show_token(text, max_chars)
    pieces = token_bytes(tokenizer, token_id)
    if pieces is None:  # not a byte-level tokenizer: its own name for the piece
        return show_token(str(tokenizer.convert_ids_to_tokens(int(token_id))), max_chars)
    return "‹" + " ".join(f"{byte:02x}" for byte in pieces) + "›"


def prob_text(p: float) -> str:
    """A probability with three decimals; one too small for them says so.

    >>> prob_text(0.4271), prob_text(0.0002), prob_text(0.0)
    ('0.427', '<0.001', '0')
    """
    return "0" if p == 0 else "<0.001" if p < 0.0005 else f"{p:.3f}"


def token_line(explorer: Any) -> str:
    """The new tokens with the probability each had when it was taken, e.g. ', 0.991 · ␣and 0.427'."""
    if not explorer.taken:
        return say(en="(no new token yet)", ja="（新しいトークンはまだありません）")
    return " · ".join(f"{token_label(explorer.tokenizer, t.id)} {prob_text(t.prob)}" for t in explorer.taken)


def state_line(explorer: Any, step: Any) -> str:
    """Entropy of both distributions, the last token's rank, the seed and the forward passes so far."""
    raw, processed = step.entropy
    parts = [say(en=f"entropy {raw:.2f} nats (model) → {processed:.2f} (processed)",
                 ja=f"エントロピー {raw:.2f} nat（モデル）→ {processed:.2f}（処理後）")]
    if explorer.taken:
        last = explorer.taken[-1]
        label = token_label(explorer.tokenizer, last.id)
        parts.append(say(en=f"last token {label}: rank {last.rank} in the model's distribution, {how(last.how)}",
                         ja=f"直前のトークン {label}：モデルの分布での順位 {last.rank}、{how(last.how)}"))
    if explorer.settings["do_sample"]:  # the seed only matters when sampling
        parts.append(say(en=f"seed {explorer.seed}", ja=f"シード {explorer.seed}"))
    parts.append(say(en=f"forward passes {explorer.forward_passes}", ja=f"フォワードパス {explorer.forward_passes} 回"))
    return " · ".join(parts)


def how(taken_how: str) -> str:
    """How a token was taken, in the lesson's language."""
    return {"most likely": say(en="most likely", ja="最も確率が高いもの"),
            "sampled": say(en="sampled", ja="サンプリング"),
            "chosen": say(en="chosen by hand", ja="手で選択")}[taken_how]


def ended_line(explorer: Any) -> str:
    """Why no next token can be taken."""
    if explorer.taken and explorer.taken[-1].id in explorer.eos_ids:
        return say(en="The text ended with EOS (undo or reset to go on).",
                   ja="テキストは EOS で終わりました（続けるには元に戻すかリセット）。")
    return say(en="The model's context is full (undo or reset).",
               ja="モデルのコンテキストがいっぱいです（元に戻すかリセットしてください）。")


def format_explorer(explorer: Any) -> str:
    """The explorer's state as text: the text so far, the new tokens, then the next-token table."""
    new = new_text(explorer)
    lines = [say(en="Text: ", ja="テキスト：") + prompt_text(explorer) + (f"⟨{new}⟩" if new else ""),
             say(en="New tokens (processed probability when taken): ",
                 ja="新しいトークン（選ばれたときの処理後の確率）：")
             + token_line(explorer)]
    if explorer.finished:
        return "\n".join([*lines, ended_line(explorer)])
    step = explorer.next_token()
    lines += [say(en="Next token, ", ja="次のトークン、") + settings_label(explorer.settings),
              state_line(explorer, step), *_table(explorer, step)]
    return "\n".join(lines)


def _table(explorer: Any, step: Any) -> list[str]:
    """One row per bar: token, model probability, processed probability (or the filter that removed it), draws."""
    ids = step.rows(explorer.bars)
    removed = explorer.removed_by(ids)
    header = [say(en="token", ja="トークン"), say(en="model", ja="モデル"), say(en="processed", ja="処理後")]
    total = float(explorer.draws.sum()) if explorer.draws is not None else 0.0
    if total:
        header.append(say(en=f"share of {int(total)} draws", ja=f"{int(total)} 回の抽選での割合"))
    rows = [header]
    for token_id in ids:
        after = (prob_text(float(step.processed[token_id])) if token_id not in removed
                 else "✕ " + say(en=f"removed by {removed[token_id]}", ja=f"{removed[token_id]} で除外"))
        row = [token_label(explorer.tokenizer, token_id), prob_text(float(step.raw[token_id])), after]
        rows.append(row + ([f"{float(explorer.draws[token_id]) / total:.2f}"] if total else []))
    widths = [max(text_width(row[column]) for row in rows) + 2 for column in range(len(header))]
    return ["".join(pad_text(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
