"""Tests for `llmcourse.plots` and `llmcourse.search`: the numbers and texts drawn, checked against their sources.

Bar heights are read back from ``ax.patches`` and compared with softmax
probabilities; kept/dropped colours with transformers' own logits warpers; the beam
tree with ``model.generate``. Labels are checked with awkward tokens (``$``,
newlines, Japanese) and every figure is saved as PNG, PDF and SVG with warnings
turned into errors (a missing glyph or a mathtext parse would fail). No figure goes
through pyplot, and a real kernel shows each one once. The tests run in English; the
last ones draw every plot after ``set_language("ja")`` and check that no English word
is left in it.
"""

from __future__ import annotations

import doctest
import importlib
import math
import re
import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.colors import BoundaryNorm, to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from transformers import (  # noqa: E402
    LogitsProcessorList,
    MinPLogitsWarper,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    set_seed,
)

from llmcourse import CourseError, generate, plots, sampling, search  # noqa: E402
from llmcourse.i18n import set_language  # noqa: E402
from llmcourse.plots.branches import plot_branch_runs  # noqa: E402
from llmcourse.plots.common import distribution_label, other_label, raw_label  # noqa: E402
from llmcourse.plots.style import COLOURS, plot_style, register_cjk_font  # noqa: E402
from llmcourse.tokens import show_token, token_labels  # noqa: E402

BLUE, GREY, LIGHT_GREY, VERMILLION = COLOURS["blue"], COLOURS["grey"], COLOURS["light_grey"], COLOURS["vermillion"]

RAW_LABEL = "model distribution (raw logits)"  # the English names, as the English lessons show them
PROCESSED_LABEL = "sampling distribution (after temperature=1.5, top_k=20)"  # named by the settings of `sampled`
LABELS = {"raw": RAW_LABEL, "processed": PROCESSED_LABEL}
ODD_TOKENS = ["$", "$x$", "a$^$", "\n", "\t", " 猫", "日本語", " the", "ü", "  ", "(", "東京"]


# ---------------------------------------------------------------- fixtures and helpers

@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """Each test runs in English, and no plot registers a figure with pyplot (which would show it twice)."""
    set_language("en")  # whatever $LLMCOURSE_LANG says
    plt.close("all")
    yield
    assert plt.get_fignums() == []


@pytest.fixture
def japanese():
    """Draw in Japanese during the test, back to English after it (even when it fails)."""
    set_language("ja")
    try:
        yield
    finally:
        set_language("en")


@pytest.fixture(scope="module")
def logits():
    """Next-token logits (vocab,) over the tiny 64-token vocabulary, spread enough to make every filter matter.

    The plots take ``(batch, vocab)``: tests pass ``logits[None]``.
    """
    return torch.randn(64, generator=torch.Generator().manual_seed(0)) * 2.5


@pytest.fixture(scope="module")
def sampled(tiny_model, tiny_tokenizer):
    """A sampled generation from the tiny model, with temperature and top-k (so raw != processed)."""
    set_seed(0)
    return generate(tiny_model, tiny_tokenizer, "hello world", max_new_tokens=10, do_sample=True,
                    temperature=1.5, top_k=20)


@pytest.fixture(scope="module")
def odd_world():
    """A random 2-layer model and a word-level tokenizer whose tokens contain $, whitespace and Japanese."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{token: i + 3 for i, token in enumerate(ODD_TOKENS)}}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="</s>")
    torch.manual_seed(1)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, bos_token_id=1, eos_token_id=2,
                         pad_token_id=2, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval(), tokenizer


def heights(ax) -> list[float]:
    """The heights of the bars of one axes, left to right as drawn."""
    return [patch.get_height() for patch in ax.patches]


def tick_texts(ax, axis: str = "x") -> list[str]:
    """The strings of an axis' tick labels."""
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [label.get_text() for label in labels]


