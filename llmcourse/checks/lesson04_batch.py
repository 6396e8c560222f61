"""Check for lesson 04's padded-batch exercise: the learner's function, run on batches it has not seen.

``my_batch_texts(prompts)`` must generate 6 new tokens for all the prompts in one left-padded
batch, with its attention mask, and return each row's new text (no prompt, no special tokens).
The check runs it on the lesson's batch and on two others, chosen so that each pitfall changes
a short row's text (padding on the right, no mask), and compares with the reference. A hint
names the variant the learner's texts turned out to equal, computed on the same batch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..i18n import say
from ..quiet import quiet
from .base import Report, call, exercise_check, is_function, is_text_list
from .lesson03_generating import SPECIAL_TOKEN
from .observe import generate_calls

PADDED_BATCH = ["Monday, Tuesday,", "A, B, C, D, E, F, G"]  # the lesson's batch
UNSEEN_BATCHES = [  # each pitfall changes a short row here (right padding, no mask): measured on the offline model
    ["The capital of France is", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"],
    ["Red, green,", "The first three planets from the Sun are Mercury,", "Once upon a"],
]
NEW_TOKENS = 6
CODE = ('batch = left_tokenizer(prompts, padding=True, return_tensors="pt"); '
        'ids = model.generate(**batch, max_new_tokens=6); '
        'return left_tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)')


def batch_texts(model: Any, tokenizer: Any, prompts: list[str], *, side: str = "left", mask: bool = True,
                prompt: bool = False, specials: bool = False) -> list[str]:
    """The texts of one greedy batch: the reference (left, mask, new text only), or a pitfall's variant.

    >>> batch_texts(model, tokenizer, PADDED_BATCH)  # doctest: +SKIP
    [' Wednesday, and Thursday) to', ', H, I, J']
    """
    import torch

    padded = copy.copy(tokenizer)
    padded.padding_side = side
    batch = padded(prompts, padding=True, return_tensors="pt").to(model.device)
    settings = dict(max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=padded.pad_token_id)
    with torch.no_grad(), quiet():
        ids = model.generate(input_ids=batch.input_ids, **settings,
                             **({"attention_mask": batch.attention_mask} if mask else {}))
    start = 0 if prompt else batch.input_ids.shape[1]
    return padded.batch_decode(ids[:, start:], skip_special_tokens=not specials)


@exercise_check(en="Padded batch", ja="パディングしたバッチ", answer=is_function)
def check_padded_batch(report: Report, my_batch_texts: Callable[[list[str]], Any], model: Any, tokenizer: Any) -> None:
    """Lesson 04: ``my_batch_texts(prompts)`` returns the new texts of one left-padded batch with its mask.

    >>> check_padded_batch(lambda prompts: batch_texts(model, tokenizer, prompts), model, tokenizer)  # doctest: +SKIP
    """
    usage = say(en="it is called as my_batch_texts(prompts) with a list of prompts, and returns one text per prompt",
                ja="my_batch_texts(prompts) の形でプロンプトのリストを渡して呼ばれ、プロンプトごとに 1 つのテキストを返します")
    for number, prompts in enumerate([PADDED_BATCH, *UNSEEN_BATCHES]):
        calls: list = []
        with generate_calls(calls):
            ok, texts = call(report, "my_batch_texts", my_batch_texts, (list(prompts),), usage)
        if not ok or not is_text_list(report, texts, "my_batch_texts(prompts)", len(prompts), usage):
            return
        if calls and all(size == 1 for _, size, _ in calls):
            report.add(False, say(en=f"my_batch_texts made {len(calls)} generate call(s) of one prompt each",
                                  ja=f"my_batch_texts は 1 つのプロンプトずつ generate を {len(calls)} 回呼びました"),
                       say(en=f"the exercise puts all {len(prompts)} prompts in one padded batch, one generate call: "
                              "the padding and its mask are what it is about",
                           ja=f"演習では {len(prompts)} 個のプロンプトすべてを 1 つのパディングしたバッチにし、"
                              "generate を 1 回呼びます。テーマはパディングとそのマスクです"), CODE)
            return
        expected = batch_texts(model, tokenizer, prompts)
        label = say(en="the lesson's batch", ja="レッスンのバッチ") if number == 0 else \
            say(en=f"a batch of {len(prompts)} it has not seen", ja=f"見せていない {len(prompts)} 件のバッチ")
        right = list(texts) == expected
        report.add(right, say(en=f"{label}: {expected}", ja=f"{label}：{expected}") if right else
                   say(en=f"{label} {list(prompts)}: returned {list(texts)}, expected {expected}",
                       ja=f"{label} {list(prompts)}：返したのは {list(texts)}、正しくは {expected}"),
                   _batch_hint(model, tokenizer, prompts, list(texts)), CODE)
        if not right:
            return


def _batch_hint(model: Any, tokenizer: Any, prompts: list[str], texts: list[str]) -> str:
    """The pitfall whose texts, computed here on the same batch, equal the learner's; else what to compare."""
    variants = [
        (dict(side="right"), say(en="these are the texts of a batch padded on the right: the short rows continue "
                                    "after their pad tokens. Pad on the left (pitfall 3)",
                                 ja="これは右にパディングしたバッチのテキストです。短い行はパディングの後ろから続きます。"
                                    "左にパディングします（落とし穴 3）")),
        (dict(mask=False), say(en="these are the texts of a left-padded batch without its attention mask: the model "
                                  "read the pad tokens as text. Pass the mask too (pitfall 4)",
                               ja="これは attention_mask を渡さずに左パディングしたバッチのテキストです。モデルが"
                                  "パディングをテキストとして読みました。マスクも渡します（落とし穴 4）")),
        (dict(prompt=True), say(en="these texts include their prompts (and the pads' place): keep only what comes "
                                   "after the padded prompt",
                                ja="テキストにプロンプトが含まれています。パディング込みのプロンプトより後ろだけを"
                                   "残します")),
    ]
    for settings, idea in variants:
        if texts == batch_texts(model, tokenizer, prompts, **settings):
            return idea
    if prompts != PADDED_BATCH and texts == batch_texts(model, tokenizer, PADDED_BATCH):
        return say(en="these are the texts of the lesson's batch, for other prompts: generate from the prompts the "
                      "function is given",
                   ja="これはレッスンのバッチのテキストで、別のプロンプトに対して返されています。関数に渡された"
                      "プロンプトから生成します")
    if any(SPECIAL_TOKEN.search(text) for text in texts):
        return say(en="the texts keep pad or end-of-text tokens: have the decoder skip special tokens",
                   ja="テキストにパディングや終了のトークンが残っています。デコード時に特殊トークンを除きます")
    return say(en=f"greedy, {NEW_TOKENS} new tokens, all the prompts in one left-padded batch with its mask, "
                  "one new text per row",
               ja=f"貪欲デコーディングで新しいトークン {NEW_TOKENS} 個、すべてのプロンプトを 1 つの左パディングの"
                  "バッチにしてマスクも渡し、行ごとに新しいテキストを 1 つ返します")
