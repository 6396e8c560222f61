"""A corpus of learner answers for lessons 01-06's exercise checks: mistakes fail with a hint that names them,
right answers pass; and the test that every exercise check has such a corpus somewhere in the tests.

Each WRONG row is a mistake a learner makes (found by trying the exercises as a learner
would); it must fail, and one failed line's hint (the idea, shown first) must match the
row's pattern. Each RIGHT row is a correct answer, written in another way than the
lesson's solution; it must pass. The rows use the real offline model where the check
needs one, and a tiny random model for the sampling exercise. Rows are tagged with their
check (`check_cases`); the other checks' rows live next to their lesson's tests:
lesson 00 in test_checks_setup.py, check_max_new_tokens in test_checks.py, lessons 07 and
03's loop in test_lesson07.py, 08 in test_lesson08.py, 09 in test_checks_serving.py.
"""

from __future__ import annotations

import importlib
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from check_cases import CASES, assert_fails_with, right, wrong
from transformers import BitsAndBytesConfig, TextIteratorStreamer

from llmcourse import checks, sampling
from llmcourse.checks.lesson04_batch import PADDED_BATCH
from llmcourse.i18n import set_language

QUESTION = "What is the capital of France?"
GREEDY = dict(max_new_tokens=4, do_sample=False)


CHECK_OF = {"4bit": "check_4bit_model", "8bit": "check_8bit_config", "left padding": "check_left_padding",
            "chat": "check_chat_prompt", "next token": "check_next_token_fn", "new text": "check_new_text_only",
            "sampling": "check_reproducible_sampling", "padded batch": "check_padded_batch",
            "top-p": "check_top_p_filter", "temperature": "check_temperature", "chunks": "check_streamed_chunks",
            "rate": "check_tokens_per_second"}  # a row's name starts with its check's short name


def mistake(name, run, pattern):
    """A wrong answer: ``run(learner_kit)`` returns the check's report, which must fail with a hint matching ``pattern``."""
    return wrong(CHECK_OF[name.split(":")[0]], name, run, pattern)


def answer(name, run):
    """A right answer: ``run(learner_kit)`` returns the check's report, which must pass."""
    return right(CHECK_OF[name.split(":")[0]], name, run)


def messages(role="user", content=QUESTION):
    return [{"role": role, "content": content}]


def template(k, chat=None, **kwargs):
    return k.tokenizer.apply_chat_template(chat or messages(), **kwargs)


def right_padded(k):
    import copy

    tokenizer = copy.deepcopy(k.tokenizer)
    tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def no_pad(k):
    import copy

    tokenizer = copy.deepcopy(k.tokenizer)
    tokenizer.padding_side, tokenizer.pad_token = "left", None
    return tokenizer


# ---------------------------------------------------------------- 03: next token and new text


def sampled_token(model, input_ids):
    return int(torch.multinomial(model(input_ids).logits[0, -1].softmax(-1), 1))


def decoded_token(k):
    return lambda model, input_ids: k.tokenizer.decode([int(model(input_ids).logits[0, -1].argmax())])


def padded_run(k):
    """What a learner's my_decode is given, to build answers that slice by hand."""
    from llmcourse.checks.lesson03_generating import NEW_TEXT_PROMPTS, _left_padded_run

    return _left_padded_run(k.model, k.tokenizer, NEW_TEXT_PROMPTS)


def decode_from(k, start):
    return lambda inputs, output_ids: k.tokenizer.batch_decode(output_ids[:, start(inputs):], skip_special_tokens=True)


# ---------------------------------------------------------------- 04: sampling and the padded batch


def sampler(k, *, seed_where="before", seed=None, do_sample=True, prompt="I am a cat.", start=None,
            seed_with="torch", new_tokens=8):
    """A my_sample(seed) as a learner writes it, on the tiny model; the knobs make the mistakes.

    ``start(inputs)``: where the decoded slice starts (None: after the prompt, right).
    """
    model, tokenizer = k.tiny, k.tiny_tokenizer
    length = {} if new_tokens is None else {"max_new_tokens": new_tokens}

    def seed_it(value):  # looked up at call time, as a learner's torch.manual_seed(seed) is
        import transformers

        {"torch": torch.manual_seed, "random": random.seed, "set_seed": transformers.set_seed}[seed_with](value)

    def my_sample(s):
        inputs = tokenizer([prompt], return_tensors="pt")
        if seed_where == "before":
            seed_it(s if seed is None else seed)
        output_ids = model.generate(**inputs, do_sample=do_sample, pad_token_id=2, **length)
        if seed_where == "after":
            seed_it(s)
        first = inputs.input_ids.shape[1] if start is None else start(inputs)
        return tokenizer.decode(output_ids[0, first:], skip_special_tokens=True)

    return my_sample


def batch_check(k, answer):
    """Lesson 04's padded-batch check as the lesson calls it: the learner's function, the model, the tokenizer."""
    return C.check_padded_batch(answer, k.model, k.tokenizer)