def save_all(fig, tmp_path, name: str = "figure") -> None:
    """Save as PNG, PDF and SVG; any warning (missing glyph, bad mathtext) is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for extension in ("png", "pdf", "svg"):
            path = tmp_path / f"{name}.{extension}"
            fig.savefig(path)
            assert path.stat().st_size > 1000


def top_with_other(probs: torch.Tensor, alternatives: int) -> list[float]:
    """What a next-token bar chart should show: the most likely probabilities, then 1 - their sum."""
    top = probs.topk(alternatives).values.tolist()
    return top + [1 - sum(top)]


# ---------------------------------------------------------------- bar charts of one step

def test_next_token_bars_are_the_full_softmax_plus_all_other_tokens(logits, tiny_tokenizer, tmp_path):
    fig = plots.plot_next_token(logits[None], tokenizer=tiny_tokenizer, alternatives=7)
    ax = fig.axes[0]
    assert heights(ax) == pytest.approx(top_with_other(torch.softmax(logits, -1), 7), abs=1e-6)
    ids = torch.softmax(logits, -1).topk(7).indices.tolist()
    assert tick_texts(ax) == [show_token(tiny_tokenizer.decode([i])) for i in ids] + ["all other tokens"]
    assert RAW_LABEL in ax.get_title()
    assert tuple(fig.get_size_inches()) == (8, 4.8)
    save_all(fig, tmp_path)


@pytest.mark.parametrize("which", ["raw", "processed"])
def test_next_token_from_a_result_reads_its_distribution_and_marks_the_chosen_token(sampled, which):
    step = 1
    source = sampled.outputs.logits if which == "raw" else sampled.outputs.scores
    probs = torch.softmax(source[step][0].float(), -1)
    fig = plots.plot_next_token(sampled, step=step, which=which, alternatives=10)
    ax = fig.axes[0]
    assert heights(ax) == pytest.approx(top_with_other(probs, 10), abs=1e-6)
    assert LABELS[which] in ax.get_title()
    assert distribution_label(which, sampled.settings) == LABELS[which]
    chosen = int(sampled.token_ids[0, step])
    colours = [to_rgba(p.get_facecolor()) for p in ax.patches]
    top_ids = probs.topk(10).indices.tolist()
    assert [c == to_rgba(VERMILLION) for c in colours[:-1]] == [i == chosen for i in top_ids]


def test_raw_vs_processed_shows_the_same_tokens_under_both_distributions(sampled):
    step = 2
    raw = torch.softmax(sampled.outputs.logits[step][0].float(), -1)
    processed = torch.softmax(sampled.outputs.scores[step][0].float(), -1)
    fig = plots.plot_raw_vs_processed(sampled, step=step, alternatives=8)
    left, right = fig.axes
    ids = raw.topk(8).indices
    assert heights(left) == pytest.approx(top_with_other(raw, 8), abs=1e-6)
    assert heights(right)[:-1] == pytest.approx(processed[ids].tolist(), abs=1e-6)
    assert heights(right)[-1] == pytest.approx(1 - processed[ids].sum().item(), abs=1e-6)
    assert tick_texts(left) == tick_texts(right)
    assert left.get_title() == RAW_LABEL and right.get_title().startswith(PROCESSED_LABEL)


def test_temperature_zero_is_a_stable_one_hot_and_other_panels_are_the_scaled_softmax(logits, tiny_tokenizer):
    temperatures = (0, 0.5, 1.0, 2.0)
    fig = plots.plot_temperatures(logits[None], tiny_tokenizer, temperatures, alternatives=5)
    ids = logits.topk(5).indices
    for ax, temperature in zip(fig.axes, temperatures, strict=True):
        drawn = heights(ax)
        assert not any(math.isnan(h) for h in drawn)
        if temperature == 0:
            assert drawn == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
            assert "greedy" in ax.get_title() and "entropy 0.00" in ax.get_title()
        else:
            probs = torch.softmax(logits / temperature, -1)
            assert drawn[:-1] == pytest.approx(probs[ids].tolist(), abs=1e-6)
            assert drawn[-1] == pytest.approx(1 - probs[ids].sum().item(), abs=1e-6)
            entropy = float(torch.special.entr(probs).sum())
            assert f"entropy {entropy:.2f}" in ax.get_title()
        assert tick_texts(ax) == tick_texts(fig.axes[0])  # the same tokens in every panel
    assert fig.get_suptitle().endswith("softmax(logits / T), no truncation")  # nothing but temperature applied


@pytest.mark.parametrize("settings", [
    {"top_k": 5}, {"top_p": 0.8}, {"top_p": 0.3}, {"min_p": 0.1}, {"min_p": 0.5},
    {"top_k": 10, "top_p": 0.5}, {"temperature": 0.7, "top_p": 0.9}, {"temperature": 1.8, "min_p": 0.05},
    {"temperature": 1.3, "top_k": 12, "top_p": 0.9, "min_p": 0.02},
], ids=lambda settings: ",".join(f"{k}={v}" for k, v in settings.items()))
def test_truncation_keeps_exactly_what_transformers_warpers_keep(logits, tiny_tokenizer, settings):
    warpers = LogitsProcessorList()  # in generate's order: temperature, top-k, top-p, min-p
    if "temperature" in settings:
        warpers.append(TemperatureLogitsWarper(settings["temperature"]))
    if "top_k" in settings:
        warpers.append(TopKLogitsWarper(settings["top_k"]))
    if "top_p" in settings:
        warpers.append(TopPLogitsWarper(settings["top_p"]))
    if "min_p" in settings:
        warpers.append(MinPLogitsWarper(settings["min_p"]))
    warped = warpers(torch.zeros(1, 1, dtype=torch.long), logits[None].clone())[0]
    expected_kept = set(torch.isfinite(warped).nonzero().flatten().tolist())

    fig = plots.plot_truncation(logits[None], tiny_tokenizer, alternatives=64, **settings)  # all 64 tokens shown
    before, _twin, after = fig.axes[0], fig.axes[2], fig.axes[1]
    id_of = {show_token(tiny_tokenizer.decode([i])): i for i in range(64)}
    shown = [id_of[text] for text in tick_texts(before)]
    colours = [to_rgba(patch.get_facecolor()) for patch in before.patches]
    assert set(colours) <= {to_rgba(BLUE), to_rgba(LIGHT_GREY)}
    assert {i for i, c in zip(shown, colours, strict=True) if c == to_rgba(BLUE)} == expected_kept
    scaled = torch.softmax(logits / settings.get("temperature", 1.0), -1)
    assert heights(before) == pytest.approx(scaled[shown].tolist(), abs=1e-6)
    assert heights(after) == pytest.approx(torch.softmax(warped, -1)[shown].tolist(), abs=1e-6)
    assert f"keeps {len(expected_kept)} of 64" in fig.get_suptitle()


def test_empirical_frequencies_sum_to_one_and_sit_near_the_probabilities(logits, tiny_tokenizer):
    n = 4000
    fig = plots.plot_empirical_vs_model(logits[None], tiny_tokenizer, n=n, seed=3, alternatives=8, temperature=1.5,
                                        top_k=20)
    model_bars, sample_bars = fig.axes[0].containers[:2]
    probs = torch.softmax(TopKLogitsWarper(20)(None, logits[None] / 1.5)[0], -1)
    model = [bar.get_height() for bar in model_bars]
    sample = [bar.get_height() for bar in sample_bars]
    assert model == pytest.approx(top_with_other(probs, 8), abs=1e-6)
    assert sum(sample) == pytest.approx(1.0, abs=1e-6)
    for p, f in zip(model, sample, strict=True):
        assert abs(f - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-9
    assert PROCESSED_LABEL in fig.axes[0].get_title()
    drawn = torch.tensor(sample[:-1], dtype=torch.float32)  # the frequencies of the tokens with a bar
    again = sampling.sample_frequencies(probs[None], n, seed=3)[0]
    assert torch.equal(again, sampling.sample_frequencies(probs[None], n, seed=3)[0])  # the seed fixes the draws
    assert torch.allclose(again[probs.topk(8).indices], drawn)  # the figure shows these draws
    assert again[probs == 0].sum() == 0  # filtered tokens are never drawn


# ---------------------------------------------------------------- a whole generation

def test_heatmap_cells_are_the_recorded_alternatives_and_the_chosen_tokens_are_outlined(sampled):
    k, steps = 6, int(sampled.token_mask[0].sum())
    fig = plots.plot_generation_heatmap(sampled, alternatives=k, which="raw")
    ax = fig.axes[0]
    grid = ax.images[0].get_array()
    assert np.allclose(grid, sampled.raw.probs[0, :steps, :k].numpy())
    cells = [text.get_text() for text in ax.texts]
    ids = sampled.raw.ids[0, :steps, :k].flatten().tolist()
    assert cells == [show_token(sampled.token_text(i), 10) for i in ids]
    outlined = sorted((round(p.get_y() + 0.5), round(p.get_x() + 0.5)) for p in ax.patches)
    ranks = sampled.raw.chosen_rank[0, :steps].tolist()
    assert outlined == [(step, rank) for step, rank in enumerate(ranks) if rank < k]
    assert RAW_LABEL in ax.get_title()
    with pytest.raises(CourseError, match=r"alternatives must be between 1 and 10, .*pass alternatives= to generate"):
        plots.plot_generation_heatmap(sampled, alternatives=11)


@pytest.mark.parametrize("by", ["prob", "rank"])
def test_token_shading_writes_every_token_on_its_colour(sampled, by):
    fig = plots.plot_token_shading(sampled, by=by)
    tokens = [text for text in fig.texts if text.get_bbox_patch() is not None]
    assert [t.get_text() for t in tokens] == [show_token(token, 40) for token in sampled.token_texts(0)]
    steps = len(tokens)
    if by == "prob":
        expected = colormaps["viridis"](sampled.raw.chosen_prob[0, :steps].numpy())
    else:  # ranks 0-9 get a colour each, 10 and above share one
        ranks = np.minimum(sampled.raw.chosen_rank[0, :steps].numpy(), 10)
        expected = colormaps["viridis_r"](BoundaryNorm(np.arange(-0.5, 11), 256)(ranks))
    assert np.allclose([t.get_bbox_patch().get_facecolor() for t in tokens], expected)
    (colorbar,) = fig.axes
    assert RAW_LABEL in colorbar.get_xlabel()
    with pytest.raises(CourseError, match='by must be "prob" or "rank"'):
        plots.plot_token_shading(sampled, by="entropy")


def test_confidence_plots_each_distribution_and_marks_off_top1_picks(sampled):
    steps = int(sampled.token_mask[0].sum())
    fig = plots.plot_confidence(sampled)
    top, bottom = fig.axes
    raw_line, processed_line = top.get_lines()
    assert raw_line.get_label() == RAW_LABEL and processed_line.get_label() == PROCESSED_LABEL
    assert np.allclose(raw_line.get_ydata(), sampled.raw.chosen_prob[0, :steps].numpy())
    assert np.allclose(processed_line.get_ydata(), sampled.processed.chosen_prob[0, :steps].numpy())
    assert np.allclose(bottom.get_lines()[0].get_ydata(), sampled.raw.entropy[0, :steps].numpy())
    marked = top.collections[0].get_offsets()[:, 0].tolist()
    assert marked == [s for s in range(steps) if sampled.raw.chosen_rank[0, s] > 0]
    assert marked  # temperature 1.5 on a random model leaves the top-1 somewhere


# ---------------------------------------------------------------- several runs and beam search

def test_branch_points_are_the_first_differing_step():
    assert search.branch_points([1, 2, 3], {0: [1, 2, 3], 1: [9, 2, 3], 2: [1, 2, 4], 3: [1, 2]}) == {
        0: None, 1: 0, 2: 2, 3: 2}


def test_branches_on_the_real_model_repeat_seeded_generate(offline_model):
    model, tokenizer = offline_model
    prompt = "Once upon a time"
    branches = search.sample_branches(model, tokenizer, prompt, seeds=(0, 1), max_new_tokens=6, temperature=1.0)
    inputs = tokenizer(prompt, return_tensors="pt")
    greedy = model.generate(**inputs, max_new_tokens=6, do_sample=False)[0, inputs.input_ids.shape[1]:]
    assert branches.greedy == greedy.tolist()
    for seed in (0, 1):
        set_seed(seed)
        sample = model.generate(**inputs, max_new_tokens=6, do_sample=True, temperature=1.0)
        assert branches.samples[seed] == sample[0, inputs.input_ids.shape[1]:].tolist()
    points = branches.points
    fig = plot_branch_runs(branches)
    ax = fig.axes[0]
    names = tick_texts(ax, "y")
    assert names[0] == "greedy"
    for name, seed in zip(names[1:], (0, 1), strict=True):
        branch = "(same as greedy)" if points[seed] is None else f"(branches at {points[seed]})"
        assert name == f"seed {seed} {branch}"
    outlined = [(round(p.get_x() + 0.45), round(p.get_y() + 0.35)) for p in ax.patches if p.get_linewidth() > 0
                and to_rgba(p.get_edgecolor()) == to_rgba(VERMILLION)]
    assert outlined == [(points[seed], row) for row, seed in enumerate((0, 1), 1) if points[seed] is not None]


def beam_reference(model, tokenizer, prompt, **settings):
    """generate's own beam search output, called directly."""
    inputs = tokenizer(prompt, return_tensors="pt")
    return model.generate(**inputs, do_sample=False, return_dict_in_generate=True, output_scores=True, **settings)


