"""Exercise checks: after each exercise, call its check to see what passed, or a hint toward the fix.

Every lesson ends with exercises (as in ARENA). The learner writes a value or a
function, then runs the check the exercise names. A check tests properties of the
answer, not exact text, and returns a `Report` that the notebook shows as the
cell's value::

    >>> check_left_padding(my_tokenizer)                       # doctest: +SKIP
    Left padding
    ✔ padding_side is "left"
    ✔ has a pad token: '<|im_end|>'
    ✔ "1, 2, 3" is padded on the left: attention_mask [0, 0, 1, 1, 1, 1, 1, 1, 1]
    All checks passed!

A check never raises on a wrong answer (None, a wrong type, a function that
raises): each problem is a ✘ line with a hint. Messages follow `set_language`.

Lesson 01 `check_4bit_model`, `check_8bit_config`; 02 `check_left_padding`,
`check_chat_prompt`; 03 `check_next_token_fn`, `check_new_text_only`; 04
`check_max_new_tokens`, `check_reproducible_sampling`, `check_padded_batch`; 05
`check_top_p_filter`, `check_temperature`; 06 `check_streamed_chunks`,
`check_tokens_per_second`.
"""

from __future__ import annotations

import contextlib
import math
import random
import re
from typing import Any, Callable, Iterator, NamedTuple

from .i18n import say

COUNTING_BATCH = ["1, 2, 3", "A, B, C, D, E"]  # lessons 02 and 04: a short row and a long row
QUESTION = "What is the capital of France?"  # lesson 02's chat exercise
NEXT_TOKEN_PROMPTS = ["The capital of France is", "1, 2, 3, 4,", "A list of colors: red, blue"]
NEW_TEXT_PROMPTS = ["1, 2, 3", "A list of colors: red, blue"]
SPECIAL_TOKEN = re.compile(r"<\|[^<>|]*\|>|</?s>|<unk>|<pad>")  # <|im_end|>, </s>, ...
APPLY_TEMPLATE = ('tokenizer.apply_chat_template([{"role": "user", "content": question}], '
                  'tokenize=False, add_generation_prompt=True)')
NEW_IDS = 'output_ids[:, inputs["input_ids"].shape[1]:]'  # the new tokens of a left-padded batch


class Line(NamedTuple):
    """One checked property: did it hold, what it says, and (only when it failed) a hint."""

    passed: bool
    message: str
    hint: str = ""


class Report:
    """What a check returns: a title and one `Line` per property, shown as ✔/✘ lines.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> report = Report("Demo")
    >>> report.add(True, "pads on the left")
    True
    >>> _ = report.add(False, "has no pad token", "tokenizer.pad_token = tokenizer.eos_token")
    >>> report.passed
    False
    >>> print(report)
    Demo
    ✔ pads on the left
    ✘ has no pad token — hint: tokenizer.pad_token = tokenizer.eos_token
    1 of 2 checks failed
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[Line] = []

    def add(self, passed: Any, message: str, hint: str = "") -> bool:
        """Record one property (the hint is kept only if it failed); returns whether it passed."""
        passed = bool(passed)
        self.lines.append(Line(passed, message, "" if passed else hint))
        return passed

    @property
    def passed(self) -> bool:
        """True when at least one property was checked and every one passed."""
        return bool(self.lines) and all(line.passed for line in self.lines)

    @property
    def failures(self) -> list[Line]:
        """The lines that failed."""
        return [line for line in self.lines if not line.passed]

    def __repr__(self) -> str:
        rows = [self.title]
        for line in self.lines:
            hint = say(en=" — hint: ", ja=" — ヒント: ") + line.hint if line.hint else ""
            rows.append(f"✔ {line.message}" if line.passed else f"✘ {line.message}{hint}")
        failed, total = len(self.failures), len(self.lines)
        rows.append(say(en="All checks passed!", ja="すべてのチェックに合格しました！") if self.passed else
                    say(en=f"{failed} of {total} checks failed", ja=f"{total} 件中 {failed} 件が不合格です"))
        return "\n".join(rows)

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows the report as plain lines, the cell's value."""
        printer.text(repr(self))


# ---------------------------------------------------------------- lesson 01: loading


def check_4bit_model(my_model: Any) -> Report:
    """Lesson 01: ``my_model`` has 4-bit NF4 Linear layers, double quantization, and <= 0.3 of its fp32 size.

    >>> check_4bit_model(my_model).passed   # loaded with BitsAndBytesConfig(load_in_4bit=True, ...)  # doctest: +SKIP
    True
    """
    report = Report(say(en="4-bit model", ja="4 ビット量子化モデル"))
    with _guard(report):
        if not _is_model(report, my_model, "my_model"):
            return report
        layers = [module for module in my_model.modules() if type(module).__name__ == "Linear4bit"]
        if not report.add(layers, say(en=f"has {len(layers)} bitsandbytes Linear4bit layers",
                                      ja=f"bitsandbytes の Linear4bit 層が {len(layers)} 個あります") if layers else
                          say(en="has no bitsandbytes Linear4bit layers", ja="bitsandbytes の Linear4bit 層がありません"),
                          _no_4bit_hint(my_model)):
            return report
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
        _check_footprint(report, my_model)
    return report


def _no_4bit_hint(model: Any) -> str:
    """Why there are no 4-bit layers: an 8-bit model, or no quantization at all."""
    if any(type(module).__name__ == "Linear8bitLt" for module in model.modules()):
        return say(en="this model is 8-bit (Linear8bitLt layers): for 4-bit use BitsAndBytesConfig(load_in_4bit=True, ...)",
                   ja="これは 8 ビットのモデルです（Linear8bitLt 層）。4 ビットには "
                      "BitsAndBytesConfig(load_in_4bit=True, ...) を使います")
    config = 'BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)'
    return say(en=f"load it with quantization_config={config}", ja=f"quantization_config={config} を渡して読み込みます")


def _check_footprint(report: Report, model: Any) -> None:
    """Memory footprint at most 0.3 of the same model in fp32 (parameter count × 4 bytes)."""
    import torch

    parameters = list(model.parameters())
    full = 4 * sum(_unquantized_numel(parameter) for parameter in parameters)
    used = (model.get_memory_footprint() if hasattr(model, "get_memory_footprint")
            else sum(parameter.numel() * parameter.element_size() for parameter in parameters))
    ratio, small = used / full, used / full <= 0.3
    if any(parameter.dtype == torch.float32 for parameter in parameters):
        hint = say(en="bitsandbytes quantizes only the Linear layers; the embeddings and norms stay float32: "
                      "pass dtype=torch.bfloat16 to from_pretrained as well",
                   ja="bitsandbytes が量子化するのは Linear 層だけで、埋め込みと正規化層は float32 のままです。"
                      "from_pretrained に dtype=torch.bfloat16 も渡します")
    else:
        hint = say(en="quantize the Linear layers with BitsAndBytesConfig(load_in_4bit=True, ...)",
                   ja="BitsAndBytesConfig(load_in_4bit=True, ...) で Linear 層を量子化します")
    report.add(small, say(en=f"memory footprint {used / 1e6:.0f} MB is {ratio:.2f} of the fp32 size ({full / 1e6:.0f} MB)"
                             + ("" if small else ", more than 0.3"),
                          ja=f"メモリ使用量 {used / 1e6:.0f} MB は fp32 の大きさ（{full / 1e6:.0f} MB）の {ratio:.2f} 倍です"
                             + ("" if small else "（0.3 を超えています）")), hint)


