"""Checks for lesson 02 (tokenizing): a tokenizer that pads on the left, and a function that builds a chat prompt.

``my_chat_prompt(question)`` must return the prompt text for one user question, ending with the
generation prompt. The check runs it on the lesson's question and on two it has not seen, whose
quotes and newline break a prompt built by hand or a question changed on the way, so that the
lesson's prompt typed in never passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..i18n import say
from .base import Report, call, exercise_check, is_function, is_tokenizer, not_a
from .values import error_text

COUNTING_BATCH = ["1, 2, 3", "A, B, C, D, E"]  # lessons 02 and 04: a short row and a long row
CHAT_QUESTION = "What is the capital of France?"  # the chat exercise's question, in the lesson
UNSEEN_QUESTIONS = [  # quotes and a newline: they break a prompt built by hand, or a question changed on the way
    'What does "bonjour" mean?',
    "Name two rivers.\nAnswer in one line.",
]
APPLY_TEMPLATE = ('return tokenizer.apply_chat_template([{"role": "user", "content": question}], '
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


@exercise_check(en="Chat prompt", ja="チャットテンプレートのプロンプト", answer=is_function)
def check_chat_prompt(report: Report, my_chat_prompt: Callable[[str], Any], tokenizer: Any) -> None:
    """Lesson 02: ``my_chat_prompt(question)`` returns the prompt text that puts ``question`` in a user turn of the
    chat template, then the generation prompt; run on the lesson's question and on two it has not seen.

    A system turn of one's own before the user turn is accepted, and so is no system turn at all.

    >>> check_chat_prompt(lambda question: tokenizer.apply_chat_template(
    ...     [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True),
    ...     tokenizer).passed   # doctest: +SKIP
    True
    """
    usage = say(en="it is called as my_chat_prompt(question) with the question as a string, and returns the prompt "
                   "text",
                ja="my_chat_prompt(question) の形で質問の文字列を渡して呼ばれ、プロンプトのテキストを返します")
    lesson = ""
    for number, question in enumerate([CHAT_QUESTION, *UNSEEN_QUESTIONS]):
        ok, prompt = call(report, "my_chat_prompt", my_chat_prompt, (question,), usage)
        if not ok:
            return
        label = say(en=f"the lesson's question {question!r}", ja=f"レッスンの質問 {question!r}") if number == 0 else \
            say(en=f"a question it has not seen, {question!r}", ja=f"見せていない質問 {question!r}")
        if not isinstance(prompt, str):
            report.add(False, say(en=f"{label}: ", ja=f"{label}：")
                       + not_a("my_chat_prompt(question)", prompt, en="text", ja="テキスト"),
                       _prompt_type_hint(prompt), APPLY_TEMPLATE)
            return
        parts = _chat_parts(tokenizer, question)
        lesson = lesson or parts.reference
        right = _accepted(prompt, parts)
        if right:
            report.add(True, say(en=f"{label}: in a user turn, then the generation prompt {parts.generation!r}",
                                 ja=f"{label}：ユーザーのターンに入り、その後に生成プロンプト {parts.generation!r} が"
                                    "あります"))
            continue
        what, hint = _chat_mistake(prompt, question, parts, lesson)
        report.add(False, say(en=f"{label}: {what}; returned {prompt!r}", ja=f"{label}：{what}。返したのは {prompt!r}"),
                   hint, APPLY_TEMPLATE)
        return


class _ChatParts(NamedTuple):
    """What the tokenizer's chat template makes of one question."""

    reference: str  # [user turn], with the generation prompt
    generation: str  # the generation prompt, '<|im_start|>assistant\n'
    tail: str  # the user turn and the generation prompt: every accepted prompt ends with it
    system: tuple[str, str] | None  # what comes before and after a system message's content, if the template has one
    turns: dict[str, str | None]  # for each role, the text of a turn holding the question (from the role's name on)


def _chat_parts(tokenizer: Any, question: str) -> _ChatParts:
    """Render the question in the template's turns (a system turn, if the template refuses one, is left out)."""
    def render(messages: list[dict[str, str]], generation: bool = False) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)

    user = [{"role": "user", "content": question}]
    reference, plain = render(user, True), render(user)
    generation = reference[len(plain):] if reference.startswith(plain) else ""
    turns: dict[str, str | None] = {}
    for role in ("user", "system", "assistant"):
        try:
            text = render([{"role": role, "content": question}])
        except Exception:  # some templates refuse a role (no system turn, for one)
            turns[role] = None
            continue
        # the turn runs from the role's name (its header) through the question to the end
        at = text.rfind(role, 0, text.rfind(question))
        turns[role] = text[at:] if at >= 0 and question in text else None
    turns["user"] = turns["user"] or question
    marker = "\x1f"  # a system message's content that no template writes by itself
    try:
        alone = render([{"role": "system", "content": marker}])
        both = render([{"role": "system", "content": marker}, *user], True)
    except Exception:
        alone = both = ""
    if alone.count(marker) == 1 and both.startswith(alone):
        tail, system = both[len(alone):], tuple(alone.split(marker))
    else:  # no system turn: the user turn starts at its role's name
        tail, system = reference[reference.rfind("user", 0, reference.rfind(question)):], None
    return _ChatParts(reference, generation, tail, system, turns)


