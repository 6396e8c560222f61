"""Checks for lesson 02 (tokenizing): a tokenizer that pads on the left, and a chat-template prompt."""

from __future__ import annotations

from typing import Any

from ..i18n import say
from .base import Report, error_text, exercise_check, is_tokenizer, not_a

COUNTING_BATCH = ["1, 2, 3", "A, B, C, D, E"]  # lessons 02 and 04: a short row and a long row
QUESTION = "What is the capital of France?"  # the chat exercise's question
APPLY_TEMPLATE = ('tokenizer.apply_chat_template([{"role": "user", "content": question}], '
                  'tokenize=False, add_generation_prompt=True)')


@exercise_check(en="Left padding", ja="左パディング", answer=is_tokenizer)
def check_left_padding(report: Report, my_tokenizer: Any) -> None:
    """Lesson 02: ``my_tokenizer`` pads on the left, has a pad token, and really puts the padding first.

    >>> check_left_padding(AutoTokenizer.from_pretrained(path, padding_side="left")).passed   # doctest: +SKIP
    True
    """
    side, pad = my_tokenizer.padding_side, my_tokenizer.pad_token
    left = side == "left"
    report.add(left, say(en=f'padding_side is "{side}"' + ("" if left else ', not "left"'),
                         ja=f'padding_side は "{side}" です' + ("" if left else '（"left" ではありません）')),
               say(en='AutoTokenizer.from_pretrained(path, padding_side="left"), or my_tokenizer.padding_side = "left"',
                   ja='AutoTokenizer.from_pretrained(path, padding_side="left")、または '
                      'my_tokenizer.padding_side = "left" とします'))
    report.add(pad is not None, say(en=f"has a pad token: {pad!r}", ja=f"パディングトークンがあります: {pad!r}")
               if pad is not None else say(en="has no pad token", ja="パディングトークンがありません"),
               say(en="my_tokenizer.pad_token = my_tokenizer.eos_token",
                   ja="my_tokenizer.pad_token = my_tokenizer.eos_token とします"))
    _check_pads_left(report, my_tokenizer)


def _check_pads_left(report: Report, tokenizer: Any) -> None:
    """Encode the counting batch with padding=True: the shorter row must start with pad ids and mask 0s."""
    hint = say(en='the pad ids and the 0s of the attention mask must come first, so that every row ends with its '
                  'own last token: padding_side="left" and a pad token',
               ja='パディングの ID と attention_mask の 0 を先頭に置いて、どの行も自分の最後のトークンで終わるように'
                  'します。padding_side="left" にし、パディングトークンも設定します')
    try:
        batch = tokenizer(COUNTING_BATCH, padding=True)
    except Exception as error:
        report.add(False, say(en=f"could not pad {COUNTING_BATCH}: {error_text(error)}",
                              ja=f"{COUNTING_BATCH} をパディングできませんでした: {error_text(error)}"), hint)
        return
    row = min(range(len(COUNTING_BATCH)), key=lambda index: sum(batch["attention_mask"][index]))
    mask, ids = list(batch["attention_mask"][row]), list(batch["input_ids"][row])
    zeros = mask.index(1) if 1 in mask else len(mask)  # how many 0s come first
    left = (0 < zeros < len(mask) and all(m == 1 for m in mask[zeros:])
            and all(i == tokenizer.pad_token_id for i in ids[:zeros]))
    text = COUNTING_BATCH[row]
    report.add(left, say(en=f'"{text}" is {"" if left else "not "}padded on the left: attention_mask {mask}',
                         ja=f'"{text}" は左にパディングされ{"ています" if left else "ていません"}: '
                            f'attention_mask {mask}'), hint)