def test_beam_tree_on_the_real_model_ends_in_generates_sequence(offline_model, tmp_path):
    model, tokenizer = offline_model
    prompt = "A list of colors: red, blue"
    tree = search.beam_search_tree(model, tokenizer, prompt, num_beams=3, max_new_tokens=6)
    reference = beam_reference(model, tokenizer, prompt, num_beams=3, max_new_tokens=6)
    assert tree.prompt_ids + list(tree.final) == reference.sequences[0].tolist()
    assert tree.final_normalized_logprob == pytest.approx(reference.sequences_scores[0].item(), abs=1e-4)
    transition = model.compute_transition_scores(reference.sequences, reference.scores, reference.beam_indices)
    final_node = next(n for n in tree.nodes if n.ids == tree.final)
    assert final_node.cumulative_logprob == pytest.approx(transition[0].sum().item(), abs=1e-3)
    for step in range(tree.steps - 1):
        assert [n.status for n in tree.at_step(step)].count("kept") == 3
    assert any(n.status == "pruned" for n in tree.nodes)
    fig = plots.plot_beam_tree(tree)
    highlighted = [t for t in fig.axes[0].texts if t.get_bbox_patch() is not None
                   and to_rgba(t.get_bbox_patch().get_edgecolor()) == to_rgba(VERMILLION)]
    highlighted.sort(key=lambda text: text.get_position()[0])
    assert [t.get_text().split("\n")[0] for t in highlighted] == [
        show_token(tokenizer.decode([i]), 10) for i in tree.final]
    save_all(fig, tmp_path)