def _unquantized_numel(parameter: Any) -> int:
    """Number of weights a parameter stands for (a packed 4-bit one keeps its original shape aside)."""
    shape = getattr(getattr(parameter, "quant_state", None), "shape", None)
    return math.prod(shape) if shape is not None else parameter.numel()


def check_8bit_config(my_config: Any) -> Report:
    """Lesson 01: ``my_config`` is a `transformers.BitsAndBytesConfig` asking for 8-bit (and not 4-bit).

    >>> check_8bit_config(BitsAndBytesConfig(load_in_8bit=True)).passed   # doctest: +SKIP
    True
    """
    report = Report(say(en="8-bit quantization config", ja="8 ビット量子化の設定"))
    with _guard(report):
        from transformers import BitsAndBytesConfig

        is_config = isinstance(my_config, BitsAndBytesConfig)
        if not report.add(is_config, say(en="my_config is a BitsAndBytesConfig", ja="my_config は BitsAndBytesConfig です")
                          if is_config else say(en=f"my_config is {_kind(my_config)}, not a BitsAndBytesConfig",
                                                ja=f"my_config は {_kind(my_config)}で、BitsAndBytesConfig ではありません"),
                          _config_type_hint(my_config)):
            return report
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
    return report


def _config_type_hint(value: Any) -> str:
    """The removed keyword style as a dict, load_model's shortcut, or something else."""
    if isinstance(value, dict) and {"load_in_8bit", "load_in_4bit"} & set(value):
        return say(en="transformers 5 removed from_pretrained(..., load_in_8bit=True); it wants "
                      "quantization_config=BitsAndBytesConfig(load_in_8bit=True)",
                   ja="transformers 5 では from_pretrained(..., load_in_8bit=True) は使えません。"
                      "quantization_config=BitsAndBytesConfig(load_in_8bit=True) を渡します")
    if isinstance(value, str) and value.lower() in ("8bit", "8-bit"):
        return say(en="'8bit' is load_model's shortcut; build the config itself: BitsAndBytesConfig(load_in_8bit=True)",
                   ja="'8bit' は load_model の省略形です。設定そのものを BitsAndBytesConfig(load_in_8bit=True) で作ります")
    return say(en="transformers 5 wants a config object: from transformers import BitsAndBytesConfig; "
                  "my_config = BitsAndBytesConfig(load_in_8bit=True)",
               ja="transformers 5 には設定オブジェクトを渡します: from transformers import BitsAndBytesConfig; "
                  "my_config = BitsAndBytesConfig(load_in_8bit=True)")


# ---------------------------------------------------------------- lesson 02: tokenizing


def check_left_padding(my_tokenizer: Any) -> Report:
    """Lesson 02: ``my_tokenizer`` pads on the left, has a pad token, and really puts the padding first.

    >>> check_left_padding(AutoTokenizer.from_pretrained(path, padding_side="left")).passed   # doctest: +SKIP
    True
    """
    report = Report(say(en="Left padding", ja="左パディング"))
    with _guard(report):
        if not _is_tokenizer(report, my_tokenizer, "my_tokenizer"):
            return report
        side, pad = my_tokenizer.padding_side, my_tokenizer.pad_token
        report.add(side == "left", say(en=f'padding_side is "{side}"' + ("" if side == "left" else ', not "left"'),
                                       ja=f'padding_side は "{side}" です' + ("" if side == "left" else '（"left" ではありません）')),
                   say(en='AutoTokenizer.from_pretrained(path, padding_side="left"), or my_tokenizer.padding_side = "left"',
                       ja='AutoTokenizer.from_pretrained(path, padding_side="left")、または '
                          'my_tokenizer.padding_side = "left" とします'))
        report.add(pad is not None, say(en=f"has a pad token: {pad!r}", ja=f"パディングトークンがあります: {pad!r}")
                   if pad is not None else say(en="has no pad token", ja="パディングトークンがありません"),
                   say(en="my_tokenizer.pad_token = my_tokenizer.eos_token",
                       ja="my_tokenizer.pad_token = my_tokenizer.eos_token とします"))
        _check_pads_left(report, my_tokenizer)
    return report


def _check_pads_left(report: Report, tokenizer: Any) -> None:
    """Encode the counting batch with padding=True: the shorter row must start with pad ids and mask 0s."""
    hint = say(en='the pad ids and the 0s of the attention mask must come first, so that every row ends with its '
                  'own last token: padding_side="left" and a pad token',
               ja='パディングの ID と attention_mask の 0 を先頭に置いて、どの行も自分の最後のトークンで終わるように'
                  'します。padding_side="left" にし、パディングトークンも設定します')
    try:
        batch = tokenizer(COUNTING_BATCH, padding=True)
    except Exception as error:
        report.add(False, say(en=f"could not pad {COUNTING_BATCH}: {_error_text(error)}",
                              ja=f"{COUNTING_BATCH} をパディングできませんでした: {_error_text(error)}"), hint)
        return
    row = min(range(len(COUNTING_BATCH)), key=lambda index: sum(batch["attention_mask"][index]))
    mask, ids = list(batch["attention_mask"][row]), list(batch["input_ids"][row])
    zeros = mask.index(1) if 1 in mask else len(mask)  # how many 0s come first
    left = (0 < zeros < len(mask) and all(m == 1 for m in mask[zeros:])
            and all(i == tokenizer.pad_token_id for i in ids[:zeros]))
    report.add(left, say(en=f'"{COUNTING_BATCH[row]}" is {"" if left else "not "}padded on the left: attention_mask {mask}',
                         ja=f'"{COUNTING_BATCH[row]}" は左にパディングされ{"ています" if left else "ていません"}: '
                            f'attention_mask {mask}'), hint)