def _accepted(prompt: str, parts: _ChatParts) -> bool:
    """The template's prompt, or the user turn and generation prompt after no turn or after a system turn."""
    if prompt == parts.reference:
        return True
    if not prompt.endswith(parts.tail):
        return False
    head = prompt[:len(prompt) - len(parts.tail)]
    before, after = parts.system or ("", "")
    return head == "" or (parts.system is not None and head.startswith(before) and head.endswith(after)
                          and len(head) >= len(before) + len(after))


def _chat_mistake(prompt: str, question: str, parts: _ChatParts, lesson: str) -> tuple[str, str]:
    """(what is wrong, the idea of the fix): the lesson's prompt, the question changed or alone, another role,
    no generation prompt, or text before the user turn that is no turn of the template."""
    if question != CHAT_QUESTION and (prompt == lesson or (CHAT_QUESTION in prompt and question not in prompt)):
        return (say(en="this is the prompt of the lesson's question", ja="これはレッスンの質問のプロンプトです"),
                say(en="build the prompt from the question the function is given, not from the lesson's question",
                    ja="レッスンの質問ではなく、関数に渡された質問からプロンプトを作ります"))
    if question not in prompt:
        return (say(en="the question is not there as it was given", ja="質問が渡されたとおりの形で入っていません"),
                say(en="the user message's content must be exactly the question the function is given, its quotes, "
                       "newlines and spaces as they are",
                    ja="ユーザーのメッセージの content は、関数に渡された質問そのもの（引用符・改行・空白もそのまま）"
                       "にします"))
    if prompt.strip() == question.strip():
        return (say(en="it returned the question alone", ja="質問だけを返しました"),
                say(en="this is the question alone; the chat model expects it inside the chat template, in a user "
                       "turn with the template's role markers",
                    ja="これは質問だけです。チャットモデルには、チャットテンプレートの役割の印が付いたユーザーのターンに"
                       "入れて渡します"))
    if parts.turns["user"] not in prompt:
        return (say(en="the question is not in a user turn of the chat template",
                    ja="質問がチャットテンプレートのユーザーのターンに入っていません"), _user_turn_hint(prompt, parts.turns))
    if not prompt.endswith(parts.generation):
        return (say(en=f"it does not end with the generation prompt {parts.generation!r}",
                    ja=f"生成プロンプト {parts.generation!r} で終わっていません"),
                say(en=f"the prompt must end with {parts.generation!r}, the cue that the assistant answers next; the "
                       "template adds it when asked to",
                    ja=f"プロンプトは {parts.generation!r} で終わる必要があります。次はアシスタントが答えるターンだという"
                       "合図で、テンプレートに頼むと付けてくれます"))
    return (say(en="the text before the user turn is not a turn of the chat template",
                ja="ユーザーのターンの前のテキストが、チャットテンプレートのターンになっていません"),
            say(en="let the chat template build the whole prompt from the messages (a system message of your own may "
                   "come first)",
                ja="プロンプト全体をメッセージからチャットテンプレートに作らせます（自分のシステムメッセージを先に"
                   "置くこともできます）"))


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
    """The question in another role's turn, or something else."""
    wrong = next((role for role in ("system", "assistant") if turns.get(role) and turns[role] in prompt), None)
    if wrong:
        return say(en=f'the question is in a "{wrong}" turn: the question is the user\'s, so its role is "user"',
                   ja=f'質問が "{wrong}" のターンに入っています。質問はユーザーのものなので、role は "user" です')
    return say(en="the text does not have the template's user turn around the question: let the chat template "
                  "build it from the messages",
               ja="質問の周りにテンプレートのユーザーのターンがありません。メッセージからチャットテンプレートに"
                  "作らせます")