@pytest.mark.parametrize("settings", [
    {"num_beams": 3}, {"num_beams": 4, "num_return_sequences": 2}, {"num_beams": 3, "length_penalty": 0.0},
    {"num_beams": 3, "early_stopping": True}, {"num_beams": 2, "eos_token_id": "frequent"},
    {"num_beams": 3, "eos_token_id": "frequent", "length_penalty": 2.0, "early_stopping": "never"},
    {"num_beams": 2, "eos_token_id": "frequent", "length_penalty": 0.0},  # a 1-token hypothesis wins, search stops
    {"num_beams": 3, "num_return_sequences": 3, "eos_token_id": "frequent", "length_penalty": -1.0},  # padded
], ids=lambda settings: ",".join(f"{k}={v}" for k, v in settings.items()))
def test_beam_tree_replays_generate_on_the_tiny_model(tiny_model, tiny_tokenizer, settings):
    settings = dict(settings, max_new_tokens=10)
    prompt = "the cat"
    if settings.get("eos_token_id") == "frequent":  # an end token beam search meets early, to test finishing
        first = tiny_model(**tiny_tokenizer(prompt, return_tensors="pt")).logits[0, -1]
        settings["eos_token_id"] = int(first.topk(2).indices[1])
    result = generate(tiny_model, tiny_tokenizer, prompt, **settings)
    reference = beam_reference(tiny_model, tiny_tokenizer, prompt, **settings)
    tree = search.BeamTree.from_result(result)
    returned = reference.sequences[0].tolist()
    assert tree.prompt_ids + list(tree.final) == returned[: len(tree.prompt_ids) + len(tree.final)]
    assert set(returned[len(tree.prompt_ids) + len(tree.final):]) <= {tiny_tokenizer.pad_token_id}
    assert tree.final_normalized_logprob == pytest.approx(reference.sequences_scores[0].item(), abs=1e-4)
    assert tree.steps == len(reference.scores)  # the replay stops where generate stopped
    plots.plot_beam_tree(result)


