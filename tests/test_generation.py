"""`generate`: its record of each step, the token mask, the pad fallback and one-line errors that keep their cause."""

from __future__ import annotations

import copy
import traceback

import pytest
import torch

from llmcourse.errors import CourseError
from llmcourse.generation import generate

PROMPTS = ["hi", "the cat sat on"]


@pytest.fixture(scope="module")
def batch(tiny_model, tiny_tokenizer):
    """Two prompts, 12 new tokens, an EOS chosen so that row 0 stops early and is padded after it."""
    free = generate(tiny_model, tiny_tokenizer, PROMPTS, max_new_tokens=12, eos_token_id=[])
    eos = int(free.token_ids[0, 2])  # the 3rd token of row 0 becomes its end
    return generate(tiny_model, tiny_tokenizer, PROMPTS, max_new_tokens=12, eos_token_id=eos, pad_token_id=0), eos


def test_token_mask_is_true_up_to_each_rows_eos(batch):
    result, eos = batch
    assert result.token_mask.dtype == torch.bool and result.token_mask.shape == result.token_ids.shape
    for row in range(len(PROMPTS)):
        ids, mask = result.token_ids[row].tolist(), result.token_mask[row].tolist()
        end = ids.index(eos) + 1 if eos in ids else len(ids)
        assert mask == [True] * end + [False] * (len(ids) - end)
        assert ids[end:] == [0] * (len(ids) - end)  # the padding that the mask leaves out
    assert not result.token_mask[0].all()


def test_tokens_are_the_masked_ids_as_text(batch, tiny_tokenizer):
    result, _ = batch
    for row in range(len(PROMPTS)):
        ids = result.token_ids[row][result.token_mask[row]].tolist()
        assert result.token_texts(row) == [tiny_tokenizer.decode([i]) for i in ids]
    assert int(result.token_mask.sum()) == sum(len(result.token_texts(row)) for row in range(len(PROMPTS)))


def test_without_a_pad_token_generate_pads_with_eos(tiny_model, tiny_tokenizer):
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.pad_token = None
    result = generate(tiny_model, tokenizer, PROMPTS, max_new_tokens=3)
    assert result.settings["pad_token_id"] == tokenizer.eos_token_id
    assert tokenizer.pad_token is None and tokenizer.padding_side == "right"  # left as it was


def test_a_rejected_setting_is_one_line_with_the_cause_kept(tiny_model, tiny_tokenizer):
    # repetition_penalty is checked by the course (next test); encoder_repetition_penalty is left to transformers
    with pytest.raises(CourseError) as error:
        generate(tiny_model, tiny_tokenizer, "hi", encoder_repetition_penalty=-1.0)  # checked by transformers, not by us
    message = str(error.value)
    assert message.startswith("generate rejected these settings: `penalty` has to be") and "\n" not in message
    assert len(traceback.format_exception_only(error.value)) == 1
    assert error.value.__suppress_context__ and error.value.__cause__ is None  # no "During handling..." chain
    assert isinstance(error.value.cause, ValueError)
    assert error.value.details.startswith("Traceback") and "ValueError: `penalty`" in error.value.details


@pytest.mark.parametrize("prompts, settings, message", [
    ([], {}, "prompts is empty"),
    (["hi", 3], {}, "prompt 1 is an int"),
    (["  "], {}, "prompt 0 is empty"),
    ("hi", {"max_new_tokens": 0}, "max_new_tokens must be a whole number >= 1, got 0"),
    ("hi", {"attention_mask": None}, "generate sets attention_mask itself"),
    ("hi", {"alternatives": 65}, r"alternatives must be between 1 and the vocabulary size \(64\)"),
    ("hi", {"repetition_penalty": -1.0}, "repetition_penalty must be a number above 0, got -1.0"),
])
def test_argument_checks_speak_to_the_learner(tiny_model, tiny_tokenizer, prompts, settings, message):
    with pytest.raises(CourseError, match=message) as error:
        generate(tiny_model, tiny_tokenizer, prompts, **settings)
    assert error.value.cause is None
