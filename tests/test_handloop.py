"""The hand-written loop against ``model.generate``: the same tokens, greedy and seeded sampling."""

from __future__ import annotations

import pytest
import torch

from llmcourse.errors import CourseError
from llmcourse.handloop import Step, format_steps, generate_by_hand, generation_steps

SAMPLING = [
    dict(),
    dict(temperature=0.7),
    dict(top_k=5),
    dict(top_p=0.8),
    dict(min_p=0.1),
    dict(temperature=1.5, top_k=20, top_p=0.9, min_p=0.05),
]


def settings_id(settings: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in settings.items()) or "plain"


def reference(model, input_ids, attention_mask=None, **settings) -> torch.Tensor:
    """``model.generate`` with every sampling setting said out loud.

    generate fills unset values from its global defaults, and its default top_k is 50
    (not "off"), so top_k=None is passed explicitly unless the test sets it.
    """
    settings = {"do_sample": False, "top_k": None, **settings}
    return model.generate(input_ids, attention_mask=attention_mask, **settings)


def assert_same_tokens(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert ours.shape == theirs.shape, f"lengths differ: ours {tuple(ours.shape)}, generate {tuple(theirs.shape)}"
    diff = (ours != theirs).nonzero().tolist()
    assert not diff, (f"first differing (row, position): {diff[0]}\n"
                      f"ours:     {ours.tolist()}\ngenerate: {theirs.tolist()}")


@pytest.fixture(scope="module")
def one_prompt(tiny_tokenizer):
    return tiny_tokenizer(["the cat sat on"], return_tensors="pt")


@pytest.fixture(scope="module")
def left_padded(tiny_tokenizer):
    """Three prompts of different lengths, padded on the left, with their attention mask."""
    batch = tiny_tokenizer(["hi", "the cat sat on", "a, b, c"], return_tensors="pt", padding=True,
                           padding_side="left")
    assert (batch.attention_mask[:, 0] == 0).any() and (batch.attention_mask[:, -1] == 1).all()
    return batch


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_greedy_matches_generate(tiny_model, one_prompt, left_padded, use_cache):
    for inputs in (one_prompt, left_padded):
        expected = reference(tiny_model, **inputs, max_new_tokens=20, use_cache=use_cache)
        ours = generate_by_hand(tiny_model, **inputs, max_new_tokens=20, use_cache=use_cache)
        assert_same_tokens(ours, expected)


def test_greedy_without_attention_mask(tiny_model, one_prompt):
    ids = one_prompt.input_ids
    expected = reference(tiny_model, ids, max_new_tokens=15)
    assert_same_tokens(generate_by_hand(tiny_model, ids, max_new_tokens=15), expected)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("settings", SAMPLING, ids=settings_id)
def test_seeded_sampling_matches_generate(tiny_model, left_padded, settings, seed):
    torch.manual_seed(seed)
    expected = reference(tiny_model, **left_padded, max_new_tokens=16, do_sample=True, **settings)
    torch.manual_seed(seed)
    ours = generate_by_hand(tiny_model, **left_padded, max_new_tokens=16, do_sample=True, **settings)
    assert_same_tokens(ours, expected)


@pytest.mark.parametrize("settings", [SAMPLING[0], SAMPLING[-1]], ids=settings_id)
def test_seeded_sampling_without_cache_matches_generate(tiny_model, left_padded, settings):
    torch.manual_seed(2)
    expected = reference(tiny_model, **left_padded, max_new_tokens=16, do_sample=True, use_cache=False, **settings)
    torch.manual_seed(2)
    ours = generate_by_hand(tiny_model, **left_padded, max_new_tokens=16, do_sample=True, use_cache=False, **settings)
    assert_same_tokens(ours, expected)


def test_generate_default_top_k_is_50(tiny_model, one_prompt):
    """generate(do_sample=True) with no top_k filters to the 50 most likely tokens."""
    torch.manual_seed(0)
    expected = tiny_model.generate(**one_prompt, max_new_tokens=16, do_sample=True)
    torch.manual_seed(0)
    assert_same_tokens(generate_by_hand(tiny_model, **one_prompt, max_new_tokens=16, do_sample=True, top_k=50),
                       expected)


def test_eos_pads_finished_rows_and_stops_when_all_finish(tiny_model, left_padded):
    prompt_length = left_padded.input_ids.shape[1]
    free = generate_by_hand(tiny_model, **left_padded, max_new_tokens=12, eos_token_id=[])
    # pretend that the 3rd token row 0 generates is EOS: row 0 ends there, the others go on
    eos = int(free[0, prompt_length + 2])
    ours = generate_by_hand(tiny_model, **left_padded, max_new_tokens=12, eos_token_id=eos, pad_token_id=0)
    assert_same_tokens(ours, reference(tiny_model, **left_padded, max_new_tokens=12, eos_token_id=eos, pad_token_id=0))
    first_eos = int((ours[0, prompt_length:] == eos).nonzero()[0])
    assert (ours[0, prompt_length + first_eos + 1:] == 0).all()
    # a list of EOS ids holding every row's first token: all rows end after one step
    eos_ids = free[:, prompt_length].tolist()
    ours = generate_by_hand(tiny_model, **left_padded, max_new_tokens=12, eos_token_id=eos_ids)
    assert ours.shape[1] == prompt_length + 1
    assert_same_tokens(ours, reference(tiny_model, **left_padded, max_new_tokens=12, eos_token_id=eos_ids))


def test_generation_steps_greedy_match_generate(tiny_model, tiny_tokenizer, one_prompt):
    steps = list(generation_steps(tiny_model, tiny_tokenizer, "the cat sat on", max_new_tokens=20, alternatives=64))
    expected = reference(tiny_model, **one_prompt, max_new_tokens=20)[0, one_prompt.input_ids.shape[1]:]
    assert [s.token_id for s in steps] == expected.tolist()
    for index, step in enumerate(steps):
        probs = [p for _, p in step.most_likely]
        assert step.index == index
        assert step.most_likely[0] == (step.token, step.prob)  # greedy picks the most likely token
        assert probs == sorted(probs, reverse=True)
        assert sum(probs) == pytest.approx(1.0, abs=1e-5)  # alternatives=64 is the whole vocabulary
        assert step.text == tiny_tokenizer.decode(expected[: index + 1])


@pytest.mark.parametrize("settings", [dict(top_k=3), dict(temperature=0.8, top_p=0.7, min_p=0.1)], ids=settings_id)
def test_generation_steps_sampling_match_generate(tiny_model, tiny_tokenizer, one_prompt, settings):
    torch.manual_seed(1)
    steps = list(generation_steps(tiny_model, tiny_tokenizer, one_prompt.input_ids, max_new_tokens=16, alternatives=64,
                                  do_sample=True, **settings))
    torch.manual_seed(1)
    expected = reference(tiny_model, **one_prompt, max_new_tokens=16, do_sample=True, **settings)
    assert [s.token_id for s in steps] == expected[0, one_prompt.input_ids.shape[1]:].tolist()
    for step in steps:
        # probabilities of the filtered distribution: the kept tokens only, summing to 1
        assert sum(p for _, p in step.most_likely) == pytest.approx(1.0, abs=1e-5)
        assert all(p > 0 for _, p in step.most_likely) and step.prob > 0
        assert len(step.most_likely) <= settings.get("top_k", 64)


def test_generation_steps_stop_at_eos_and_accept_ids(tiny_model, tiny_tokenizer):
    ids = torch.tensor([[20, 21, 22]])
    free = generate_by_hand(tiny_model, ids, max_new_tokens=40, eos_token_id=[])[0, 3:].tolist()  # never stops
    eos = tiny_model.generation_config.eos_token_id
    until_eos = free[: free.index(eos) + 1] if eos in free else free
    for prompt in ([20, 21, 22], ids[0], ids):
        steps = list(generation_steps(tiny_model, tiny_tokenizer, prompt, max_new_tokens=40, alternatives=3))
        assert [s.token_id for s in steps] == until_eos
        assert all(len(s.most_likely) == 3 for s in steps)


def test_format_steps_shows_whitespace_as_every_table_and_plot_does():
    steps = [Step(0, 5, " the", 0.5, [(" the", 0.5), ("\n", 0.25)], " the"),
             Step(1, 6, "\tcat\r\x00", 0.125, [("\tcat\r\x00", 0.125), ("", 0.0625)], " the\tcat\r\x00")]
    assert format_steps(steps).splitlines() == [
        "step  token      prob   most likely",
        "   0  ␣the       0.500  ␣the 0.500 · ↵ 0.250",
        "   1  →cat␍\\x00  0.125  →cat␍\\x00 0.125 · ∅ 0.062",
    ]
    assert format_steps(steps[:1], prob_digits=1).splitlines()[1] == "   0  ␣the   0.5   ␣the 0.5 · ↵ 0.2"


def test_real_model_greedy_and_sampling_match_generate(offline_model):
    model, tokenizer = offline_model
    inputs = tokenizer(["A list of colors: red, blue"], return_tensors="pt")
    expected = reference(model, **inputs, max_new_tokens=12)
    assert_same_tokens(generate_by_hand(model, **inputs, max_new_tokens=12), expected)
    steps = list(generation_steps(model, tokenizer, "A list of colors: red, blue", max_new_tokens=12))
    assert [s.token_id for s in steps] == expected[0, inputs.input_ids.shape[1]:].tolist()
    torch.manual_seed(0)
    expected = reference(model, **inputs, max_new_tokens=12, do_sample=True, temperature=0.8, top_k=40, top_p=0.95)
    torch.manual_seed(0)
    ours = generate_by_hand(model, **inputs, max_new_tokens=12, do_sample=True, temperature=0.8, top_k=40, top_p=0.95)
    assert_same_tokens(ours, expected)


IDS = torch.tensor([[5, 6, 7]])


@pytest.mark.parametrize("call, message", [
    (lambda m, t: generate_by_hand(m, torch.tensor([5, 6, 7]), max_new_tokens=3),
     r"input_ids must be a tensor of shape \(batch, length\), got \(3,\)\. .*ids\[None\]"),
    (lambda m, t: generate_by_hand(m, [[5, 6, 7]], max_new_tokens=3), r"got list"),
    (lambda m, t: generate_by_hand(m, IDS[:, :0], max_new_tokens=3), r"input_ids is empty"),
    (lambda m, t: generate_by_hand(m, IDS, torch.ones(1, 2), max_new_tokens=3), r"attention_mask has shape \(1, 2\)"),
    (lambda m, t: generate_by_hand(m, IDS, max_new_tokens=0), r"max_new_tokens must be a whole number >= 1, got 0"),
    (lambda m, t: generate_by_hand(m, IDS, max_new_tokens=3, do_sample=True, top_p=1.5),
     r"top_p must be in \(0, 1\], got 1\.5"),
    (lambda m, t: generation_steps(m, t, "hi", max_new_tokens=3, topk=5), r"does not know topk; it takes"),
    (lambda m, t: generation_steps(m, t, "hi", max_new_tokens=3, alternatives=0),
     r"alternatives must be between 1 and the vocabulary size \(64\), got 0"),
    (lambda m, t: generation_steps(m, t, "hi", max_new_tokens=3, top=5),
     r"does not know top; it takes do_sample, temperature, top_k, top_p, min_p \(and max_new_tokens, alternatives\)\. "
     r"For top, did you mean alternatives=\.\.\.\?"),
    (lambda m, t: generation_steps(m, t, torch.ones(2, 3, dtype=torch.long), max_new_tokens=3),
     r"follows one prompt, got ids of shape \(2, 3\)"),
    (lambda m, t: generation_steps(m, t, "hi", max_new_tokens=-1), r"max_new_tokens must be a whole number >= 1"),
    (lambda m, t: generation_steps(m, t, "hi", max_new_tokens=3, do_sample=True, min_p=2),
     r"min_p must be in \[0, 1\]"),
])
def test_argument_checks_speak_to_the_learner(tiny_model, tiny_tokenizer, call, message):
    with pytest.raises(CourseError, match=message):
        call(tiny_model, tiny_tokenizer)


def test_on_step_sees_each_step_of_the_batch(tiny_model, left_padded):
    seen = []
    ours = generate_by_hand(tiny_model, **left_padded, max_new_tokens=8,
                            on_step=lambda logits, next_id: seen.append((logits.shape, next_id)))
    prompt_length = left_padded.input_ids.shape[1]
    assert len(seen) == ours.shape[1] - prompt_length
    assert all(shape == (3, 64) for shape, _ in seen)
    assert torch.equal(torch.stack([next_id for _, next_id in seen], dim=1), ours[:, prompt_length:])


def test_the_loop_is_written_once():
    """generation_steps watches generate_by_hand's loop instead of restating it (lesson 03 prints that loop)."""
    import inspect

    from llmcourse import handloop

    assert inspect.getsource(handloop).count("model(input_ids=") == 1
    assert "model(input_ids=" in inspect.getsource(generate_by_hand)
    assert len(inspect.getsource(generate_by_hand).splitlines()) <= 65  # signature, docstring, ~35 lines of loop