def test_distribution_plots_explain_that_beam_search_has_no_single_distribution(tiny_model, tiny_tokenizer, sampled):
    beams = generate(tiny_model, tiny_tokenizer, "the cat", num_beams=2, max_new_tokens=3)
    with pytest.raises(CourseError, match="beam search"):
        plots.plot_generation_heatmap(beams)
    with pytest.raises(CourseError, match="not come from beam search"):
        plots.plot_beam_tree(sampled)
    with pytest.raises(CourseError, match='which must be "raw"'):
        plots.plot_next_token(sampled, which="logits")
    with pytest.raises(CourseError, match="step must be between"):
        plots.plot_next_token(sampled, step=99)
    with pytest.raises(CourseError, match="alternatives must be a whole number >= 1, got 0"):
        plots.plot_next_token(sampled, alternatives=0)


@pytest.mark.parametrize("plot", ["plot_next_token", "plot_temperatures", "plot_truncation", "plot_empirical_vs_model"])
def test_plots_of_logits_take_batch_by_vocab_and_say_how_to_fix_other_shapes(plot, logits, tiny_tokenizer):
    draw = getattr(plots, plot)
    call = (lambda x, **kw: draw(x, tokenizer=tiny_tokenizer, **kw)) if plot == "plot_next_token" else (
        lambda x, **kw: draw(x, tiny_tokenizer, **kw))
    with pytest.raises(CourseError, match=r"\(batch, vocab\), got \(64,\)\. Add a batch dimension with logits\[None\]"):
        call(logits)
    with pytest.raises(CourseError, match=r"got \(1, 5, 64\)\. .*outputs\.logits\[:, -1, :\]"):
        call(logits.expand(1, 5, 64))
    with pytest.raises(CourseError, match="row must be between 0 and 1, got 2"):
        call(torch.stack([logits, -logits]), row=2)
    two_rows = call(torch.stack([-logits, logits]), row=1)  # the second row is the fixture's logits
    assert heights(two_rows.axes[0]) == heights(call(logits[None]).axes[0])
    assert isinstance(two_rows, Figure)