def check_chat_prompt(my_prompt: Any, tokenizer: Any) -> Report:
    """Lesson 02: ``my_prompt`` puts "What is the capital of France?" in a user turn and ends with the generation prompt.

    >>> check_chat_prompt(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True),
    ...                   tokenizer).passed   # doctest: +SKIP
    True
    """
    report = Report(say(en="Chat prompt", ja="チャットテンプレートのプロンプト"))
    with _guard(report):
        is_text = isinstance(my_prompt, str)
        if not report.add(is_text, say(en="my_prompt is text", ja="my_prompt はテキストです") if is_text else
                          say(en=f"my_prompt is {_kind(my_prompt)}, not text",
                              ja=f"my_prompt は {_kind(my_prompt)}で、テキストではありません"),
                          say(en="apply_chat_template(messages, tokenize=False, add_generation_prompt=True) "
                                 "returns the text",
                              ja="apply_chat_template(messages, tokenize=False, add_generation_prompt=True) で"
                                 "テキストが得られます")):
            return report
        generation, turns = _chat_parts(tokenizer, QUESTION)
        asked, in_user, ends = QUESTION in my_prompt, turns["user"] in my_prompt, my_prompt.endswith(generation)
        report.add(asked, say(en=f'{"contains" if asked else "does not contain"} the question "{QUESTION}"',
                              ja=f'質問 "{QUESTION}" が含まれて{"います" if asked else "いません"}'),
                   say(en=f'the user message\'s content must be exactly "{QUESTION}"',
                       ja=f'ユーザーのメッセージの content は "{QUESTION}" そのままにします'))
        report.add(in_user, say(en=f'the question is {"" if in_user else "not "}in a user turn of the chat template',
                                ja=f'質問がチャットテンプレートのユーザーのターンに入って{"います" if in_user else "いません"}'),
                   _user_turn_hint(my_prompt, turns))
        report.add(ends, say(en=f"{'ends' if ends else 'does not end'} with the generation prompt {generation!r}",
                             ja=f"生成プロンプト {generation!r} で終わって{'います' if ends else 'いません'}"),
                   say(en=f"add_generation_prompt=True appends {generation!r}: the cue that the assistant answers next",
                       ja=f"add_generation_prompt=True で {generation!r} が末尾に付き、次はアシスタントが答える番だと"
                          "モデルに伝わります"))
    return report


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
        return say(en=f"this is the question alone; the chat model expects it inside the chat template: {APPLY_TEMPLATE}",
                   ja=f"これは質問だけです。チャットモデルにはチャットテンプレートで包んで渡します: {APPLY_TEMPLATE}")
    wrong = next((role for role in ("system", "assistant") if turns.get(role) and turns[role] in prompt), None)
    if wrong:
        return say(en=f'the question is in a "{wrong}" turn: use {{"role": "user", "content": question}}',
                   ja=f'質問が "{wrong}" のターンに入っています。{{"role": "user", "content": question}} を使います')
    return say(en=f"build it with {APPLY_TEMPLATE}", ja=f"{APPLY_TEMPLATE} で作ります")


# ---------------------------------------------------------------- lesson 03: generating


def check_next_token_fn(my_next_token: Callable[[Any, Any], Any], model: Any, tokenizer: Any) -> Report:
    """Lesson 03: ``my_next_token(model, input_ids)`` returns the next token greedy decoding picks, as ``generate``.

    >>> my_next_token = lambda model, input_ids: int(model(input_ids).logits[0, -1].argmax())  # doctest: +SKIP
    >>> check_next_token_fn(my_next_token, model, tokenizer).passed                             # doctest: +SKIP
    True
    """
    report = Report(say(en="Greedy next token", ja="貪欲デコーディングの次のトークン"))
    with _guard(report):
        import torch

        if not _is_function(report, my_next_token, "my_next_token"):
            return report
        usage = say(en="it is called as my_next_token(model, input_ids), input_ids of shape (1, length)",
                    ja="my_next_token(model, input_ids) の形で呼ばれます。input_ids の形は (1, 長さ) です")
        for prompt in NEXT_TOKEN_PROMPTS:
            input_ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(model.device)  # (1, length)
            with torch.no_grad(), _quiet():
                expected = int(model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=1,
                                              do_sample=False, pad_token_id=_pad_id(tokenizer))[0, -1])
                logits = model(input_ids).logits[0]  # (length, vocab)
            with torch.no_grad():
                ok, answer = _call(report, "my_next_token", my_next_token, (model, input_ids.clone()), usage)
            if not ok:
                return report
            got, token = _as_int(answer), tokenizer.decode([expected])
            report.add(got == expected, say(en=f'after "{prompt}": {token!r}', ja=f'"{prompt}" の次: {token!r}')
                       if got == expected else
                       say(en=f'after "{prompt}" it returned {_show(answer)}; greedy decoding picks {expected} ({token!r})',
                           ja=f'"{prompt}" の次に {_show(answer)} を返しました。貪欲デコーディングでは {expected}'
                              f'（{token!r}）です'),
                       _next_token_hint(got, int(logits[0].argmax()), logits.shape[-1]))
    return report


def _next_token_hint(got: int | None, first_position: int, vocab: int) -> str:
    """Not one id, the first position's argmax, a flat argmax, or another mistake."""
    if got is None:
        return say(en="return one token id, e.g. int(logits[0, -1].argmax())",
                   ja="トークン ID を 1 つ返します。例: int(logits[0, -1].argmax())")
    if got == first_position:
        return say(en="that is the most likely token after the first position; the next token comes from the last "
                      "one: logits[0, -1]",
                   ja="それは最初の位置の次に来る最有力トークンです。次のトークンは最後の位置から選びます: logits[0, -1]")
    if not 0 <= got < vocab:
        return say(en=f"{got} is not a token id (the vocabulary has {vocab}): take the argmax over the last "
                      "dimension, logits[0, -1].argmax()",
                   ja=f"{got} はトークン ID ではありません（語彙は {vocab} 個）。最後の次元で argmax をとります: "
                      "logits[0, -1].argmax()")
    return say(en="one forward pass, then the largest logit at the last position: "
                  "int(model(input_ids).logits[0, -1].argmax())",
               ja="順伝播を 1 回行い、最後の位置で最大のロジットを選びます: int(model(input_ids).logits[0, -1].argmax())")