def padded_texts(k, prompts=tuple(PADDED_BATCH), *, side="left", mask=True, start=None, shift=0, skip=True,
                 rowwise=False):
    tokenizer = k.left if side == "left" else right_padded(k)
    batch = tokenizer(list(prompts), padding=True, return_tensors="pt")
    kwargs = dict(batch) if mask else {"input_ids": batch.input_ids}
    output_ids = k.model.generate(**kwargs, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    first = batch.input_ids.shape[1] + shift if start is None else start
    if rowwise:
        return [tokenizer.decode(row[first:], skip_special_tokens=skip) for row in output_ids]
    return tokenizer.batch_decode(output_ids[:, first:], skip_special_tokens=skip)


# ---------------------------------------------------------------- 05: top-p and temperature


def top_p_sorted_not_scattered(logits, p):
    sorted_logits, _ = logits.sort(descending=True)
    probs = sorted_logits.softmax(-1)
    remove = probs.cumsum(-1) - probs >= p
    return sorted_logits.masked_fill(remove, float("-inf"))


def top_p_mask_not_scattered(logits, p):
    sorted_logits, _ = logits.sort(descending=True)
    probs = sorted_logits.softmax(-1)
    return logits.masked_fill(probs.cumsum(-1) - probs >= p, float("-inf"))


def top_p_without_shift(logits, p):
    sorted_logits, ids = logits.sort(descending=True)
    remove = sorted_logits.softmax(-1).cumsum(-1) > p  # drops the token that crosses p
    return logits.masked_fill(remove.scatter(1, ids, remove), float("-inf"))


def top_p_ascending(logits, p):
    sorted_logits, ids = logits.sort()  # least likely first: keeps the tail
    probs = sorted_logits.softmax(-1)
    remove = probs.cumsum(-1) - probs >= p
    return logits.masked_fill(remove.scatter(1, ids, remove), float("-inf"))


def top_p_large_negative(logits, p):
    return sampling.top_p_filter(logits, p).clamp(min=-1e9)


def top_p_probabilities(logits, p):
    return sampling.top_p_filter(logits, p).softmax(-1)


def top_p_renormalized(logits, p):
    return sampling.top_p_filter(logits, p).log_softmax(-1)


def top_p_threshold(logits, p):
    return logits.masked_fill(logits.softmax(-1) < 1 - p, float("-inf"))  # a threshold on each probability


def top_p_zero(logits, p):
    sorted_logits, ids = logits.sort(descending=True)
    probs = sorted_logits.softmax(-1)
    remove = probs.cumsum(-1) - probs >= p
    return logits.masked_fill(remove.scatter(1, ids, remove), 0.0)  # "removed" with a 0


def top_p_gathered(logits, p):
    sorted_logits, ids = logits.sort(descending=True)
    probs = sorted_logits.softmax(-1)
    remove = probs.cumsum(-1) - probs >= p
    return logits.masked_fill(remove.gather(1, ids), float("-inf"))  # gather does not put it back


def top_p_written_out(logits, p):
    """Right: a loop over rows, the way the lesson explains it."""
    out = torch.full_like(logits, float("-inf"))
    for row in range(logits.shape[0]):
        probs = logits[row].softmax(-1)
        total = 0.0
        for token in probs.argsort(descending=True).tolist():
            out[row, token] = logits[row, token]
            total += float(probs[token])
            if total >= p:
                break
    return out


def top_p_scattered(logits, p):
    """Right: sort descending, shift by one, scatter back."""
    sorted_logits, ids = torch.sort(logits, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    remove_sorted = probs.cumsum(-1) - probs >= p
    remove = torch.zeros_like(remove_sorted).scatter(1, ids, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


# ---------------------------------------------------------------- 06: chunks and tokens per second


def chunks_check(k, answer):
    """Lesson 06's streaming check as the lesson calls it: the learner's function, the model, the tokenizer."""
    return C.check_streamed_chunks(answer, k.model, k.tokenizer)


def streamer_fn(k, *, skip_prompt=True, skip_special_tokens=True, new_tokens=8, do_sample=False, chat=False,
                shape=list):
    """A my_stream_chunks(prompt) as a learner writes it (a TextIteratorStreamer, generate in a Thread); the knobs
    make the mistakes. ``shape(chunks, streamer)`` is what it returns."""
    from threading import Thread

    def my_stream_chunks(prompt):
        if chat:
            prompt = k.tokenizer.apply_chat_template(messages(content=prompt), tokenize=False,
                                                     add_generation_prompt=True)
        inputs = k.tokenizer(prompt, return_tensors="pt")
        streamer = TextIteratorStreamer(k.tokenizer, skip_prompt=skip_prompt, skip_special_tokens=skip_special_tokens)
        thread = Thread(target=k.model.generate, kwargs=dict(**inputs, max_new_tokens=new_tokens, do_sample=do_sample,
                                                               streamer=streamer))
        thread.start()
        if shape == "streamer":
            thread.join()
            return streamer
        chunks = [chunk for chunk in streamer]
        thread.join()
        return shape(chunks)

    return my_stream_chunks


def kept_pieces(k):
    """Right, without a Thread: a TextStreamer whose on_finalized_text keeps each piece, generate run directly."""
    from transformers import TextStreamer

    class Keep(TextStreamer):
        def __init__(self, tokenizer):
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self.pieces = []

        def on_finalized_text(self, text, stream_end=False):
            self.pieces.append(text)

    def my_stream_chunks(prompt):
        keep = Keep(k.tokenizer)
        k.model.generate(**k.tokenizer(prompt, return_tensors="pt"), max_new_tokens=8, do_sample=False, streamer=keep)
        return keep.pieces

    return my_stream_chunks


def seeded(run):
    """A row whose answer samples: seeded first, so that the test gives the same report every run."""
    def seeded_run(k):
        torch.manual_seed(0)
        return run(k)

    return seeded_run


LESSON_CHUNKS = ["", ", ", "and green", "\n", "\n", "The", " user", " will", ""]  # the lesson's pieces, typed in


# ---------------------------------------------------------------- 02: the chat prompt


def chat_fn(k, role="user", system=None, content=lambda question: question, **options):
    """A my_chat_prompt(question) as a learner writes it with apply_chat_template; the knobs make the mistakes."""
    def my_chat_prompt(question):
        chat = ([{"role": "system", "content": system}] if system else []) + messages(role, content(question))
        return template(k, chat, **options)

    return my_chat_prompt


def json_chat_prompt(k):
    """A mistake: the messages written as JSON text around the question, which its quotes and newline break."""
    import json

    return lambda question: template(k, json.loads(f'[{{"role": "user", "content": "{question}"}}]'), tokenize=False,
                                     add_generation_prompt=True)


def chat_check(k, answer):
    """Lesson 02's chat check as the lesson calls it: the learner's function and the tokenizer."""
    return C.check_chat_prompt(answer, k.tokenizer)


PROMPT_TEXT = dict(tokenize=False, add_generation_prompt=True)


C = checks
WRONG = [
    # ---- 01: 4-bit model (a tiny model saved and quantized, see the four_bit_tiny fixture)
    mistake("4bit: not quantized", lambda k: C.check_4bit_model(k.tiny), "not quantized"),
    mistake("4bit: the (model, tokenizer) pair", lambda k: C.check_4bit_model((k.tiny, k.tiny_tokenizer)),
         "load_model returns"),
    mistake("4bit: 8-bit instead", lambda k: C.check_4bit_model(k.quantized(load_in_8bit=True)), "is 8-bit"),
    mistake("4bit: fp4, the default type", lambda k: C.check_4bit_model(k.quantized(bnb_4bit_quant_type="fp4")),
         'default 4-bit type is "fp4"'),
    mistake("4bit: no double quantization",
         lambda k: C.check_4bit_model(k.quantized(bnb_4bit_use_double_quant=False)), "per-block scales"),
    mistake("4bit: float32 matmuls",
         lambda k: C.check_4bit_model(k.quantized(bnb_4bit_compute_dtype=torch.float32)), "compute type"),
    mistake("4bit: embeddings left in float32", lambda k: C.check_4bit_model(k.quantized(dtype=torch.float32)),
         "embeddings and norms stay float32"),
    # ---- 01: 8-bit config
    mistake("8bit: the removed keyword, as a dict", lambda k: C.check_8bit_config({"load_in_8bit": True}),
         "removed the load_in_8bit keyword of from_pretrained"),
    mistake("8bit: load_model's shortcut", lambda k: C.check_8bit_config("8bit"), "load_model's shortcut"),
    mistake("8bit: a 4-bit config", lambda k: C.check_8bit_config(BitsAndBytesConfig(load_in_4bit=True)),
         "4-bit config"),
    mistake("8bit: an empty config", lambda k: C.check_8bit_config(BitsAndBytesConfig()), "asks for nothing"),
    mistake("8bit: the class, not called", lambda k: C.check_8bit_config(BitsAndBytesConfig), "class itself"),
    mistake("8bit: the model instead of its config", lambda k: C.check_8bit_config(k.tiny), "this is a model"),
    mistake("8bit: the placeholder", lambda k: C.check_8bit_config(None), "config object"),
    mistake("8bit: from_pretrained's keyword dict", lambda k: C.check_8bit_config(
        {"quantization_config": BitsAndBytesConfig(load_in_8bit=True)}), "keyword dict for from_pretrained"),
    # ---- 02: left padding
    mistake("left padding: as shipped (right, no pad)", lambda k: C.check_left_padding(k.tokenizer), "pads on the right"),
    mistake("left padding: pad token but right side", lambda k: C.check_left_padding(right_padded(k)),
         "pads on the right"),
    mistake("left padding: left but no pad token", lambda k: C.check_left_padding(no_pad(k)), "no token to pad with"),
    mistake("left padding: the (model, tokenizer) pair", lambda k: C.check_left_padding((k.model, k.left)),
         "load_model returns"),
    mistake("left padding: the model", lambda k: C.check_left_padding(k.model), "this is the model"),
    mistake("left padding: the class, not loaded", lambda k: C.check_left_padding(type(k.left)), "this is the class"),
    # ---- 02: chat prompt (a function, run on questions it has not seen: issue 26)
    mistake("chat: the question alone", lambda k: chat_check(k, lambda question: question), "question alone"),
    mistake("chat: no generation prompt", lambda k: chat_check(k, chat_fn(k, tokenize=False)), "must end with"),
    mistake("chat: a system turn", lambda k: chat_check(k, chat_fn(k, "system", **PROMPT_TEXT)), '"system" turn'),
    mistake("chat: an assistant turn", lambda k: chat_check(k, chat_fn(k, "assistant", **PROMPT_TEXT)),
            '"assistant" turn'),
    mistake("chat: token ids (tokenize left on)", lambda k: chat_check(
        k, chat_fn(k, add_generation_prompt=True, return_dict=False)), "these are token ids"),
    mistake("chat: the messages, not the text", lambda k: chat_check(k, lambda question: messages(content=question)),
            "these are the chat messages"),
    mistake("chat: the lesson's prompt typed in", lambda k: chat_check(
        k, lambda question: template(k, **PROMPT_TEXT)), "not from the lesson's question"),
    mistake("chat: the question's lines joined", lambda k: chat_check(
        k, chat_fn(k, content=lambda question: " ".join(question.split()), **PROMPT_TEXT)), "newlines and spaces"),
    mistake("chat: the messages written as JSON text", lambda k: chat_check(k, json_chat_prompt(k)),
            r"my_chat_prompt\(question\) with the question"),
    mistake("chat: the prompt, not a function", lambda k: chat_check(k, template(k, **PROMPT_TEXT)),
            "pass the function itself"),
    # ---- 03: greedy next token
    mistake("next token: sampled with multinomial",
         lambda k: C.check_next_token_fn(sampled_token, k.model, k.tokenizer), "samples"),
    mistake("next token: the first position",
         lambda k: C.check_next_token_fn(lambda m, ids: int(m(ids).logits[0, 0].argmax()), k.model, k.tokenizer),
         "first position"),
    mistake("next token: the logits", lambda k: C.check_next_token_fn(lambda m, ids: m(ids).logits[0, -1], k.model,
                                                                   k.tokenizer), "one token id"),
    mistake("next token: the token's text",
         lambda k: C.check_next_token_fn(decoded_token(k), k.model, k.tokenizer), "token's text"),
    mistake("next token: argmax over all positions",
         lambda k: C.check_next_token_fn(lambda m, ids: int(m(ids).logits[0].argmax()), k.model, k.tokenizer),
         "over all positions"),
    mistake("next token: the largest logit's value",
         lambda k: C.check_next_token_fn(lambda m, ids: float(m(ids).logits[0, -1].max()), k.model, k.tokenizer),
         r"value \(max\)"),
    mistake("next token: argmin",
         lambda k: C.check_next_token_fn(lambda m, ids: int(m(ids).logits[0, -1].argmin()), k.model, k.tokenizer),
         "least likely"),
    mistake("next token: one position early",
            lambda k: C.check_next_token_fn(lambda m, ids: int(m(ids).logits[0, -2].argmax()), k.model, k.tokenizer),
            "off by one"),
    mistake("next token: the top probability", lambda k: C.check_next_token_fn(
        lambda m, ids: m(ids).logits[0, -1].softmax(-1).max(), k.model, k.tokenizer), r"value \(max\)"),
    mistake("next token: generate's first id", lambda k: C.check_next_token_fn(
        lambda m, ids: m.generate(ids, max_new_tokens=1, do_sample=False)[0, 0], k.model, k.tokenizer),
        "that token is in the prompt"),
    # ---- 03: new text only
    mistake("new text: prompt and all", lambda k: C.check_new_text_only(
        lambda inputs, output_ids: k.tokenizer.batch_decode(output_ids, skip_special_tokens=True), k.model,
        k.tokenizer), "each prompt followed by its new tokens"),
    mistake("new text: special tokens kept", lambda k: C.check_new_text_only(
        lambda inputs, output_ids: k.tokenizer.batch_decode(output_ids[:, inputs["input_ids"].shape[1]:]),
        k.model, k.tokenizer), "special tokens"),
    mistake("new text: each row's own length", lambda k: C.check_new_text_only(
        lambda inputs, output_ids: [k.tokenizer.decode(row[int(mask.sum()):], skip_special_tokens=True)
                                    for row, mask in zip(output_ids, inputs["attention_mask"], strict=True)],
        k.model, k.tokenizer), "start at the same index"),
    mistake("new text: the first row only", lambda k: C.check_new_text_only(
        lambda inputs, output_ids: k.tokenizer.decode(output_ids[0, inputs["input_ids"].shape[1]:],
                                                      skip_special_tokens=True), k.model, k.tokenizer),
        "this is one string"),
    mistake("new text: the ids, not decoded", lambda k: C.check_new_text_only(
        lambda inputs, output_ids: output_ids[:, inputs["input_ids"].shape[1]:], k.model, k.tokenizer),
        "these are token ids"),
    mistake("new text: the last token dropped", lambda k: C.check_new_text_only(
        lambda inputs, output_ids: k.tokenizer.batch_decode(output_ids[:, inputs["input_ids"].shape[1]:-2],
                                                            skip_special_tokens=True), k.model, k.tokenizer),
        "cut short"),
    mistake("new text: one token too far", lambda k: C.check_new_text_only(
        lambda inputs, output_ids: k.tokenizer.batch_decode(output_ids[:, inputs["input_ids"].shape[1] + 1:],
                                                            skip_special_tokens=True), k.model, k.tokenizer),
        "misses its start"),
    mistake("new text: sliced at the number of rows", lambda k: C.check_new_text_only(
        decode_from(k, lambda inputs: len(inputs["input_ids"])), k.model, k.tokenizer), "the number of rows"),
    # ---- 04: reproducible sampling
    mistake("sampling: greedy", lambda k: C.check_reproducible_sampling(sampler(k, do_sample=False)),
         "without do_sample=True"),
    mistake("sampling: seed set outside the function",
         lambda k: C.check_reproducible_sampling(sampler(k, seed_where="nowhere")), "inside the function"),
    mistake("sampling: seed set after generate",
         lambda k: C.check_reproducible_sampling(sampler(k, seed_where="after")), "after generate"),
    mistake("sampling: a fixed seed", lambda k: C.check_reproducible_sampling(sampler(k, seed=42)),
         "never reached torch's generator"),
    mistake("sampling: Python's random.seed", lambda k: C.check_reproducible_sampling(sampler(k, seed_with="random")),
         "random.seed and numpy's seed"),
    mistake("sampling: prompt + text", lambda k: C.check_reproducible_sampling(sampler(k, start=lambda inputs: 0)),
         "prompt followed by the new tokens"),
    mistake("sampling: sliced at len(inputs)", lambda k: C.check_reproducible_sampling(
        sampler(k, start=lambda inputs: len(inputs))), r"len\(inputs\) counts its keys"),
    mistake("sampling: one token early", lambda k: C.check_reproducible_sampling(
        sampler(k, start=lambda inputs: inputs.input_ids.shape[1] - 1)), "start at the prompt's length"),
    mistake("sampling: no max_new_tokens", lambda k: C.check_reproducible_sampling(sampler(k, new_tokens=None)),
            "say so with max_new_tokens"),
    mistake("sampling: a list, not text", lambda k: C.check_reproducible_sampling(lambda seed: [sampler(k)(seed)]),
         "a list holding 1 text .batch_decode returns one per row.: return the text itself"),
    # ---- 04: padded batch (a function, run on batches it has not seen: issue 26)
    mistake("padded batch: left padding without the attention mask",
            lambda k: batch_check(k, lambda prompts: padded_texts(k, prompts, mask=False)), "without its attention mask"),
    mistake("padded batch: right padding", lambda k: batch_check(k, lambda prompts: padded_texts(k, prompts, side="right")),
            "padded on the right"),
    mistake("padded batch: the prompts decoded too",
            lambda k: batch_check(k, lambda prompts: padded_texts(k, prompts, start=0)), "include their prompts"),
    mistake("padded batch: one token early", lambda k: batch_check(k, lambda prompts: padded_texts(k, prompts, shift=-1)),
            "one left-padded batch with its mask"),
    mistake("padded batch: special tokens kept",
            lambda k: batch_check(k, lambda prompts: padded_texts(k, prompts, start=0, skip=False)), "skip special tokens"),
    mistake("padded batch: one string", lambda k: batch_check(k, lambda prompts: " ".join(padded_texts(k, prompts))),
            "one text per prompt"),
    mistake("padded batch: rows swapped", lambda k: batch_check(k, lambda prompts: padded_texts(k, prompts)[::-1]),
            "one new text per row"),
    mistake("padded batch: the lesson's texts typed in",
            lambda k: batch_check(k, lambda prompts: [" Wednesday, and Thursday) to", ", H, I, J"]),
            "texts of the lesson's batch, for other prompts"),
    mistake("padded batch: the texts, not a function", lambda k: batch_check(k, padded_texts(k)), "pass the function"),
    # ---- 05: top-p
    mistake("top-p: sorted logits, not scattered back", lambda k: C.check_top_p_filter(top_p_sorted_not_scattered),
         "still in sorted order"),
    mistake("top-p: sorted mask on unsorted logits", lambda k: C.check_top_p_filter(top_p_mask_not_scattered),
         "still in sorted order"),
    mistake("top-p: drops the token that crosses p", lambda k: C.check_top_p_filter(top_p_without_shift),
         "carries the total past p"),
    mistake("top-p: ascending sort", lambda k: C.check_top_p_filter(top_p_ascending), "most likely token was removed"),
    mistake("top-p: -1e9 instead of -inf", lambda k: C.check_top_p_filter(top_p_large_negative), "large negative"),
    mistake("top-p: probabilities", lambda k: C.check_top_p_filter(top_p_probabilities), "returns probabilities"),
    mistake("top-p: renormalized", lambda k: C.check_top_p_filter(top_p_renormalized), "kept logits were changed"),
    mistake("top-p: 0 instead of -inf", lambda k: C.check_top_p_filter(top_p_zero), "were set to 0"),
    mistake("top-p: gather instead of scatter", lambda k: C.check_top_p_filter(top_p_gathered),
            "gather with the sorted ids"),
    mistake("top-p: a threshold on each probability", lambda k: C.check_top_p_filter(top_p_threshold),
         "too many tokens|most likely token|carries the total"),
    # ---- 05: temperature
    mistake("temperature: multiplied", lambda k: C.check_temperature(lambda logits, t: logits * t), "multiplies"),
    mistake("temperature: probabilities", lambda k: C.check_temperature(lambda logits, t: (logits / t).softmax(-1)),
         "returns probabilities"),
    mistake("temperature: arguments swapped", lambda k: C.check_temperature(lambda logits, t: t / logits),
         "divides t by the logits"),
    mistake("temperature: shifted", lambda k: C.check_temperature(lambda logits, t: logits - t), "shifts"),
    mistake("temperature: floor division", lambda k: C.check_temperature(lambda logits, t: logits // t), "rounds"),
    mistake("temperature: unchanged", lambda k: C.check_temperature(lambda logits, t: logits), "unchanged"),
    mistake("temperature: squared", lambda k: C.check_temperature(lambda logits, t: logits / t**2), "divide every logit"),
    mistake("temperature: log-probabilities", lambda k: C.check_temperature(
        lambda logits, t: torch.log_softmax(logits / t, dim=-1)), "returns log-probabilities"),
    # ---- 06: streamed chunks (a function, run on prompts it has not seen: issue 26)
    mistake("chunks: the streamer itself", lambda k: chunks_check(k, streamer_fn(k, shape="streamer")),
            "the streamer itself"),
    mistake("chunks: joined into one string", lambda k: chunks_check(k, streamer_fn(k, shape="".join)),
            "already joined"),
    mistake("chunks: one chunk (generate finished first)",
            lambda k: chunks_check(k, streamer_fn(k, shape=lambda chunks: ["".join(chunks)])), "as one chunk"),
    mistake("chunks: the prompt streamed too", lambda k: chunks_check(k, streamer_fn(k, skip_prompt=False)),
            "start with the prompt"),
    mistake("chunks: special tokens kept", lambda k: chunks_check(k, streamer_fn(k, skip_special_tokens=False)),
            "special tokens such as"),
    mistake("chunks: sampled, not greedy", seeded(lambda k: chunks_check(k, streamer_fn(k, do_sample=True))),
            "that is sampling"),
    mistake("chunks: 16 new tokens", lambda k: chunks_check(k, streamer_fn(k, new_tokens=16)), "runs on"),
    mistake("chunks: the lesson's chunks typed in", lambda k: chunks_check(k, lambda prompt: LESSON_CHUNKS),
            "chunks of the lesson's prompt"),
    mistake("chunks: the prompt put in a chat template", lambda k: chunks_check(k, streamer_fn(k, chat=True)),
            "another generation"),
    mistake("chunks: the chunks, not a function", lambda k: chunks_check(k, LESSON_CHUNKS), "pass the function"),
    # ---- 06: tokens per second
    mistake("rate: padding counted", lambda k: C.check_tokens_per_second(lambda r, s: r.token_ids.numel() / s),
         "padding after EOS"),
    mistake("rate: prompt counted", lambda k: C.check_tokens_per_second(lambda r, s: r.sequences.numel() / s),
         "prompt tokens were read"),
    mistake("rate: seconds per token",
         lambda k: C.check_tokens_per_second(lambda r, s: s / r.token_mask.sum().item()), "seconds per token"),
    mistake("rate: one row", lambda k: C.check_tokens_per_second(lambda r, s: len(r.token_texts(0)) / s), "one row"),
    mistake("rate: EOS left out", lambda k: C.check_tokens_per_second(
        lambda r, s: (r.token_ids != r.tokenizer.eos_token_id).sum().item() / s), "EOS token was left out"),
    mistake("rate: not divided", lambda k: C.check_tokens_per_second(lambda r, s: r.token_mask.sum().item()),
            "not per second"),
    mistake("rate: the steps", lambda k: C.check_tokens_per_second(lambda r, s: r.steps / s), "one row"),
    mistake("rate: words of the text",
         lambda k: C.check_tokens_per_second(lambda r, s: len(" ".join(r.texts).split()) / s), "characters or words"),
    mistake("rate: text, not a number",
         lambda k: C.check_tokens_per_second(lambda r, s: f"{r.token_mask.sum().item() / s:.1f} tokens/s"),
         "return a number"),
]

RIGHT = [
    answer("4bit: the lesson's config", lambda k: C.check_4bit_model(k.quantized())),
    answer("4bit: the config as a dict of keywords", lambda k: C.check_4bit_model(k.quantized(as_dict=True))),
    answer("8bit: keyword", lambda k: C.check_8bit_config(BitsAndBytesConfig(load_in_8bit=True))),
    answer("8bit: with a threshold", lambda k: C.check_8bit_config(
        BitsAndBytesConfig(**{"load_in_8bit": True, "llm_int8_threshold": 6.0}))),
    answer("left padding: attributes set", lambda k: C.check_left_padding(k.left)),
    answer("left padding: loaded so", lambda k: C.check_left_padding(k.loaded_left)),
    answer("chat: apply_chat_template", lambda k: chat_check(k, chat_fn(k, **PROMPT_TEXT))),
    answer("chat: with a system message first", lambda k: chat_check(k, chat_fn(k, system="Answer briefly.",
                                                                                 **PROMPT_TEXT))),
    answer("chat: the turns written out", lambda k: chat_check(
        k, lambda question: f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n")),
    answer("next token: argmax of the last logits",
         lambda k: C.check_next_token_fn(lambda m, ids: int(m(ids).logits[0, -1].argmax()), k.model, k.tokenizer)),
    answer("next token: generate one token", lambda k: C.check_next_token_fn(
        lambda m, ids: m.generate(ids, max_new_tokens=1, do_sample=False)[0, -1], k.model, k.tokenizer)),
    answer("next token: softmax then argmax, a tensor", lambda k: C.check_next_token_fn(
        lambda m, ids: m(input_ids=ids).logits[:, -1, :].softmax(-1).argmax(-1), k.model, k.tokenizer)),
    answer("new text: batch_decode of the slice", lambda k: C.check_new_text_only(
        decode_from(k, lambda inputs: inputs["input_ids"].shape[1]), k.model, k.tokenizer)),
    answer("new text: decode row by row", lambda k: C.check_new_text_only(
        lambda inputs, output_ids: [k.tokenizer.decode(row[inputs.input_ids.shape[-1]:], skip_special_tokens=True)
                                    for row in output_ids], k.model, k.tokenizer)),
    answer("sampling: torch.manual_seed", lambda k: C.check_reproducible_sampling(sampler(k))),
    answer("sampling: transformers.set_seed", lambda k: C.check_reproducible_sampling(
        sampler(k, seed_with="set_seed"))),
    answer("padded batch: the lesson's way", lambda k: batch_check(k, lambda prompts: padded_texts(k, prompts))),
    answer("padded batch: row by row", lambda k: batch_check(k, lambda prompts: padded_texts(k, prompts, rowwise=True))),
    answer("top-p: the course's filter", lambda k: C.check_top_p_filter(sampling.top_p_filter)),
    answer("top-p: sort, shift, scatter", lambda k: C.check_top_p_filter(top_p_scattered)),
    answer("top-p: written out", lambda k: C.check_top_p_filter(top_p_written_out)),
    answer("temperature: divide", lambda k: C.check_temperature(lambda logits, t: logits / t)),
    answer("temperature: torch.div", lambda k: C.check_temperature(torch.div)),
    answer("temperature: transformers' warper", lambda k: C.check_temperature(
        lambda logits, t: __import__("transformers").TemperatureLogitsWarper(t)(None, logits))),
    answer("chunks: streamed in a Thread", lambda k: chunks_check(k, streamer_fn(k))),
    answer("chunks: a tuple", lambda k: chunks_check(k, streamer_fn(k, shape=tuple))),
    answer("chunks: empty pieces left out", lambda k: chunks_check(
        k, streamer_fn(k, shape=lambda chunks: [chunk for chunk in chunks if chunk]))),
    answer("chunks: a TextStreamer that keeps its pieces", lambda k: chunks_check(k, kept_pieces(k))),
    answer("rate: token_mask", lambda k: C.check_tokens_per_second(lambda r, s: r.token_mask.sum().item() / s)),
    answer("rate: result.token_texts of every row", lambda k: C.check_tokens_per_second(
        lambda r, s: sum(len(r.token_texts(row)) for row in range(len(r.texts))) / s)),
    answer("rate: a tensor", lambda k: C.check_tokens_per_second(lambda r, s: r.token_mask.sum() / s)),
]


@pytest.fixture(scope="module")
def learner_kit(offline_model, tiny_model, tiny_tokenizer, tmp_path_factory):
    """What a learner has at hand: the model, its tokenizer, a left-padding copy, a tokenizer loaded with
    padding_side="left", a tiny model to sample from, and a 4-bit version of a tiny model."""
    import copy

    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from llmcourse.offline import checkpoint_dir

    # embeddings about a fifth of the weights, as in the course's models: left in float32 they show in the footprint
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny")
    LlamaForCausalLM(LlamaConfig(vocab_size=384, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                                 bos_token_id=1, eos_token_id=2, pad_token_id=2)).save_pretrained(folder)

    def quantized(as_dict=False, dtype=torch.bfloat16, **settings):
        config = dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                      bnb_4bit_compute_dtype=torch.bfloat16)
        config = {key: value for key, value in {**config, **settings}.items()
                  if not (settings.get("load_in_8bit") and key.startswith(("load_in_4", "bnb_4bit")))}
        quantization = BitsAndBytesConfig(**config) if not as_dict else BitsAndBytesConfig.from_dict(config)
        return AutoModelForCausalLM.from_pretrained(folder, quantization_config=quantization, dtype=dtype)

    model, tokenizer = offline_model
    left = copy.deepcopy(tokenizer)
    left.padding_side, left.pad_token = "left", left.eos_token
    loaded_left = AutoTokenizer.from_pretrained(checkpoint_dir(), padding_side="left")
    loaded_left.pad_token = loaded_left.eos_token
    return SimpleNamespace(model=model, tokenizer=tokenizer, left=left, loaded_left=loaded_left, tiny=tiny_model,
                           tiny_tokenizer=tiny_tokenizer, quantized=quantized)


@pytest.mark.parametrize("run, pattern", WRONG)
def test_a_mistake_fails_with_a_hint_that_names_it(run, pattern, learner_kit):
    report = run(learner_kit)
    assert_fails_with(report, pattern)


@pytest.mark.parametrize("run", RIGHT)
def test_a_right_answer_passes(run, learner_kit):
    report = run(learner_kit)
    assert report.passed, report


def test_every_exercise_check_has_five_mistakes_and_two_right_answers():
    """Every check of llmcourse.checks.__all__, counted over every test module that tags its cases (check_cases)."""
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        if "from check_cases import" in path.read_text():
            importlib.import_module(path.stem)  # its parametrize lists tag their cases on import
    exported = [name for name in checks.__all__ if name.startswith("check_")]
    counts = {name: (len(CASES[name].wrong), len(CASES[name].right)) for name in exported}
    short = {name: count for name, count in counts.items() if count[0] < 5 or count[1] < 2}
    assert not short, f"(mistakes, right answers) below (5, 2): {short}"
    assert len(exported) >= 23  # lessons 00-09


# ---------------------------------------------------------------- graded hints


def test_the_first_failure_explains_and_hint_2_gives_the_code():
    wrong = lambda logits, t: logits * t  # noqa: E731
    first = repr(checks.check_temperature(wrong))
    assert "multiplies the logits by t" in first and "logits / t" not in first
    assert "to see the line of code: check_temperature(..., hint=2)" in first
    asked = repr(checks.check_temperature(lambda logits, t: logits * t, hint=2))
    assert "multiplies the logits by t" in asked and "; logits / t" in asked and "hint=2" not in asked


def test_a_second_failing_call_still_hides_the_code_until_asked():
    """Issue 26, rule 3: graded hints reveal more only on request, however often the same check fails."""
    check = checks.check_8bit_config
    for _ in range(3):
        assert "BitsAndBytesConfig(load_in_8bit=True)" not in repr(check(BitsAndBytesConfig()))
    assert "my_config = BitsAndBytesConfig(load_in_8bit=True)" in repr(check(BitsAndBytesConfig(), hint=2))
    assert check(BitsAndBytesConfig(load_in_8bit=True)).passed


def test_the_placeholder_does_not_count_as_a_first_try():
    check = checks.check_temperature
    check(lambda logits, t: logits / t)
    check(None)  # the learner copy's placeholder
    assert "; logits / t" not in repr(check(lambda logits, t: logits * t))


def test_graded_hints_in_japanese():
    set_language("ja")
    check = checks.check_temperature
    check(lambda logits, t: logits / t)  # start from a pass
    first = repr(check(lambda logits, t: logits * t, hint=1))
    assert "t を掛けています" in first and "コードの行を見るには" in first
    assert "コードの行：logits / t" in repr(check(lambda logits, t: logits * t, hint=2))


# ---------------------------------------------------------------- stale answers


@pytest.fixture
def shell():
    """A real IPython shell, as in a notebook; cleared afterwards so that other tests see no IPython."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    yield shell
    InteractiveShell.clear_instance()


def test_a_check_after_a_failed_cell_refuses_the_stale_answer(shell, capsys):
    shell.run_cell("from llmcourse.checks import check_temperature\n"
                   "def my_apply_temperature(logits, t):\n    return logits / t")
    shell.run_cell("def my_apply_temperature(logits, t):\n    return logits / undefined_name\n"
                   "my_apply_temperature(1.0, 2.0)")  # the exercise cell raises: the old function stays
    report = shell.run_cell("check_temperature(my_apply_temperature)").result
    assert not report.passed and len(report.lines) == 1, report
    assert "NameError" in report.lines[0].message and "run the exercise cell again first" in report.lines[0].hint
    shell.run_cell("def my_apply_temperature(logits, t):\n    return logits / t")
    assert shell.run_cell("check_temperature(my_apply_temperature)").result.passed


def test_a_syntax_error_in_the_exercise_cell_is_caught_too(shell, capsys):
    shell.run_cell("from llmcourse.checks import check_8bit_config\nmy_config = None")
    shell.run_cell("my_config = BitsAndBytesConfig(load_in_8bit=True")  # unclosed parenthesis
    report = shell.run_cell("check_8bit_config(my_config)").result
    assert "SyntaxError" in report.lines[0].message and "again first" in report.lines[0].hint


def test_outside_ipython_a_check_judges_as_usual():
    assert checks.check_temperature(lambda logits, t: logits / t).passed


def test_a_stale_answer_is_refused_every_time_until_its_cell_runs_cleanly(shell, capsys):
    """Issue 26, rule 4: the second, third... run of the check after a failed exercise cell refuse too."""
    shell.run_cell("from llmcourse.checks import check_temperature\n"
                   "def my_apply_temperature(logits, t):\n    return logits / t")
    assert shell.run_cell("check_temperature(my_apply_temperature)").result.passed  # the watch starts here
    shell.run_cell("def my_apply_temperature(logits, t):\n    return logits * undefined_name\n"
                   "my_apply_temperature(1.0, 2.0)")
    for _ in range(3):
        report = shell.run_cell("check_temperature(my_apply_temperature)").result
        assert not report.passed and "stopped with NameError" in report.lines[0].message, report
    shell.run_cell("x = 1 / 0")  # another cell failing says nothing about this answer
    shell.run_cell("def my_apply_temperature(logits, t):\n    return logits / t")
    assert shell.run_cell("check_temperature(my_apply_temperature)").result.passed


def test_an_input_changed_in_place_fails_in_every_check_that_hands_over_a_tensor():
    """Issue 26, rule 2: the right values computed by writing into the input still fail, naming the input."""
    def in_place_temperature(logits, t):
        logits /= t
        return logits

    def in_place_top_p(logits, p):
        probabilities = logits.softmax(-1)
        ranked, order = probabilities.sort(-1, descending=True)
        drop = (ranked.cumsum(-1) - ranked) >= p
        logits.scatter_(-1, order, logits.gather(-1, order).masked_fill(drop, float("-inf")))
        return logits

    for report in (checks.check_temperature(in_place_temperature), checks.check_top_p_filter(in_place_top_p)):
        assert_fails_with(report, "leave logits as it was")
        assert "changed its input logits in place" in report.failures[0].message


def test_the_input_rule_would_catch_a_check_that_stopped_comparing(monkeypatch):
    """The meta-test: with the comparison planted away, the in-place answer passes (so the rule is what fails it)."""
    import llmcourse.checks.inputs as inputs

    def in_place(logits, t):
        logits /= t
        return logits

    assert not checks.check_temperature(in_place).passed
    monkeypatch.setattr(inputs, "changed_inputs", lambda args, kept: [])
    assert checks.check_temperature(in_place).passed


@pytest.mark.parametrize(("run", "pattern"), WRONG)
def test_the_first_failure_never_shows_the_line_of_code(run, pattern, learner_kit):
    """Issue 26, rule 3: the line of code that fixes a mistake comes only with hint=2, never inside the first hint."""
    report = run(learner_kit)
    assert not leaked_code(report), f"the first failure shows the fix {leaked_code(report)[0]!r}:\n{report!r}"


def leaked_code(report):
    """The lines of code (shown only at hint=2) that the report as first shown gives away anyway."""
    shown = repr(report)
    return [line.code for line in report.failures if line.code and line.code in shown]


def test_a_hint_that_gives_away_its_code_is_caught():
    """The meta-test: a planted hint that spells out its own fix is found."""
    planted = checks.Report("Demo", ask="check_demo(..., hint=2)")
    planted.add(False, "wrong", "divide: return logits / t", "return logits / t")
    assert leaked_code(planted) == ["return logits / t"]
    honest = checks.Report("Demo", ask="check_demo(..., hint=2)")
    honest.add(False, "wrong", "the logits are multiplied, not divided", "return logits / t")
    assert leaked_code(honest) == []


def test_the_stale_rule_would_catch_a_check_that_stopped_looking(shell, capsys, monkeypatch):
    """The meta-test for rule 4: with the history planted away, the stale answer is judged (and passes)."""
    import llmcourse.checks.base as base

    shell.run_cell("from llmcourse.checks import check_temperature\n"
                   "def my_apply_temperature(logits, t):\n    return logits / t")
    shell.run_cell("check_temperature(my_apply_temperature)")
    shell.run_cell("undefined_name\ndef my_apply_temperature(logits, t):\n    return logits * t")  # stops first:
    assert not shell.run_cell("check_temperature(my_apply_temperature)").result.passed  # the old answer is stale
    monkeypatch.setattr(base, "last_failure", lambda name: None)
    assert shell.run_cell("check_temperature(my_apply_temperature)").result.passed


def test_the_unseen_batches_are_what_fail_a_typed_in_answer(learner_kit, monkeypatch):
    """The meta-test for rule 1: with the unseen batches planted away, the lesson's texts typed in would pass."""
    import llmcourse.checks.lesson04_batch as lesson04_batch

    typed = lambda prompts: [" Wednesday, and Thursday) to", ", H, I, J"]  # noqa: E731
    assert not batch_check(learner_kit, typed).passed
    monkeypatch.setattr(lesson04_batch, "UNSEEN_BATCHES", [])
    assert batch_check(learner_kit, typed).passed


def test_the_unseen_prompts_are_what_fail_typed_in_chunks(learner_kit, monkeypatch):
    """The meta-test for rule 1 in lesson 06: with the unseen prompts planted away, the lesson's chunks typed in
    would pass, and so would a streamer that keeps the special tokens (the lesson's prompt never reaches EOS)."""
    import llmcourse.checks.lesson06_streaming as lesson06_streaming

    typed, specials = (lambda prompt: LESSON_CHUNKS), streamer_fn(learner_kit, skip_special_tokens=False)
    assert not chunks_check(learner_kit, typed).passed and not chunks_check(learner_kit, specials).passed
    monkeypatch.setattr(lesson06_streaming, "UNSEEN_PROMPTS", [])
    assert chunks_check(learner_kit, typed).passed and chunks_check(learner_kit, specials).passed


def test_the_unseen_questions_are_what_fail_a_typed_in_prompt(learner_kit, monkeypatch):
    """The meta-test for rule 1 in lesson 02: with the unseen questions planted away, the lesson's prompt typed in
    would pass, and so would messages written as JSON text (the lesson's question has no quote or newline)."""
    import llmcourse.checks.lesson02_tokenizing as lesson02_tokenizing

    typed, as_json = (lambda question: template(learner_kit, **PROMPT_TEXT)), json_chat_prompt(learner_kit)
    assert not chat_check(learner_kit, typed).passed and not chat_check(learner_kit, as_json).passed
    monkeypatch.setattr(lesson02_tokenizing, "UNSEEN_QUESTIONS", [])
    assert chat_check(learner_kit, typed).passed and chat_check(learner_kit, as_json).passed