# ---------------------------------------------------------------- awkward labels, fonts, files

def odd_figures(model, tokenizer):
    """Every plot, drawn on a vocabulary of tokens with $, whitespace and Japanese."""
    set_seed(0)
    prompt = "日本語 $x$ 東京"
    result = generate(model, tokenizer, prompt, max_new_tokens=12, do_sample=True, temperature=3.0)
    logits = model(**tokenizer(prompt, return_tensors="pt")).logits[:, -1, :].detach()  # (1, vocab)
    branches = search.Branches(prompt, [3, 4, 5], {0: [3, 6, 9], 1: [3, 4, 5]}, {"temperature": 3.0}, tokenizer)
    beams = generate(model, tokenizer, prompt, num_beams=3, max_new_tokens=4)
    return {
        "next_token": plots.plot_next_token(logits, tokenizer=tokenizer, alternatives=len(ODD_TOKENS) + 3),
        "temperatures": plots.plot_temperatures(logits, tokenizer, alternatives=8),
        "truncation": plots.plot_truncation(logits, tokenizer, top_p=0.7, alternatives=10),
        "empirical": plots.plot_empirical_vs_model(logits, tokenizer, n=200, alternatives=8),
        "heatmap": plots.plot_generation_heatmap(result),
        "shading": plots.plot_token_shading(result),
        "confidence": plots.plot_confidence(result),
        "branches": plot_branch_runs(branches),
        "beam_tree": plots.plot_beam_tree(beams),
        "raw_vs_processed": plots.plot_raw_vs_processed(result, step=1),
        "memory": plots.plot_memory({"fp32": 538e6, "日本語 $x$": 110e6}, grey=["日本語 $x$"]),
        "kv_cache": plots.plot_kv_cache_timing([0.1, 0.2, 0.3], [0.2, 0.5, 0.9]),
        "throughput": plots.plot_throughput({1: 11.5, 4: 40.2}, {"fp32": 11.5, "$x$": 20.9}),
    }


def test_labels_survive_dollars_whitespace_and_japanese_in_every_plot(odd_world, tmp_path):
    model, tokenizer = odd_world
    figures = odd_figures(model, tokenizer)
    assert all(isinstance(fig, plots.CourseFigure) for fig in figures.values())
    assert plt.get_fignums() == []  # pyplot never sees them: a notebook shows each once, as the cell's value
    bar_labels = set(tick_texts(figures["next_token"].axes[0]))
    assert {"$", "$x$", "a$^$", "↵", "→", "␣猫", "日本語", "␣␣", "東京"} <= bar_labels
    for name, fig in figures.items():
        texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
        assert all(t.get_fontfamily()[:2] == ["DejaVu Sans", "IPAexGothic"] for t in texts), name
        save_all(fig, tmp_path, name)  # "a$^$" as mathtext would raise; a missing glyph would warn


def test_token_labels_make_whitespace_visible_and_shorten_to_14_characters(tiny_tokenizer):
    assert show_token(" the") == "␣the"
    assert show_token("\n\n") == "↵↵"
    assert show_token("\tx\r") == "→x␍"
    assert show_token("") == "∅"
    assert show_token("\x00") == "\\x00"
    assert show_token("$5") == "$5"
    long = "abcdefghijklmnopqrstuvwxyz"
    assert show_token(long, 14) == "abcdefghijklm…"
    ids = tiny_tokenizer(long).input_ids
    assert "".join(token_labels(tiny_tokenizer, ids)) == long  # one character per token here: nothing shortened


def test_importing_the_plots_changes_no_rcparams():
    # dict.items: reading rcParams["backend"] the usual way would import pyplot and pick a backend
    code = ("import sys, matplotlib; values = lambda: dict(dict.items(matplotlib.rcParams)); before = values(); "
            "import llmcourse.plots; assert 'matplotlib.pyplot' not in sys.modules; assert values() == before")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_plot_style_restores_only_its_own_keys(logits, tiny_tokenizer):
    before = dict(matplotlib.rcParams)
    plots.plot_next_token(logits[None], tokenizer=tiny_tokenizer)
    assert dict(matplotlib.rcParams) == before
    with plot_style():
        assert matplotlib.rcParams["font.family"] == ["DejaVu Sans", "IPAexGothic"]
        matplotlib.interactive(not before["interactive"])  # as an inline backend does on its first figure
    assert matplotlib.rcParams["interactive"] != before["interactive"]  # kept: only the style keys go back
    matplotlib.interactive(before["interactive"])
    assert register_cjk_font()
    assert "IPAexGothic" in {font.name for font in matplotlib.font_manager.fontManager.ttflist}