def check_new_text_only(my_decode: Callable[[Any, Any], Any], model: Any, tokenizer: Any) -> Report:
    """Lesson 03: ``my_decode(inputs, output_ids)`` decodes only the new tokens of a left-padded batch, no special tokens.

    >>> my_decode = lambda inputs, output_ids: tokenizer.batch_decode(
    ...     output_ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)  # doctest: +SKIP
    >>> check_new_text_only(my_decode, model, tokenizer).passed                      # doctest: +SKIP
    True
    """
    report = Report(say(en="New text only", ja="新しく生成したテキストだけ"))
    with _guard(report):
        if not _is_function(report, my_decode, "my_decode"):
            return report
        inputs, output_ids = _left_padded_run(model, tokenizer, NEW_TEXT_PROMPTS)
        expected = tokenizer.batch_decode(output_ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        usage = say(en="it is called as my_decode(inputs, output_ids): inputs from the tokenizer, output_ids from generate",
                    ja="my_decode(inputs, output_ids) の形で呼ばれます。inputs はトークナイザーの出力、"
                       "output_ids は generate の出力です")
        ok, texts = _call(report, "my_decode", my_decode, (inputs, output_ids.clone()), usage)
        if not ok or not _is_text_list(report, texts, "my_decode(...)", len(expected)):
            return report
        prompts = [prompt for prompt, text in zip(NEW_TEXT_PROMPTS, texts) if prompt in text]
        specials = sorted({token for text in texts for token in SPECIAL_TOKEN.findall(text)}
                          | {token for token in tokenizer.all_special_tokens if token and any(token in t for t in texts)})
        report.add(not prompts, say(en=f"includes the prompt {prompts[0]!r}", ja=f"プロンプト {prompts[0]!r} を含んでいます")
                   if prompts else say(en="leaves out the prompts", ja="プロンプトを含みません"),
                   say(en=f"output_ids holds prompt + new tokens: keep {NEW_IDS}",
                       ja=f"output_ids はプロンプトと新しいトークンを含みます: {NEW_IDS} だけを使います"))
        report.add(not specials, say(en=f"contains special tokens {specials}", ja=f"特殊トークン {specials} を含んでいます")
                   if specials else say(en="no special tokens", ja="特殊トークンを含みません"),
                   say(en="batch_decode(..., skip_special_tokens=True)",
                       ja="batch_decode(..., skip_special_tokens=True) とします"))
        same = texts == expected
        report.add(same, say(en=f"matches the new text {expected!r}", ja=f"新しいテキスト {expected!r} と一致します") if same
                   else say(en=f"returned {texts!r}; the new text is {expected!r}",
                            ja=f"{texts!r} を返しました。新しいテキストは {expected!r} です"),
                   _new_text_hint(texts, expected, prompts))
    return report


def _left_padded_run(model: Any, tokenizer: Any, prompts: list[str]) -> tuple[Any, Any]:
    """Left-padded inputs and a short greedy generation whose last token is EOS (a special token to skip)."""
    import torch

    from .generation import encode_left_padded

    inputs = encode_left_padded(tokenizer, prompts).to(model.device)
    with torch.no_grad(), _quiet():
        output_ids = model.generate(**inputs, max_new_tokens=4, do_sample=False, pad_token_id=_pad_id(tokenizer),
                                    forced_eos_token_id=tokenizer.eos_token_id)  # (batch, padded length + 4)
    return inputs, output_ids


def _new_text_hint(texts: list[str], expected: list[str], prompts: list[str]) -> str:
    """A row cut at its own unpadded length, or the general recipe."""
    if not prompts and any(text != new and text.endswith(new) for text, new in zip(texts, expected)):
        return say(en='with left padding the new tokens of every row start at the same index, the padded length '
                      'inputs["input_ids"].shape[1] (not each row\'s attention_mask sum)',
                   ja='左パディングでは、どの行も新しいトークンは同じ位置、つまりパディング込みの長さ '
                      'inputs["input_ids"].shape[1] から始まります（行ごとの attention_mask の合計ではありません）')
    return say(en=f"tokenizer.batch_decode({NEW_IDS}, skip_special_tokens=True)",
               ja=f"tokenizer.batch_decode({NEW_IDS}, skip_special_tokens=True) とします")


# ---------------------------------------------------------------- lesson 04: pitfalls


def check_max_new_tokens(my_kwargs: Any, n: int = 40) -> Report:
    """Lesson 04: ``my_kwargs`` asks ``generate`` for exactly ``n`` new tokens, with max_new_tokens.

    >>> check_max_new_tokens({"max_new_tokens": 40}).passed
    True
    """
    report = Report(say(en=f"{n} new tokens", ja=f"新しいトークンを {n} 個"))
    with _guard(report):
        is_dict = isinstance(my_kwargs, dict)
        if not report.add(is_dict, say(en="my_kwargs is a dict", ja="my_kwargs は dict です") if is_dict else
                          say(en=f"my_kwargs is {_kind(my_kwargs)}, not a dict",
                              ja=f"my_kwargs は {_kind(my_kwargs)}で、dict ではありません"),
                          say(en=f"a dict of generate's keyword arguments: dict(max_new_tokens={n})",
                              ja=f"generate のキーワード引数の dict にします: dict(max_new_tokens={n})")):
            return report
        value, long = my_kwargs.get("max_new_tokens"), "max_length" in my_kwargs
        right = isinstance(value, int) and not isinstance(value, bool) and value == n
        report.add(right, say(en=f"max_new_tokens is {value!r}" + ("" if right else f", not {n}"),
                              ja=f"max_new_tokens は {value!r} です" + ("" if right else f"（{n} ではありません）"))
                   if "max_new_tokens" in my_kwargs else
                   say(en="does not set max_new_tokens", ja="max_new_tokens を指定していません"),
                   _length_hint(my_kwargs, n))
        report.add(not long, say(en="sets max_length too" if long else "leaves max_length out",
                                 ja="max_length も指定しています" if long else "max_length は指定していません"),
                   say(en="max_length counts the prompt tokens too: remove it and let max_new_tokens say how many "
                          "tokens to add",
                       ja="max_length はプロンプトのトークンも数えます。削除して、追加する数は max_new_tokens で指定します"))
    return report


def _length_hint(kwargs: dict, n: int) -> str:
    """max_length instead, no length at all, or a wrong number."""
    if "max_new_tokens" not in kwargs and "max_length" in kwargs:
        return say(en=f"max_length={kwargs['max_length']!r} counts the prompt too, so fewer than {n} tokens are "
                      f"added: use max_new_tokens={n}",
                   ja=f"max_length={kwargs['max_length']!r} はプロンプトも数えるので、追加されるのは {n} 個より"
                      f"少なくなります: max_new_tokens={n} を使います")
    if "max_new_tokens" not in kwargs:
        return say(en=f"with no length, generate stops after 20 new tokens (and warns): add max_new_tokens={n}",
                   ja=f"長さを指定しないと generate は 20 トークンで止まり、警告も出ます: max_new_tokens={n} を加えます")
    return say(en=f"max_new_tokens={n}, a whole number", ja=f"max_new_tokens={n}（整数）とします")


def check_reproducible_sampling(my_sample: Callable[[int], Any]) -> Report:
    """Lesson 04: ``my_sample(seed)`` samples: the same seed gives the same text, other seeds other texts.

    It calls ``my_sample`` five times (it uses whatever model it closes over) and
    leaves the session's random state as it was.

    >>> check_reproducible_sampling(my_sample).passed   # doctest: +SKIP
    True
    """
    report = Report(say(en="Reproducible sampling", ja="再現できるサンプリング"))
    with _guard(report):
        if not _is_function(report, my_sample, "my_sample"):
            return report
        usage = say(en="it is called as my_sample(seed) with seed 0, 1, 2, 3 and must return the text",
                    ja="my_sample(seed) の形で seed = 0, 1, 2, 3 で呼ばれ、テキストを返す必要があります")
        texts, seeds_seen = [], set()
        with _kept_random_state(), _seed_spy(seeds_seen):
            for seed in (0, 0, 1, 2, 3):
                ok, text = _call(report, "my_sample", my_sample, (seed,), usage)
                if not ok or not _is_text(report, text, f"my_sample({seed})"):
                    return report
                texts.append(text)
        # sampled texts stay out of the passing lines: they may differ between CPUs (and notebook outputs are compared)
        same, distinct = texts[0] == texts[1], len(set(texts[1:]))  # texts[1:]: one per seed 0, 1, 2, 3
        report.add(same, say(en="seed 0 gives the same text twice", ja="seed 0 で 2 回とも同じテキストになります") if same else
                   say(en=f"seed 0 gave two different texts: {texts[0]!r}, {texts[1]!r}",
                       ja=f"seed 0 で 2 つの異なるテキストになりました: {texts[0]!r}、{texts[1]!r}"),
                   say(en="set the seed inside the function, right before generate: torch.manual_seed(seed)",
                       ja="関数の中で generate の直前にシードを設定します: torch.manual_seed(seed)"))
        report.add(distinct > 1, say(en="seeds 0-3 give different texts: it samples",
                                     ja="seed 0〜3 で違うテキストになります: サンプリングしています")
                   if distinct > 1 else say(en="seeds 0-3 all give the same text", ja="seed 0〜3 がすべて同じテキストになります"),
                   _sampling_hint(seeds_seen))
    return report


def _sampling_hint(seeds_seen: set) -> str:
    """Every seed gave one text: generate is not sampling, or the seed never reached torch."""
    if {1, 2, 3} <= seeds_seen:
        return say(en="the text does not depend on the seed, so generate is not sampling: pass do_sample=True",
                   ja="テキストがシードに左右されないので、generate はサンプリングしていません: do_sample=True を渡します")
    return say(en="the seed argument never reached torch.manual_seed: call torch.manual_seed(seed) (not a fixed "
                  "number) right before generate(..., do_sample=True)",
               ja="引数の seed が torch.manual_seed に渡っていません。generate(..., do_sample=True) の直前に "
                  "torch.manual_seed(seed)（固定の数ではなく）を呼びます")


@contextlib.contextmanager
def _seed_spy(seen: set) -> Iterator[None]:
    """Record the seeds given to torch.manual_seed (transformers.set_seed calls it too) while the block runs."""
    import torch

    original = torch.manual_seed

    def spy(seed: int) -> Any:
        seen.add(seed)
        return original(seed)

    torch.manual_seed = spy
    try:
        yield
    finally:
        torch.manual_seed = original


@contextlib.contextmanager
def _kept_random_state() -> Iterator[None]:
    """Restore the random state of torch, Python and numpy after the block."""
    import numpy
    import torch

    python_state, numpy_state = random.getstate(), numpy.random.get_state()
    with torch.random.fork_rng():
        try:
            yield
        finally:
            random.setstate(python_state)
            numpy.random.set_state(numpy_state)


def check_padded_batch(my_texts: Any) -> Report:
    """Lesson 04: ``my_texts``, the new texts for ["1, 2, 3", "A, B, C, D, E"], come from a left-padded batch.

    >>> check_padded_batch([", 4, 5, ", ", F, G, H, I"]).passed
    True
    """
    report = Report(say(en="Padded batch", ja="パディングしたバッチ"))
    with _guard(report):
        if not _is_text_list(report, my_texts, "my_texts", len(COUNTING_BATCH)):
            return report
        # the new texts are asked for, but full texts (prompt + new) are fine too
        texts = [text[len(prompt):] if text.startswith(prompt) else text for prompt, text in zip(COUNTING_BATCH, my_texts)]
        counting = texts[0].lstrip(" ,\n").startswith("4")
        mixed = [row for row in range(len(COUNTING_BATCH)) if COUNTING_BATCH[1 - row] in texts[row]]
        report.add(counting, say(en=f'"1, 2, 3" continues with {texts[0]!r}' + ("" if counting else ", not with 4"),
                                 ja=f'"1, 2, 3" の続きは {texts[0]!r} です' + ("" if counting else "（4 で始まっていません）")),
                   say(en='pad on the left (tokenizer.padding_side = "left") and pass the attention mask (**batch): with '
                          'right padding the short row continues after its pad tokens, not after "3"',
                       ja='左パディング（tokenizer.padding_side = "left"）にして attention_mask も渡します（**batch）。'
                          '右パディングだと短い行は "3" ではなくパディングの後ろから続けてしまいます'))
        report.add(not mixed, say(en=f"text {mixed[0]} contains the other row's prompt",
                                  ja=f"テキスト {mixed[0]} にもう一方の行のプロンプトが含まれています") if mixed else
                   say(en="neither text contains the other row's prompt",
                       ja="どちらのテキストにももう一方の行のプロンプトは含まれません"),
                   say(en='decode each row of output_ids after the padded prompt: '
                          'batch_decode(output_ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)',
                       ja='output_ids の各行をパディング込みのプロンプトの後ろからデコードします: '
                          'batch_decode(output_ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)'))
    return report


# ---------------------------------------------------------------- lesson 05: decoding


def check_top_p_filter(my_top_p: Callable[[Any, float], Any]) -> Report:
    """Lesson 05: ``my_top_p(logits, p)`` keeps the same tokens as ``TopPLogitsWarper(p)``, the rest set to -inf.

    >>> from llmcourse.sampling import top_p_filter
    >>> check_top_p_filter(top_p_filter).passed
    True
    """
    report = Report(say(en="Top-p filter", ja="top-p フィルター"))
    with _guard(report):
        import torch
        from transformers import TopPLogitsWarper

        if not _is_function(report, my_top_p, "my_top_p"):
            return report
        usage = say(en="it is called as my_top_p(logits, p) with logits of shape (2, 20) and must return logits",
                    ja="my_top_p(logits, p) の形で呼ばれます。logits の形は (2, 20) で、ロジットを返す必要があります")
        wrong_set = wrong_values = None
        for seed, p in [(seed, p) for seed in range(3) for p in (0.5, 0.8, 0.95)]:
            logits = _random_logits(seed)  # (2, 20)
            ok, out = _call(report, "my_top_p", my_top_p, (logits.clone(), p), usage)
            if not ok or not _is_logits(report, out, logits, "my_top_p(...)"):
                return report
            expected = TopPLogitsWarper(p)(torch.zeros(2, 1, dtype=torch.long), logits.clone())
            kept, kept_expected = out > float("-inf"), expected > float("-inf")
            if wrong_set is None and not torch.equal(kept, kept_expected):
                wrong_set = _top_p_hint(logits, kept, kept_expected)
            if wrong_values is None and not _only_kept_or_inf(out, logits):
                wrong_values = _filtered_value_hint(out)
        report.add(wrong_set is None, say(en=f"keeps {'the same tokens as' if wrong_set is None else 'other tokens than'} "
                                             "TopPLogitsWarper(p) for p = 0.5, 0.8, 0.95 (3 random batches)",
                                          ja="p = 0.5, 0.8, 0.95（乱数のバッチ 3 つ）で TopPLogitsWarper(p) と"
                                             f"{'同じ' if wrong_set is None else '違う'}トークンを残します"), wrong_set or "")
        report.add(wrong_values is None, say(en="kept tokens keep their logits, the others are -inf",
                                             ja="残したトークンのロジットはそのままで、それ以外は -inf です")
                   if wrong_values is None else say(en="the output is not the kept logits unchanged with -inf elsewhere",
                                                    ja="出力が「残したロジットはそのまま、それ以外は -inf」になっていません"),
                   wrong_values or "")
    return report


def _top_p_hint(logits: Any, kept: Any, kept_expected: Any) -> str:
    """Dropped the token that crosses p, dropped the most likely token, or something else."""
    probs = logits.softmax(-1)  # (batch, vocab)
    crossing = probs.masked_fill(~kept_expected, 2.0).argmin(-1)  # the least likely kept token is the one crossing p
    missing = [set((kept_expected[row] & ~kept[row]).nonzero().flatten().tolist()) for row in range(len(logits))]
    if all(row_missing <= {int(crossing[row])} for row, row_missing in enumerate(missing)) \
            and not (kept & ~kept_expected).any():
        return say(en="keep the token whose probability carries the total past p: remove a token only when the "
                      "tokens before it already add up to p (cumulative - probs >= p)",
                   ja="合計を p 以上にするトークンも残します。それより確率の高いトークンの合計がすでに p に達している"
                      "トークンだけを除きます（cumulative - probs >= p）")
    if not kept.gather(-1, probs.argmax(-1, keepdim=True)).all():
        return say(en="the most likely token must always stay: sort from most to least likely (descending=True) "
                      "before adding up",
                   ja="最も確率の高いトークンは必ず残します。合計する前に確率の高い順（descending=True）に並べます")
    return say(en="sort the probabilities from most to least likely, add them up, and keep tokens until the total "
                  "reaches p",
               ja="確率を高い順に並べて足し合わせ、合計が p に達するまでのトークンを残します")


def _only_kept_or_inf(out: Any, logits: Any) -> bool:
    """Every entry is either the original logit or -inf."""
    import torch

    kept = out > float("-inf")
    return bool(torch.equal(out[kept], logits[kept]) and not out.isnan().any())


def _filtered_value_hint(out: Any) -> str:
    """Probabilities returned, a large negative number instead of -inf, or changed logits."""
    if ((out >= 0) & (out <= 1)).all():
        return say(en='return logits, not probabilities: logits.masked_fill(remove, float("-inf"))',
                   ja='確率ではなくロジットを返します: logits.masked_fill(remove, float("-inf"))')
    if (out.isfinite() & (out < -1e4)).any():
        return say(en='use float("-inf") for removed tokens, so that softmax gives them exactly 0',
                   ja='除いたトークンには float("-inf") を使い、softmax で確率がちょうど 0 になるようにします')
    return say(en='do not rescale or renormalize: only set the removed logits to float("-inf")',
               ja='スケールを変えたり正規化し直したりせず、除くロジットを float("-inf") にするだけにします')


def check_temperature(my_apply_temperature: Callable[[Any, float], Any]) -> Report:
    """Lesson 05: ``my_apply_temperature(logits, t)`` equals ``TemperatureLogitsWarper(t)``: t < 1 sharpens.

    >>> check_temperature(lambda logits, t: logits / t).passed
    True
    """
    report = Report(say(en="Temperature", ja="温度"))
    with _guard(report):
        import torch
        from transformers import TemperatureLogitsWarper

        if not _is_function(report, my_apply_temperature, "my_apply_temperature"):
            return report
        usage = say(en="it is called as my_apply_temperature(logits, t) with logits of shape (2, 20)",
                    ja="my_apply_temperature(logits, t) の形で呼ばれます。logits の形は (2, 20) です")
        logits, outputs = _random_logits(0), {}
        for t in (0.5, 2.0, 0.7, 1.5):
            ok, out = _call(report, "my_apply_temperature", my_apply_temperature, (logits.clone(), t), usage)
            if not ok or not _is_logits(report, out, logits, "my_apply_temperature(...)"):
                return report
            outputs[t] = out.detach().float()
        top, top_at_one = {t: out.softmax(-1).amax(-1) for t, out in outputs.items()}, logits.softmax(-1).amax(-1)
        sharper, flatter = bool((top[0.5] > top_at_one).all()), bool((top[2.0] < top_at_one).all())
        same = all(torch.allclose(out, TemperatureLogitsWarper(t)(None, logits.clone())) for t, out in outputs.items())
        hint = (say(en="you multiplied by t: divide instead, logits / t", ja="t を掛けています。割ります: logits / t")
                if torch.allclose(outputs[2.0], logits * 2.0) else
                say(en="divide the logits by t: logits / t", ja="ロジットを t で割ります: logits / t"))
        report.add(sharper, say(en="t = 0.5 sharpens the distribution (the top probability goes up)",
                                ja="t = 0.5 で分布が鋭くなります（最大の確率が上がります）") if sharper else
                   say(en="t = 0.5 does not sharpen the distribution (the top probability should go up)",
                       ja="t = 0.5 で分布が鋭くなりません（最大の確率が上がるはずです）"), hint)
        report.add(flatter, say(en="t = 2 flattens the distribution (the top probability goes down)",
                                ja="t = 2 で分布が平らになります（最大の確率が下がります）") if flatter else
                   say(en="t = 2 does not flatten the distribution (the top probability should go down)",
                       ja="t = 2 で分布が平らになりません（最大の確率が下がるはずです）"), hint)
        report.add(same, say(en=f"{'matches' if same else 'differs from'} TemperatureLogitsWarper(t) "
                                "for t = 0.5, 0.7, 1.5, 2",
                             ja=f"t = 0.5, 0.7, 1.5, 2 で TemperatureLogitsWarper(t) と{'一致します' if same else '一致しません'}"),
                   hint)
    return report


def _random_logits(seed: int) -> Any:
    """A reproducible batch of 2 rows of 20 logits, spread like a model's."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 20, generator=generator) * 2.0  # (batch, vocab)


def _is_logits(report: Report, out: Any, logits: Any, name: str) -> bool:
    """A float tensor of the input's shape; otherwise add a failed line."""
    import torch

    if isinstance(out, torch.Tensor) and out.shape == logits.shape and out.is_floating_point():
        return True
    shown = f"{_kind(out)} ({out.dtype})" if isinstance(out, torch.Tensor) else _kind(out)
    report.add(False, say(en=f"{name} returned {shown}", ja=f"{name} が {shown} を返しました"),
               say(en=f"return a float tensor of the same shape as logits, {tuple(logits.shape)}",
                   ja=f"logits と同じ形 {tuple(logits.shape)} の浮動小数点テンソルを返します"))
    return False


# ---------------------------------------------------------------- lesson 06: streaming and speed


def check_streamed_chunks(my_chunks: Any, full_text: str) -> Report:
    """Lesson 06: ``my_chunks`` from a TextIteratorStreamer came in pieces and join to ``full_text`` (no prompt).

    >>> check_streamed_chunks([", green", ", yellow"], ", green, yellow").passed
    True
    """
    report = Report(say(en="Streamed chunks", ja="ストリーミングのチャンク"))
    with _guard(report):
        # a streamer itself is never iterated here: a second pass over it would wait forever
        if not _is_text_list(report, my_chunks, "my_chunks", None, _chunks_type_hint(my_chunks)):
            return report
        if not _is_text(report, full_text, "full_text"):
            return report
        count, joined = len(my_chunks), "".join(my_chunks)
        report.add(count > 1, say(en=f"arrived in {count} chunks", ja=f"{count} 個のチャンクに分かれて届きました")
                   if count > 1 else say(en=f"arrived in only {count} chunk{'s' * (count == 0)}",
                                         ja=f"チャンクが {count} 個しかありません"),
                   say(en="start generate(..., streamer=streamer) in a Thread, then collect while it runs: "
                          "my_chunks = [chunk for chunk in streamer]",
                       ja="generate(..., streamer=streamer) を Thread で開始し、その間に集めます: "
                          "my_chunks = [chunk for chunk in streamer]"))
        same = joined == full_text
        report.add(same, say(en="joined, they are the new text", ja="つなげると新しいテキストになります") if same else
                   say(en=f"joined, they are {joined!r}, not the new text {full_text!r}",
                       ja=f"つなげると {joined!r} で、新しいテキスト {full_text!r} ではありません"),
                   _joined_hint(joined, full_text))
    return report


def _chunks_type_hint(value: Any) -> str:
    """The streamer object itself, or another type."""
    if type(value).__name__.endswith("Streamer"):
        return say(en="collect the chunks into a list while generate runs: my_chunks = [chunk for chunk in streamer]",
                   ja="generate の実行中にチャンクをリストに集めます: my_chunks = [chunk for chunk in streamer]")
    return say(en="a list of the strings the streamer yielded", ja="ストリーマーが返した文字列のリストを渡します")


def _joined_hint(joined: str, full_text: str) -> str:
    """Special tokens kept, the prompt included, or a different generation."""
    hints = []
    cleaned = joined if SPECIAL_TOKEN.search(full_text) else SPECIAL_TOKEN.sub("", joined)
    if cleaned != joined:
        hints.append(say(en="TextIteratorStreamer(tokenizer, skip_special_tokens=True) leaves out special tokens",
                         ja="TextIteratorStreamer(tokenizer, skip_special_tokens=True) で特殊トークンを除きます"))
    if cleaned != full_text and cleaned.endswith(full_text):
        hints.append(say(en="the chunks start with the prompt: TextIteratorStreamer(tokenizer, skip_prompt=True)",
                         ja="チャンクがプロンプトから始まっています: TextIteratorStreamer(tokenizer, skip_prompt=True)"))
    return "; ".join(hints) or say(
        en="stream the same prompt with the same settings as full_text (do_sample=False, same max_new_tokens)",
        ja="full_text と同じプロンプト・同じ設定（do_sample=False、同じ max_new_tokens）でストリーミングします")


def check_tokens_per_second(my_rate_fn: Callable[[Any, float], Any]) -> Report:
    """Lesson 06: ``my_rate_fn(result, seconds)`` counts only really generated tokens, per second.

    >>> check_tokens_per_second(lambda result, seconds: result.generated.sum().item() / seconds).passed
    True
    """
    report = Report(say(en="Tokens per second", ja="1 秒あたりのトークン数"))
    with _guard(report):
        if not _is_function(report, my_rate_fn, "my_rate_fn"):
            return report
        result = _finished_early_result()
        count = int(result.generated.sum())
        usage = say(en="it is called as my_rate_fn(result, seconds) with a GenerationResult and a float",
                    ja="my_rate_fn(result, seconds) の形で呼ばれます。result は GenerationResult、seconds は float です")
        for seconds in (3.0, 0.5):
            ok, rate = _call(report, "my_rate_fn", my_rate_fn, (result, seconds), usage)
            if not ok:
                return report
            value, expected = _as_float(rate), count / seconds
            right = value is not None and math.isclose(value, expected, rel_tol=1e-6)
            report.add(right, say(en=f"{count} generated tokens in {seconds} s: {expected:g} tokens/s",
                                  ja=f"{seconds} 秒で {count} トークン生成: 毎秒 {expected:g} トークン") if right else
                       say(en=f"returned {_show(rate)} for {count} generated tokens in {seconds} s; expected {expected:g}",
                           ja=f"{seconds} 秒で {count} トークン生成に対して {_show(rate)} を返しました。"
                              f"正しくは {expected:g} です"),
                       _rate_hint(value, result, seconds))
    return report


def _finished_early_result() -> Any:
    """A GenerationResult of 2 rows and 6 steps; row 1 hit EOS (id 2) at step 2 and was padded after it."""
    import torch

    from .generation import GenerationResult

    prompt = torch.tensor([[5, 6, 7, 8], [2, 2, 30, 31]])  # (batch, 4), row 1 left-padded
    token_ids = torch.tensor([[10, 11, 12, 13, 14, 15], [20, 21, 2, 2, 2, 2]])  # (batch, steps)
    generated = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])  # the EOS counts, the padding after it doesn't
    return GenerationResult(
        prompts=["1, 2, 3", "Hi"], texts=[", 4, 5, 6", " there!"], sequences=torch.cat([prompt, token_ids], 1),
        prompt_length=4, token_ids=token_ids, generated=generated, raw=None, processed=None,
        settings={"max_new_tokens": 6, "do_sample": False}, tokenizer=None, outputs=None)


