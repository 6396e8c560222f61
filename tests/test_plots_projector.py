"""Every plot under the projector style, and the figure fixes of issue 11.

`use_projector_style()` is the one call a teacher makes before projecting: every later
figure gets larger fonts and thicker lines, at the same size. Here EVERY ``plot_*``
function of `llmcourse.plots` is drawn under it (read from the package, its arguments
filled by their names), saved as PNG with warnings as errors (a layout that no longer fits warns),
and no text in it is smaller than a slide can show. The other tests pin the fixes of
issue 11: titles name only what generate applied (the default top-k included), cells of
probability 0 stay blank, the top-p line belongs to the cumulative (right) axis, and
token labels are not shortened where the cell has room.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from transformers import set_seed  # noqa: E402

from llmcourse import explore, generate, plots, search  # noqa: E402
from llmcourse.applied import applied_label, applied_settings  # noqa: E402
from llmcourse.client import RequestRun, StreamedReply  # noqa: E402
from llmcourse.i18n import set_language  # noqa: E402
from llmcourse.plots.common import settings_text  # noqa: E402
from llmcourse.plots.style import (  # noqa: E402
    PROJECTOR,
    STYLE,
    label_chars,
    plot_style,
    projector_style,
    use_projector_style,
)
from llmcourse.sampling import process_logits  # noqa: E402
from llmcourse.scoring import score_continuations  # noqa: E402

SMALLEST_ON_A_SLIDE = 11.0  # points: the smallest text a projected figure may hold


@pytest.fixture(autouse=True)
def english_and_no_pyplot():
    set_language("en")
    use_projector_style(False)
    plt.close("all")
    yield
    use_projector_style(False)
    assert plt.get_fignums() == []


@pytest.fixture(scope="module")
def drawn(tiny_model, tiny_tokenizer):
    """The data every plot needs, from the tiny model."""
    set_seed(0)
    prompt = "hello world"
    sampled = generate(tiny_model, tiny_tokenizer, prompt, max_new_tokens=8, do_sample=True, temperature=1.5,
                       top_k=5)
    with torch.no_grad():
        logits = tiny_model(**tiny_tokenizer(prompt, return_tensors="pt")).logits[:, -1, :]  # (1, vocab)
    branches = search.Branches(prompt, [3, 4, 5], {0: [3, 6, 9], 1: [3, 4, 5]}, {"do_sample": True}, tiny_tokenizer)
    beams = generate(tiny_model, tiny_tokenizer, prompt, num_beams=3, max_new_tokens=4)
    scored = score_continuations(tiny_model, tiny_tokenizer, "hello", [" world", " there, world"])
    explorer = explore(tiny_model, tiny_tokenizer, prompt, do_sample=True, top_k=5).run(3).draw(100)
    return {"sampled": sampled, "logits": logits, "branches": branches, "beams": beams, "scored": scored, "explorer": explorer,
            "model": tiny_model, "tokenizer": tiny_tokenizer}


def plot_functions() -> dict:
    """Every function defined in `llmcourse.plots`' modules that returns a figure (exported or not), by name."""
    found = {}
    for info in pkgutil.iter_modules(plots.__path__):
        module = importlib.import_module(f"llmcourse.plots.{info.name}")
        found |= {name: function for name, function in vars(module).items()
                  if inspect.isfunction(function) and function.__module__ == module.__name__
                  and inspect.signature(function).return_annotation in ("Figure", Figure)}
    return found


def example_data(d):
    """A value for each data argument of the plot functions, by its name (the name says what it holds)."""
    return {
        "result_or_logits": d["sampled"], "result": d["sampled"], "tree_or_result": d["beams"],
        "logits": d["logits"], "tokenizer": d["tokenizer"], "model": d["model"], "prompt": "hello",
        "branches": d["branches"], "explorer": d["explorer"],
        "scored": d["scored"],
        "footprints": {"fp32": 538e6, "bf16": 269e6, "4-bit": 110e6},
        "cached": [0.1, 0.2, 0.3], "uncached": [0.2, 0.5, 0.9],
        "batch_rates": {1: 11.5, 4: 40.2}, "precision_rates": {"fp32": 11.5, "bf16": 20.9},
        "speedups": {"k = 2": [0.5, 0.6, 0.4], "prompt lookup": [2.1, 1.8, 2.3]},
    }