def test_docstring_examples_run():
    names = ["plots", "plots.style", "plots.common", "plots.step", "plots.run", "plots.branches",
             "plots.performance", "search", "sampling"]
    for name in names:
        module = importlib.import_module(f"llmcourse.{name}")
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0, name


def test_colours_are_the_okabe_ito_palette_and_read_only():
    assert COLOURS["blue"] == "#0072B2" and COLOURS["vermillion"] == "#D55E00" and len(COLOURS) == 9
    with pytest.raises(TypeError):
        COLOURS["blue"] = "red"


# ---------------------------------------------------------------- memory and speed (lessons 01 and 06)

def test_memory_bars_are_the_footprints_in_megabytes_first_on_top(tmp_path):
    footprints = {"fp32": 538_000_000, "bf16": 269_000_000, "4-bit, rest fp32": 166_000_000}
    fig = plots.plot_memory(footprints, grey=["4-bit, rest fp32"])
    ax = fig.axes[0]
    assert [bar.get_width() for bar in ax.patches] == [166.0, 269.0, 538.0]  # barh draws bottom up
    assert tick_texts(ax, "y") == ["4-bit, rest fp32", "bf16", "fp32"]
    assert [to_rgba(bar.get_facecolor()) for bar in ax.patches] == [to_rgba(c) for c in (GREY, BLUE, BLUE)]
    assert [text.get_text() for text in ax.texts] == ["166 MB", "269 MB", "538 MB"]
    assert ax.get_title() == "SmolLM2-135M-Instruct loaded three ways"
    assert ax.get_xlabel() == "memory footprint of the weights (MB)"
    assert tuple(fig.get_size_inches()) == (7, 2.8)
    save_all(fig, tmp_path)
    with pytest.raises(CourseError, match="footprints is empty"):
        plots.plot_memory({})


def test_kv_cache_timing_draws_each_clock_against_the_token_count():
    cached, uncached = [0.1, 0.2, 0.3, 0.4], [0.3, 0.7, 1.2, 1.8]
    ax = plots.plot_kv_cache_timing(cached, uncached).axes[0]
    (slow, fast) = ax.get_lines()
    assert (slow.get_label(), fast.get_label()) == ("use_cache=False", "use_cache=True")
    assert list(slow.get_xdata()) == [1, 2, 3, 4] and list(slow.get_ydata()) == uncached
    assert list(fast.get_ydata()) == cached
    assert (to_rgba(slow.get_color()), to_rgba(fast.get_color())) == (to_rgba(VERMILLION), to_rgba(BLUE))
    assert ax.get_title() == "Generating 4 tokens with and without the KV cache (one run on this machine)"
    assert ax.get_xlim() == (0, 5) and ax.get_ylim()[0] == 0


def test_throughput_bars_are_the_rates_by_batch_size_and_by_precision():
    by_batch, by_precision = plots.plot_throughput({1: 11.5, 4: 40.2, 8: 61.0}, {"fp32": 11.5, "bf16": 20.9}).axes
    assert heights(by_batch) == [11.5, 40.2, 61.0] and tick_texts(by_batch) == ["1", "4", "8"]
    assert heights(by_precision) == [11.5, 20.9] and tick_texts(by_precision) == ["fp32", "bf16"]
    assert [text.get_text() for text in by_batch.texts] == ["11.5", "40.2", "61"]
    assert (by_batch.get_title(), by_precision.get_title()) == ("Throughput by batch size", "Throughput by precision")
    assert by_batch.get_ylabel() == "new tokens per second"


# ---------------------------------------------------------------- shown once in a notebook

def test_a_figure_draws_itself_as_png_without_pyplot(logits, tiny_tokenizer):
    fig = plots.plot_next_token(logits[None], tokenizer=tiny_tokenizer)
    assert isinstance(fig, Figure) and plt.get_fignums() == []
    png = fig._repr_png_()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_a_real_kernel_shows_a_bare_plot_once_and_an_assigned_one_not_at_all(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    setup = "from llmcourse.plots import plot_memory, plot_throughput\nimport matplotlib.pyplot as plt"
    cells = [setup,
             "plot_memory({'fp32': 538e6, 'bf16': 269e6})",  # the first figure of a session
             "fig = plot_throughput({1: 11.5}, {'fp32': 11.5})",
             "plt.plot([1, 2]); plot_memory({'fp32': 538e6})",  # once pyplot's inline backend is active too
             "fig"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell) for cell in cells])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
                            ).execute()
    images = [[output for output in cell.outputs if "image/png" in output.get("data", {})] for cell in notebook.cells]
    assert [len(shown) for shown in images] == [0, 1, 0, 2, 1]  # cell 3: pyplot's line plot and the memory plot
    assert images[1][0]["output_type"] == "execute_result"