def _rate_hint(value: float | None, result: Any, seconds: float) -> str:
    """Padding counted, prompt counted, seconds per token, one row only, or not a number."""
    if value is None:
        return say(en="return a number: result.generated.sum().item() / seconds",
                   ja="数値を返します: result.generated.sum().item() / seconds")

    def rate_of(count: float) -> bool:
        return math.isclose(value, count / seconds, rel_tol=1e-6)

    generated, with_padding = int(result.generated.sum()), result.token_ids.numel()
    prompt = result.sequences[:, :result.prompt_length]
    if rate_of(with_padding):
        return say(en="the padding after EOS was counted: count only result.generated (True where a token was "
                      "really generated)",
                   ja="EOS の後のパディングまで数えています。result.generated（本当に生成した位置が True）だけを数えます")
    if any(rate_of(new + read) for new in (generated, with_padding) for read in (prompt.numel(), int((prompt != 2).sum()))):
        return say(en="the prompt tokens were read, not generated: count only result.generated",
                   ja="プロンプトのトークンは読んだだけで生成していません。result.generated だけを数えます")
    if math.isclose(value, seconds / generated, rel_tol=1e-6):
        return say(en="that is seconds per token: divide the tokens by the seconds",
                   ja="それは 1 トークンあたりの秒数です。トークン数を秒数で割ります")
    if rate_of(result.steps) or rate_of(int(result.generated[0].sum())):
        return say(en="count the tokens of every row of the batch: result.generated.sum()",
                   ja="バッチのすべての行のトークンを数えます: result.generated.sum()")
    return say(en="result.generated.sum().item() / seconds", ja="result.generated.sum().item() / seconds とします")