SETTINGS = {  # what a plot is called with besides the data above, as in its lesson (and `runs`, which has two shapes)
    "plot_next_token": lambda d: dict(step=1, which="processed"),
    "plot_raw_vs_processed": lambda d: dict(step=1),
    "plot_truncation": lambda d: dict(top_p=0.7),
    "plot_empirical_vs_model": lambda d: dict(n=200),
    "plot_generation_heatmap": lambda d: dict(which="processed"),
    "plot_branches": lambda d: dict(prompt="hello", seeds=(0, 1), max_new_tokens=4),
    "plot_speedups": lambda d: dict(xlabel="draft tokens per pass"),
    "plot_tokens_per_pass": lambda d: dict(runs={"plain greedy": [1, 1, 1, 1], "prompt lookup (10)": [3, 1]}),
    "plot_request_timeline": lambda d: dict(runs={"one after another": RequestRun(
        [StreamedReply("Hi there", ["Hi", " there"], arrived=[0.5, 0.7], seconds=1.0, finish_reason="stop",
                       sent_at=10.0)], seconds=1.0, concurrent=False)}),
}


def draw(name: str, d):
    """Call the plot function ``name`` with its required arguments, filled by their names, and its settings."""
    function = plot_functions()[name]
    settings = SETTINGS.get(name, lambda d: {})(d)
    data = example_data(d)
    required = [parameter.name for parameter in inspect.signature(function).parameters.values()
                if parameter.default is inspect.Parameter.empty
                and parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
                and parameter.name not in settings]
    unknown = [parameter for parameter in required if parameter not in data]
    assert not unknown, f"{name} takes {unknown}: add an example value to example_data() (or SETTINGS)"
    return function(**{parameter: data[parameter] for parameter in required}, **settings)


def every_plot(d):
    """One figure from each plot function of the package, by name."""
    return {name: (lambda name=name: draw(name, d)) for name in plot_functions()}


def font_sizes(fig) -> list[float]:
    """The sizes (points) of every non-empty text drawn in a figure."""
    return [text.get_fontsize() for text in fig.findobj(Text) if text.get_text().strip() and text.get_visible()]


def test_every_plot_function_is_drawn_here(drawn):
    exported = {name for name in plots.__all__ if name.startswith("plot_")}
    assert exported <= set(every_plot(drawn)), "a plot function must return a Figure (and be named plot_*)"
    assert all(name.startswith("plot_") for name in plot_functions()), "a function that draws is named plot_*"
    assert set(SETTINGS) <= set(plot_functions()), f"SETTINGS for no plot function: {set(SETTINGS) - exported}"


def test_every_plot_under_the_projector_style_is_legible_and_fits(drawn, tmp_path):
    before = {key: matplotlib.rcParams[key] for key in {**STYLE, **PROJECTOR}}
    use_projector_style()
    for name, draw in every_plot(drawn).items():
        fig = draw()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "constrained_layout not applied", a missing glyph...
            fig.savefig(tmp_path / f"{name}.png")
        assert min(font_sizes(fig)) >= SMALLEST_ON_A_SLIDE, name
    assert {key: matplotlib.rcParams[key] for key in before} == before  # the learner's rcParams are untouched


def test_projector_style_is_one_switch_and_changes_fonts_not_figure_sizes(drawn):
    draw = every_plot(drawn)["plot_next_token"]
    normal = draw()
    with projector_style():
        projected = draw()
    after = draw()  # the context manager switched it off again
    assert projected.get_size_inches().tolist() == normal.get_size_inches().tolist()
    assert min(font_sizes(projected)) > min(font_sizes(normal)) == min(font_sizes(after))
    assert max(font_sizes(projected)) > max(font_sizes(normal))


# ---------------------------------------------------------------- titles name only what was applied

@pytest.mark.parametrize(("settings", "expected"), [
    ({"do_sample": True}, "sampling distribution (after top_k=50 (default))"),
    ({"do_sample": True, "temperature": 0.7}, "sampling distribution (after temperature=0.7, top_k=50 (default))"),
    ({"do_sample": True, "top_k": None, "top_p": 0.9}, "sampling distribution (after top_p=0.9)"),
    ({"do_sample": True, "top_k": 0}, "sampling distribution (nothing applied: the model distribution)"),
    ({"repetition_penalty": 1.2}, "greedy scores (after repetition_penalty=1.2)"),
    ({"do_sample": False, "temperature": 0.7, "no_repeat_ngram_size": 3},
     "greedy scores (after no_repeat_ngram_size=3)"),
    ({"max_new_tokens": 5}, "greedy scores (nothing applied: the model distribution)"),
])
def test_the_processed_distribution_is_named_by_what_generate_applied(settings, expected):
    assert applied_label(settings) == expected


