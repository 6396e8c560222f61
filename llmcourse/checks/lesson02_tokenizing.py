"""Checks for lesson 02 (tokenizing): a tokenizer that pads on the left, and a chat-template prompt."""

from __future__ import annotations

from typing import Any

from ..i18n import say
from .base import Report, exercise_check, is_tokenizer, not_a
from .values import error_text

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
               say(en=f'it pads on the {side}: a decoder-only model continues from the last position of each row, '
                      'so the padding must come first, on the left',
                   ja=f'{side} 側にパディングしています。デコーダー専用のモデルは各行の最後の位置から続けるので、'
                      'パディングは先頭（左）に置きます'),
               'my_tokenizer.padding_side = "left"  # or AutoTokenizer.from_pretrained(path, padding_side="left")')
    report.add(pad is not None, say(en=f"has a pad token: {pad!r}", ja=f"パディングトークンがあります：{pad!r}")
               if pad is not None else say(en="has no pad token", ja="パディングトークンがありません"),
               say(en="the tokenizer has no token to pad with: reuse its end-of-text token as the pad token",
                   ja="パディングに使うトークンがありません。終了トークンをパディングトークンとして使います"),
               "my_tokenizer.pad_token = my_tokenizer.eos_token")
    _judge_pads_left(report, my_tokenizer)


def _judge_pads_left(report: Report, tokenizer: Any) -> None:
    """Encode the counting batch with padding=True: the shorter row must start with pad ids and mask 0s."""
    hint = say(en='the pad ids and the 0s of the attention mask must come first, so that every row ends with its '
                  'own last token: the tokenizer pads on the side its padding_side names, with its pad token',
               ja='パディングの ID と attention_mask の 0 を先頭に置いて、どの行も自分の最後のトークンで終わるように'
                  'します。トークナイザーは padding_side が示す側に、パディングトークンでパディングします')
    try:
        batch = tokenizer(COUNTING_BATCH, padding=True)
    except Exception as error:
        report.add(False, say(en=f"could not pad {COUNTING_BATCH}: {error_text(error)}",
                              ja=f"{COUNTING_BATCH} をパディングできませんでした：{error_text(error)}"), hint)
        return
    row = min(range(len(COUNTING_BATCH)), key=lambda index: sum(batch["attention_mask"][index]))
    mask, ids = list(batch["attention_mask"][row]), list(batch["input_ids"][row])
    zeros = mask.index(1) if 1 in mask else len(mask)  # how many 0s come first
    left = (0 < zeros < len(mask) and all(m == 1 for m in mask[zeros:])
            and all(i == tokenizer.pad_token_id for i in ids[:zeros]))
    text = COUNTING_BATCH[row]
    report.add(left, say(en=f'"{text}" is {"" if left else "not "}padded on the left: attention_mask {mask}',
                         ja=f'"{text}" は左にパディングされ{"ています" if left else "ていません"}：'
                            f'attention_mask {mask}'), hint,
               'my_tokenizer.padding_side = "left"; my_tokenizer.pad_token = my_tokenizer.eos_token')


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
                      _prompt_type_hint(my_prompt), f"my_prompt = {APPLY_TEMPLATE}"):
        return
    generation, turns = _chat_parts(tokenizer, QUESTION)
    asked, in_user, ends = QUESTION in my_prompt, turns["user"] in my_prompt, my_prompt.endswith(generation)
    report.add(asked, say(en=f'{"contains" if asked else "does not contain"} the question "{QUESTION}"',
                          ja=f'質問 "{QUESTION}" が含まれて{"います" if asked else "いません"}'),
               say(en=f'the question is not there word for word: the user message\'s content must be exactly '
                      f'"{QUESTION}"',
                   ja=f'質問がそのままの形で入っていません。ユーザーのメッセージの content は "{QUESTION}" '
                      'そのままにします'),
               f'messages = [{{"role": "user", "content": "{QUESTION}"}}]')
    report.add(in_user, say(en=f'the question is {"" if in_user else "not "}in a user turn of the chat template',
                            ja="質問がチャットテンプレートのユーザーのターンに入って"
                               + ("います" if in_user else "いません")),
               _user_turn_hint(my_prompt, turns), f"my_prompt = {APPLY_TEMPLATE}")
    report.add(ends, say(en=f"{'ends' if ends else 'does not end'} with the generation prompt {generation!r}",
                         ja=f"生成プロンプト {generation!r} で終わって{'います' if ends else 'いません'}"),
               say(en=f"the prompt must end with {generation!r}, the cue that the assistant answers next; the template "
                      "adds it when asked to",
                   ja=f"プロンプトは {generation!r} で終わる必要があります。次はアシスタントが答えるターンだという合図で、"
                      "テンプレートに頼むと付けてくれます"),
               "tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)")


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


def _prompt_type_hint(value: Any) -> str:
    """Token ids (tokenize left on), the messages themselves, or something else."""
    if isinstance(value, dict) or hasattr(value, "input_ids") or (
            isinstance(value, (list, tuple)) and value and all(isinstance(item, int) for item in value)):
        return say(en="these are token ids: apply_chat_template tokenizes unless told not to, and the exercise asks "
                      "for the text",
                   ja="これはトークン ID です。apply_chat_template は指定しない限りトークン化します。演習はテキストを"
                      "求めています")
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, dict) for item in value):
        return say(en="these are the chat messages: the tokenizer's chat template turns them into the prompt text",
                   ja="これはチャットのメッセージです。トークナイザーのチャットテンプレートでプロンプトのテキストに"
                      "変換します")
    return say(en="the prompt is the text the chat template makes from the messages",
               ja="プロンプトはチャットテンプレートがメッセージから作るテキストです")


def _user_turn_hint(prompt: str, turns: dict[str, str | None]) -> str:
    """The raw question, the question in another role's turn, or something else."""
    if prompt.strip() == QUESTION:
        return say(en="this is the question alone; the chat model expects it inside the chat template, in a user "
                      "turn with the template's role markers",
                   ja="これは質問だけです。チャットモデルには、チャットテンプレートの役割の印が付いたユーザーのターンに"
                      "入れて渡します")
    wrong = next((role for role in ("system", "assistant") if turns.get(role) and turns[role] in prompt), None)
    if wrong:
        return say(en=f'the question is in a "{wrong}" turn: the question is the user\'s, so its role is "user"',
                   ja=f'質問が "{wrong}" のターンに入っています。質問はユーザーのものなので、role は "user" です')
    return say(en="the text does not have the template's user turn around the question: let the chat template "
                  "build it from the messages",
               ja="質問の周りにテンプレートのユーザーのターンがありません。メッセージからチャットテンプレートに"
                  "作らせます")