# ---------------------------------------------------------------- shared helpers


@contextlib.contextmanager
def _guard(report: Report) -> Iterator[None]:
    """Turn an unexpected error inside a check into a failed line instead of a traceback."""
    try:
        yield
    except Exception as error:  # a check must never raise on a learner's answer
        report.add(False, say(en=f"the check could not finish: {_error_text(error)}",
                              ja=f"チェックを最後まで実行できませんでした: {_error_text(error)}"),
                   say(en="look at the values passed to the check; if they look right, rerun the lesson from the top",
                       ja="チェックに渡した値を確かめます。正しく見えるなら、レッスンを最初から実行し直します"))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep transformers' warnings about the check's own generate calls out of the lesson's output."""
    import warnings

    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)


def _is_function(report: Report, value: Any, name: str) -> bool:
    """Something callable; otherwise add a failed line."""
    if callable(value):
        return True
    report.add(False, say(en=f"{name} is {_kind(value)}, not a function", ja=f"{name} は {_kind(value)}で、関数ではありません"),
               say(en=f"pass the function itself, without calling it: {name}, not {name}(...)",
                   ja=f"関数そのものを呼び出さずに渡します: {name}(...) ではなく {name}"))
    return False


def _call(report: Report, name: str, function: Callable, args: tuple, usage: str) -> tuple[bool, Any]:
    """Call the learner's function; if it raises, add a failed line and return (False, None)."""
    try:
        return True, function(*args)
    except Exception as error:
        report.add(False, say(en=f"{name} raised {_error_text(error)}", ja=f"{name} でエラーが出ました: {_error_text(error)}"),
                   usage)
        return False, None