# ---------------------------------------------------------------- Japanese (notebooks/ja)

LATIN_ALLOWED = {  # words that stay as they are in the Japanese plots: code names, units, tokens of odd_world
    "do_sample", "temperature", "top_k", "top_p", "min_p", "num_beams", "repetition_penalty", "True", "False",
    "top", "nats", "seed", "torch", "multinomial", "the", "unk", "use_cache", "SmolLM", "Instruct", "softmax",
    "logits",  # softmax(logits / T): the formula, in code
}


def english_words(fig) -> set[str]:
    """Latin words of 3+ letters in the texts of a figure (titles, labels, legends, ticks, cells), minus the allowed."""
    texts = [text.get_text() for text in fig.findobj(matplotlib.text.Text)]
    return {word for text in texts for word in re.findall(r"[A-Za-z_]{3,}", text)} - LATIN_ALLOWED


def test_language_is_read_when_a_plot_is_drawn(logits, tiny_tokenizer):
    english = plots.plot_next_token(logits[None], tokenizer=tiny_tokenizer).axes[0]
    set_language("ja")
    try:
        japanese = plots.plot_next_token(logits[None], tokenizer=tiny_tokenizer).axes[0]
    finally:
        set_language("en")
    again = plots.plot_next_token(logits[None], tokenizer=tiny_tokenizer).axes[0]
    assert english.get_title() == again.get_title() == f"Next token at step 0: {RAW_LABEL}"
    assert japanese.get_title() == "ステップ 0 の次のトークン：モデルの分布（生のロジット）"
    assert (english.get_ylabel(), japanese.get_ylabel()) == ("probability", "確率")
    assert raw_label() == RAW_LABEL and other_label() == "all other tokens"


def test_japanese_next_token_and_heatmap_say_everything_in_japanese(sampled, japanese, tmp_path):
    fig = plots.plot_next_token(sampled, step=1)
    ax = fig.axes[0]
    assert ax.get_title().startswith(
        "ステップ 1 の次のトークン：モデルの分布（生のロジット）\n直前のテキスト：hello␣world")
    assert ax.get_ylabel() == "確率"
    assert tick_texts(ax)[-1] == "その他すべてのトークン"
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert legend[0] == "トークン" and legend[1].startswith("選ばれたトークン")
    assert legend[-1] == "その他すべてのトークン（1 − 棒の合計）"
    save_all(fig, tmp_path, "next_token")  # PNG, PDF, SVG: a missing glyph would warn, and warnings are errors

    k = 6
    fig = plots.plot_generation_heatmap(sampled, alternatives=k)
    ax, colorbar = fig.axes
    assert ax.get_title() == ("各ステップの上位 6 トークン：モデルの分布（生のロジット）\n"
                              "do_sample=True、temperature=1.5、top_k=20")
    assert ax.get_xlabel() == "順位（0 = 最も確率が高い）"
    assert ax.get_ylabel() == "ステップ：選ばれたトークン（枠で囲む）"
    assert colorbar.get_ylabel() == "確率"
    ranks = sampled.raw.chosen_rank[0, : int(sampled.token_mask[0].sum())].tolist()
    assert max(ranks) >= k  # some chosen token is off the grid: its row label gives its rank
    assert [label.endswith(f"（順位 {rank}）") for label, rank in zip(tick_texts(ax, "y"), ranks, strict=True)] == [
        rank >= k for rank in ranks]
    save_all(fig, tmp_path, "heatmap")


def test_every_plot_in_japanese_has_no_english_left_and_renders_every_glyph(odd_world, tmp_path):
    model, tokenizer = odd_world
    english = odd_figures(model, tokenizer)
    left_in_english = {name: english_words(fig) for name, fig in english.items()}
    assert all(left_in_english.values()), left_in_english  # the check would see untranslated words
    set_language("ja")
    try:
        figures = odd_figures(model, tokenizer)
    finally:
        set_language("en")
    for name, fig in figures.items():
        assert not english_words(fig), f"{name}: untranslated {sorted(english_words(fig))}"
        save_all(fig, tmp_path, name)