def test_the_default_top_k_is_what_generate_keeps(tiny_model, tiny_tokenizer):
    """The name says top_k=50 exactly when generate's scores keep 50 tokens (the tiny vocabulary has more than 50)."""
    for settings, kept in (({}, 50), ({"top_k": None}, tiny_model.config.vocab_size), ({"top_k": 0}, None),
                           ({"top_k": 7}, 7)):
        set_seed(0)
        result = generate(tiny_model, tiny_tokenizer, "hello", max_new_tokens=2, do_sample=True, **settings)
        finite = {int(torch.isfinite(scores).sum()) for scores in result.outputs.scores}
        assert finite == {kept or tiny_model.config.vocab_size}
        named = [text for text in applied_settings(result.settings) if text.startswith("top_k=")]
        assert named == ([] if kept in (None, tiny_model.config.vocab_size) else
                         [f"top_k={kept}" + (" (default)" if not settings else "")])
    assert settings_text({"do_sample": True}) == "do_sample=True, top_k=50 (default)"


def test_greedy_with_a_penalty_is_not_titled_as_sampling(tiny_model, tiny_tokenizer):
    result = generate(tiny_model, tiny_tokenizer, "hello world", max_new_tokens=4, repetition_penalty=1.3)
    left, right = plots.plot_raw_vs_processed(result, step=1).axes
    assert right.get_title().startswith("greedy scores (after repetition_penalty=1.3)")
    assert "temperature" not in right.get_title() and "top-k" not in right.get_title()
    heatmap = plots.plot_generation_heatmap(result, which="processed").axes[0]
    assert heatmap.get_title().startswith("Top 8 tokens per step: greedy scores (after repetition_penalty=1.3)")


def test_truncation_and_temperature_titles_name_their_own_settings(drawn):
    fig = plots.plot_truncation(drawn["logits"], drawn["tokenizer"], top_p=0.7, temperature=0.8)
    assert fig.axes[1].get_title().startswith("After: sampling distribution (after temperature=0.8, top_p=0.7)")
    fig = plots.plot_temperatures(drawn["logits"], drawn["tokenizer"])
    assert "top-k" not in fig.get_suptitle() and "no truncation" in fig.get_suptitle()
    fig = plots.plot_empirical_vs_model(drawn["logits"], drawn["tokenizer"], n=100, temperature=0.5)
    assert "(after temperature=0.5)" in fig.axes[0].get_title()


# ---------------------------------------------------------------- cells, lines and labels

def test_heatmap_cells_of_probability_zero_are_blank(drawn):
    result = drawn["sampled"]  # top_k=5: ranks 5 and up have probability 0 in the processed distribution
    ax = plots.plot_generation_heatmap(result, which="processed", alternatives=8).axes[0]
    image = ax.get_images()[0].get_array()
    steps = int(result.token_mask[0].sum())
    zero = result.processed.probs[0, :steps, :8].numpy() == 0
    assert zero[:, 5:].all() and not zero[:, :5].any()
    assert np.array_equal(np.ma.getmaskarray(image), zero)  # masked: drawn in the "bad" colour, white
    cell_texts = [t for t in ax.texts if t.get_text()]
    assert len(cell_texts) == int((~zero).sum())  # no label on an empty cell
    assert "blank = probability 0" in ax.get_title()


def test_top_p_line_is_on_the_cumulative_axis_and_marks_the_cut(drawn):
    logits = torch.randn(1, drawn["model"].config.vocab_size, generator=torch.Generator().manual_seed(0)) * 1.5
    # spread so that top_p=0.7 cuts inside the 20 bars drawn
    fig = plots.plot_truncation(logits, drawn["tokenizer"], top_p=0.7, alternatives=20)
    left, right, twin = fig.axes
    assert twin.get_ylabel() == "cumulative probability"
    horizontal = [line for line in twin.get_lines() if line.get_label().startswith("top_p")]
    assert len(horizontal) == 1 and horizontal[0].get_ydata()[0] == 0.7  # on the 0-1 cumulative axis
    assert not [line for line in left.get_lines() if line.get_label().startswith("top_p")]
    kept = int(torch.isfinite(process_logits(logits, top_p=0.7)).sum())
    assert 1 < kept < 20
    vertical = [line.get_xdata()[0] for line in left.get_lines() if line.get_linestyle() == "--"]
    assert vertical == [kept - 0.5]  # the dashed cut sits between the last kept and the first dropped bar


def test_heatmap_labels_are_not_shortened_where_the_cell_has_room():
    with plot_style():
        assert label_chars(13) == 13  # "␣entrepreneur" (13 characters) fits a heatmap cell whole
    use_projector_style()
    with plot_style():
        assert label_chars(13) < 13  # larger letters, same cell: shorter labels