@exercise_check(en="Chat prompt", ja="チャットテンプレートのプロンプト")
def check_chat_prompt(report: Report, my_prompt: Any, tokenizer: Any) -> None:
    """Lesson 02: ``my_prompt`` puts "What is the capital of France?" in a user turn, then the generation prompt.

    >>> check_chat_prompt(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True),
    ...                   tokenizer).passed   # doctest: +SKIP
    True
    """
    is_text = isinstance(my_prompt, str)
    if not report.add(is_text, say(en="my_prompt is text", ja="my_prompt はテキストです") if is_text else
                      not_a("my_prompt", my_prompt, en="text", ja="テキスト"),
                      say(en="apply_chat_template(messages, tokenize=False, add_generation_prompt=True) "
                             "returns the text",
                          ja="apply_chat_template(messages, tokenize=False, add_generation_prompt=True) で"
                             "テキストが得られます")):
        return
    generation, turns = _chat_parts(tokenizer, QUESTION)
    asked, in_user, ends = QUESTION in my_prompt, turns["user"] in my_prompt, my_prompt.endswith(generation)
    report.add(asked, say(en=f'{"contains" if asked else "does not contain"} the question "{QUESTION}"',
                          ja=f'質問 "{QUESTION}" が含まれて{"います" if asked else "いません"}'),
               say(en=f'the user message\'s content must be exactly "{QUESTION}"',
                   ja=f'ユーザーのメッセージの content は "{QUESTION}" そのままにします'))
    report.add(in_user, say(en=f'the question is {"" if in_user else "not "}in a user turn of the chat template',
                            ja="質問がチャットテンプレートのユーザーのターンに入って"
                               + ("います" if in_user else "いません")),
               _user_turn_hint(my_prompt, turns))
    report.add(ends, say(en=f"{'ends' if ends else 'does not end'} with the generation prompt {generation!r}",
                         ja=f"生成プロンプト {generation!r} で終わって{'います' if ends else 'いません'}"),
               say(en=f"add_generation_prompt=True appends {generation!r}: the cue that the assistant answers next",
                   ja=f"add_generation_prompt=True で {generation!r} が末尾に付き、次はアシスタントが答える番だと"
                      "モデルに伝わります"))


def _chat_parts(tokenizer: Any, question: str) -> tuple[str, dict[str, str | None]]:
    """The template's generation prompt, and for each role the text of a turn holding ``question``."""
    def render(role: str, generation: bool = False) -> str:
        return tokenizer.apply_chat_template([{"role": role, "content": question}], tokenize=False,
                                             add_generation_prompt=generation)

    plain, with_prompt = render("user"), render("user", True)
    generation = with_prompt[len(plain):] if with_prompt.startswith(plain) else ""
    turns: dict[str, str | None] = {}
    for role in ("user", "system", "assistant"):
        try:
            text = render(role)
        except Exception:  # some templates refuse a role (no system turn, for one)
            turns[role] = None
            continue
        # the turn runs from the role's name (its header) through the question to the end
        at = text.rfind(role, 0, text.rfind(question))
        turns[role] = text[at:] if at >= 0 and question in text else None
    turns["user"] = turns["user"] or question
    return generation, turns


def _user_turn_hint(prompt: str, turns: dict[str, str | None]) -> str:
    """The raw question, the question in another role's turn, or something else."""
    if prompt.strip() == QUESTION:
        return say(en="this is the question alone; the chat model expects it inside the chat template: "
                      + APPLY_TEMPLATE,
                   ja=f"これは質問だけです。チャットモデルにはチャットテンプレートで包んで渡します: {APPLY_TEMPLATE}")
    wrong = next((role for role in ("system", "assistant") if turns.get(role) and turns[role] in prompt), None)
    if wrong:
        return say(en=f'the question is in a "{wrong}" turn: use {{"role": "user", "content": question}}',
                   ja=f'質問が "{wrong}" のターンに入っています。{{"role": "user", "content": question}} を使います')
    return say(en=f"build it with {APPLY_TEMPLATE}", ja=f"{APPLY_TEMPLATE} で作ります")