def _is_model(report: Report, value: Any, name: str) -> bool:
    """A torch model; a (model, tokenizer) pair from load_model gets its own hint."""
    if hasattr(value, "modules") and hasattr(value, "parameters"):
        return True
    pair = isinstance(value, tuple) and len(value) == 2 and hasattr(value[0], "modules")
    report.add(False, say(en=f"{name} is {_kind(value)}, not a model", ja=f"{name} は {_kind(value)}で、モデルではありません"),
               say(en=f"load_model returns (model, tokenizer): unpack it, {name}, tokenizer = load_model(...)",
                   ja=f"load_model は (model, tokenizer) を返します。{name}, tokenizer = load_model(...) と分けて受け取ります")
               if pair else say(en="pass the model from AutoModelForCausalLM.from_pretrained(...)",
                                ja="AutoModelForCausalLM.from_pretrained(...) で読み込んだモデルを渡します"))
    return False


def _is_tokenizer(report: Report, value: Any, name: str) -> bool:
    """A transformers tokenizer; a (model, tokenizer) pair gets its own hint."""
    if callable(value) and hasattr(value, "padding_side"):
        return True
    pair = isinstance(value, tuple) and len(value) == 2 and hasattr(value[1], "padding_side")
    report.add(False, say(en=f"{name} is {_kind(value)}, not a tokenizer",
                          ja=f"{name} は {_kind(value)}で、トークナイザーではありません"),
               say(en=f"load_model returns (model, tokenizer): model, {name} = load_model(...)",
                   ja=f"load_model は (model, tokenizer) を返します: model, {name} = load_model(...)")
               if pair else say(en='AutoTokenizer.from_pretrained(path, padding_side="left")',
                                ja='AutoTokenizer.from_pretrained(path, padding_side="left") で読み込みます'))
    return False


