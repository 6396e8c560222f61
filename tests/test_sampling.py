"""The sampling functions against transformers' own logits warpers, token for token."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    LogitsProcessorList,
    MinPLogitsWarper,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from llmcourse.errors import CourseError
from llmcourse.sampling import (
    SAMPLING_SETTINGS,
    apply_temperature,
    greedy_pick,
    min_p_filter,
    process_logits,
    sample_frequencies,
    sample_pick,
    sampling_probs,
    temperature_probs,
    top_k_filter,
    top_p_filter,
)

SEEDS = [0, 1, 2]
SHAPES = [(1, 8), (3, 64), (4, 1000)]  # (batch, vocab)
KINDS = ["normal", "peaked", "ties", "masked"]


def make_logits(seed: int, shape: tuple[int, int], kind: str) -> torch.Tensor:
    """Random logits (batch, vocab): plain, very peaked, full of ties, or partly -inf already."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=gen)
    if kind == "peaked":
        logits = logits * 30  # many probabilities underflow to exactly 0 in float32
    elif kind == "ties":
        logits = logits.round()  # a handful of distinct values, each shared by many tokens
    elif kind == "masked":
        logits[:, 1::3] = float("-inf")  # as after an earlier filter
    return logits


def assert_same(ours: torch.Tensor, theirs: torch.Tensor, where: str = "") -> None:
    """Same tokens kept, same values: readable on failure."""
    kept_ours, kept_theirs = ours.isfinite(), theirs.isfinite()
    assert torch.equal(kept_ours, kept_theirs), (
        f"{where}: kept sets differ: ours keeps {kept_ours.sum(-1).tolist()} per row, "
        f"transformers {kept_theirs.sum(-1).tolist()}")
    assert torch.equal(ours, theirs), f"{where}: values differ by up to {(ours - theirs)[kept_ours].abs().max()}"


def warp(warper, logits: torch.Tensor) -> torch.Tensor:
    """Run one transformers warper (input_ids are not used by these)."""
    return warper(torch.zeros(len(logits), 1, dtype=torch.long), logits.clone())


def compare_everywhere(ours, reference, kind: str) -> None:
    """ours(logits) == reference(logits) for every seed and (batch, vocab) shape."""
    for seed in SEEDS:
        for shape in SHAPES:
            logits = make_logits(seed, shape, kind)
            assert_same(ours(logits), warp(reference, logits), f"seed={seed} shape={shape}")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("temperature", [0.1, 0.7, 1.0, 1.5, 100.0])