def _is_text(report: Report, value: Any, name: str) -> bool:
    """A str; otherwise add a failed line."""
    if isinstance(value, str):
        return True
    report.add(False, say(en=f"{name} is {_kind(value)}, not text", ja=f"{name} は {_kind(value)}で、テキストではありません"),
               say(en="decode the ids to text: tokenizer.decode(ids, skip_special_tokens=True)",
                   ja="ID をテキストにデコードします: tokenizer.decode(ids, skip_special_tokens=True)"))
    return False


def _is_text_list(report: Report, value: Any, name: str, length: int | None, hint: str = "") -> bool:
    """A list (or tuple) of str, of ``length`` items when given; otherwise add a failed line."""
    if (isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)
            and (length is None or len(value) == length)):
        return True
    count = f"{length} " if length else ""
    report.add(False, say(en=f"{name} is {_kind(value)}, not a list of {count}strings",
                          ja=f"{name} は {_kind(value)}で、{count}{'個の' if length else ''}文字列のリストではありません"),
               hint or say(en="a list with one string per row: tokenizer.batch_decode(ids, skip_special_tokens=True)",
                           ja="行ごとに 1 つの文字列のリストにします: tokenizer.batch_decode(ids, skip_special_tokens=True)"))
    return False


def _kind(value: Any) -> str:
    """How a value is named in a message: None, a list of 3, a Tensor of shape (1, 5), an int."""
    name = type(value).__name__
    if value is None:
        return "None"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return say(en=f"a {name} of shape {tuple(value.shape)}", ja=f"形 {tuple(value.shape)} の {name}")
    if isinstance(value, (list, tuple, dict)):
        return say(en=f"a {name} of {len(value)}", ja=f"要素 {len(value)} 個の {name}")
    return say(en=f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}", ja=f"{name} 型")


def _show(value: Any) -> str:
    """A learner's return value in a message: a short repr, or its kind for arrays and long values."""
    if getattr(value, "ndim", 0) > 0 or len(repr(value)) > 40:
        return _kind(value)
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _as_int(value: Any) -> int | None:
    """An int, or a one-element tensor or array turned into one; None for anything else."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    if hasattr(value, "numel") and value.numel() != 1:  # a tensor of logits, say
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return int(number) if number.is_integer() else None


def _as_float(value: Any) -> float | None:
    """A float, or a one-element tensor turned into one; None for anything else."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _pad_id(tokenizer: Any) -> int | None:
    """The pad id for generate: the tokenizer's, else its EOS."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _error_text(error: Exception) -> str:
    """``TypeError: first line of the message``, at most 160 characters."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