def test_temperature(kind, temperature):
    compare_everywhere(lambda x: apply_temperature(x, temperature), TemperatureLogitsWarper(temperature), kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("top_k", [1, 2, 5, 50, 64, 1000, 5000])  # 64 and 1000 are vocab sizes; 5000 exceeds all
def test_top_k(kind, top_k):
    compare_everywhere(lambda x: top_k_filter(x, top_k), TopKLogitsWarper(top_k, min_tokens_to_keep=1), kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("top_p", [1e-6, 0.1, 0.5, 0.9, 0.95, 0.999, 1.0])
def test_top_p(kind, top_p):
    compare_everywhere(lambda x: top_p_filter(x, top_p), TopPLogitsWarper(top_p, min_tokens_to_keep=1), kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("min_p", [0.0, 0.01, 0.1, 0.5, 0.99, 1.0])
def test_min_p(kind, min_p):
    compare_everywhere(lambda x: min_p_filter(x, min_p), MinPLogitsWarper(min_p, min_tokens_to_keep=1), kind)


COMBOS = [
    dict(temperature=0.7),
    dict(top_k=5),
    dict(top_p=0.9),
    dict(min_p=0.1),
    dict(temperature=1.3, top_k=20, top_p=0.8),
    dict(temperature=0.5, top_k=40, top_p=0.95, min_p=0.05),
    dict(temperature=2.0, min_p=0.2),
    dict(top_k=3, top_p=0.5, min_p=0.5),
]


def reference_processors(settings: dict) -> LogitsProcessorList:
    """The warpers generate builds for these settings, in generate's order."""
    processors = LogitsProcessorList()
    if settings.get("temperature", 1.0) != 1.0:
        processors.append(TemperatureLogitsWarper(settings["temperature"]))
    if settings.get("top_k"):
        processors.append(TopKLogitsWarper(settings["top_k"], min_tokens_to_keep=1))
    if settings.get("top_p", 1.0) < 1.0:
        processors.append(TopPLogitsWarper(settings["top_p"], min_tokens_to_keep=1))
    if settings.get("min_p") is not None:
        processors.append(MinPLogitsWarper(settings["min_p"], min_tokens_to_keep=1))
    return processors


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("settings", COMBOS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_process_logits_matches_processor_list(kind, settings):
    compare_everywhere(lambda x: process_logits(x, **settings), reference_processors(settings), kind)


@pytest.mark.parametrize("settings", COMBOS[5:7], ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_process_logits_matches_generate_scores(tiny_model, settings):
    """generate's own processed scores (its order of warpers) equal process_logits of its raw logits."""
    ids = torch.tensor([[5, 9, 11, 20]])
    torch.manual_seed(0)
    out = tiny_model.generate(ids, max_new_tokens=5, do_sample=True, **{"top_k": None, **settings},
                              return_dict_in_generate=True, output_scores=True, output_logits=True)
    for raw, processed in zip(out.logits, out.scores, strict=True):
        assert_same(process_logits(raw, **settings), processed)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("settings", COMBOS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_sampling_probs_is_the_softmax_of_the_processor_list(kind, settings):
    for seed in SEEDS:
        for shape in SHAPES:
            logits = make_logits(seed, shape, kind)
            probs = sampling_probs(logits, **settings)
            assert torch.equal(probs, torch.softmax(warp(reference_processors(settings), logits), dim=-1))
            assert torch.allclose(probs.sum(-1), torch.ones(shape[0]))


def test_sampling_probs_knows_only_the_sampling_settings():
    assert set(SAMPLING_SETTINGS) == {"temperature", "top_k", "top_p", "min_p"}
    with pytest.raises(CourseError, match=r"unknown sampling setting\(s\) \['do_sample'\]: use temperature, top_k"):
        sampling_probs(LOGITS, do_sample=True)


@pytest.mark.parametrize("temperature", [0.1, 0.7, 1.0, 2.0])
def test_temperature_probs_is_the_softmax_of_the_temperature_warper(temperature):
    logits = make_logits(0, (3, 64), "normal")
    expected = torch.softmax(warp(TemperatureLogitsWarper(temperature), logits), dim=-1)
    assert torch.allclose(temperature_probs(logits, temperature), expected, atol=1e-7)


def test_temperature_zero_is_greedys_one_hot_without_nans():
    logits = make_logits(1, (4, 100), "peaked")
    probs = temperature_probs(logits, 0)
    assert probs.shape == (4, 100) and not probs.isnan().any()
    assert torch.equal(probs.argmax(-1), greedy_pick(logits)) and torch.equal(probs.sum(-1), torch.ones(4))


def test_sample_frequencies_are_seeded_fractions_of_draws_from_each_row():
    probs = torch.tensor([[0.0, 1.0, 0.0], [0.7, 0.0, 0.3]])
    frequencies = sample_frequencies(probs, 5000, seed=1)
    assert frequencies.shape == (2, 3) and torch.allclose(frequencies.sum(-1), torch.ones(2))
    assert torch.equal(frequencies, sample_frequencies(probs, 5000, seed=1))  # the seed fixes the draws
    assert not torch.equal(frequencies, sample_frequencies(probs, 5000, seed=2))
    assert frequencies[probs == 0].sum() == 0  # a token of probability 0 is never drawn
    assert torch.allclose(frequencies, probs, atol=0.03)


def test_process_logits_skips_settings_that_change_nothing():
    logits = make_logits(0, (2, 50), "normal")
    assert torch.equal(process_logits(logits), logits)
    assert torch.equal(process_logits(logits, temperature=1.0, top_k=None, top_p=1.0, min_p=None), logits)
    assert torch.equal(process_logits(logits, top_k=0), logits)  # generate reads top_k=0 as "off"


def test_order_matters():
    """Temperature comes before top-p and min-p: it changes which tokens they keep."""
    logits = make_logits(0, (1, 100), "normal")
    hot_then_filter = process_logits(logits, temperature=5.0, top_p=0.5)
    filter_then_hot = apply_temperature(top_p_filter(logits, 0.5), 5.0)
    assert hot_then_filter.isfinite().sum() > filter_then_hot.isfinite().sum()


def test_filters_keep_ties_and_the_best_token():
    logits = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0]])
    assert top_k_filter(logits, 1).isfinite().tolist() == [[False, True, True, False, True]]
    assert top_p_filter(torch.tensor([[0.0, 10.0, 0.0]]), 1e-9).isfinite().tolist() == [[False, True, False]]
    assert min_p_filter(torch.tensor([[0.0, 10.0, 0.0]]), 1.0).isfinite().tolist() == [[False, True, False]]


def test_filters_do_not_modify_their_input():
    logits = make_logits(0, (2, 30), "normal")
    before = logits.clone()
    process_logits(logits, temperature=0.5, top_k=3, top_p=0.9, min_p=0.1)
    assert torch.equal(logits, before)


def test_greedy_pick():
    logits = make_logits(1, (5, 100), "normal")
    assert torch.equal(greedy_pick(logits), logits.argmax(-1))
    assert greedy_pick(logits).shape == (5,)


@pytest.mark.parametrize("seed", SEEDS)
def test_sample_pick_matches_generate_draw(seed):
    """Same seed, same logits: the same ids as generate's softmax + multinomial."""
    logits = top_k_filter(make_logits(seed, (4, 200), "normal"), 20)
    torch.manual_seed(seed)
    expected = torch.multinomial(torch.nn.functional.softmax(logits, dim=-1), num_samples=1).squeeze(1)
    torch.manual_seed(seed)
    picked = sample_pick(logits)
    assert torch.equal(picked, expected)
    assert picked.shape == (4,)
    assert logits.gather(1, picked[:, None]).isfinite().all()  # never a filtered-out token


def test_sample_pick_follows_the_probabilities():
    torch.manual_seed(0)
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).expand(20000, 3)
    counts = torch.bincount(sample_pick(logits), minlength=3) / 20000
    assert torch.allclose(counts, torch.tensor([0.7, 0.2, 0.1]), atol=0.02)


LOGITS = torch.zeros(2, 10)


@pytest.mark.parametrize("call, message", [
    (lambda: apply_temperature(LOGITS, 0), r"temperature must be a number > 0, got 0\. .*do_sample=False"),
    (lambda: apply_temperature(LOGITS, -1.0), r"temperature must be a number > 0, got -1\.0"),
    (lambda: apply_temperature(LOGITS, "hot"), r"temperature must be a number > 0, got 'hot'"),
    (lambda: top_k_filter(LOGITS, 0), r"top_k must be a whole number >= 1, got 0\. .*top_k=None"),
    (lambda: top_k_filter(LOGITS, 2.5), r"top_k must be a whole number >= 1, got 2\.5"),
    (lambda: top_k_filter(LOGITS, True), r"top_k must be a whole number >= 1, got True"),
    (lambda: top_p_filter(LOGITS, 1.5), r"top_p must be in \(0, 1\], got 1\.5"),
    (lambda: top_p_filter(LOGITS, 0), r"top_p must be in \(0, 1\], got 0"),
    (lambda: top_p_filter(LOGITS, -0.1), r"top_p must be in \(0, 1\], got -0\.1"),
    (lambda: min_p_filter(LOGITS, 1.2), r"min_p must be in \[0, 1\], got 1\.2"),
    (lambda: min_p_filter(LOGITS, -0.01), r"min_p must be in \[0, 1\], got -0\.01"),
    (lambda: process_logits(LOGITS, top_p=1.5), r"top_p must be in \(0, 1\], got 1\.5"),
    (lambda: process_logits(LOGITS, temperature=0.0), r"temperature must be a number > 0"),
    (lambda: top_k_filter(torch.zeros(10), 2), r"shape \(batch, vocab\), got \(10,\)\. Add a batch dimension"),
    (lambda: greedy_pick(torch.zeros(1, 4, 10)), r"got \(1, 4, 10\)\. .*outputs\.logits\[:, -1, :\]"),
    (lambda: sample_pick(torch.zeros(2, 10, dtype=torch.long)),
     r"logits must be a float tensor, got Tensor of torch\.int64"),
    (lambda: sample_pick([[0.0, 1.0]]), r"logits must be a float tensor, got list"),
    (lambda: temperature_probs(LOGITS, -0.5), r"temperature must be a number >= 0, got -0\.5"),
    (lambda: temperature_probs(torch.zeros(10), 0.5), r"got \(10,\)\. Add a batch dimension with logits\[None\]"),
    (lambda: sampling_probs(torch.zeros(1, 3, 10)), r"got \(1, 3, 10\)\. .*outputs\.logits\[:, -1, :\]"),
    (lambda: sample_frequencies(torch.ones(1, 4) / 4, 0), r"n must be a whole number >= 1, got 0"),
    (lambda: sample_frequencies(torch.ones(4) / 4, 10), r"got \(4,\)\. Add a batch dimension"),
])
def test_argument_checks_speak_to_the_learner(call, message):
    with pytest.raises(CourseError, match=message):
        call()
