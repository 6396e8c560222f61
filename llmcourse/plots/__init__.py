"""Plots for the lessons: what a language model considered at each step, and what it costs.

Every function takes data and returns a `matplotlib.figure.Figure` of a fixed size:
end a notebook cell with the call and the figure shows once (assign it to a name and
it shows nothing); ``fig.savefig("x.pdf")`` (or .svg, .png) writes it. Titles say
which distribution is drawn:

- the model distribution: the softmax of the raw logits (``which="raw"``);
- the processed distribution (``which="processed"``): after what generate applied, named in the
  title from the settings used (``top_k=50 (default)`` when sampling without top_k).

Titles, axis labels and legends follow `llmcourse.i18n.set_language` ("en" or "ja"),
read when a figure is drawn.

Modules by what is drawn: `step` (one generation step: logits ``(batch, vocab)`` or a
`GenerationResult`), `run` (a whole generation), `branches` (several runs: seeded
samples and beam search, with their data from `llmcourse.search`), `surprisal` (how likely given
answers are, token by token, with their data from `llmcourse.scoring`), `performance`
(memory and speed, lessons 01 and 06), `speedups` (tokens per forward pass and speed-ups of
faster decoding, lesson 08), `timeline` (requests to a server, lesson 09), `next_token_bars` (the
next-token explorer's state, where its widget does not render; lessons 03 and 05);
`style` (colours, fonts, `new_figure`) and `common` (labels, checks, token bars) serve
them all. ``use_projector_style()`` (or ``with projector_style():``) draws later figures
for a projector (`llmcourse.plots.style`).

Every name here draws (tests/test_namespaces.py keeps it so): the data a figure shows comes
from the module that computes it, e.g. ``from llmcourse import beam_search_tree``.
"""

from .branches import plot_beam_tree, plot_branches
from .performance import plot_kv_cache_timing, plot_memory, plot_throughput
from .run import plot_confidence, plot_generation_heatmap, plot_token_shading
from .speedups import plot_speedups, plot_tokens_per_pass
from .step import plot_empirical_vs_model, plot_next_token, plot_raw_vs_processed, plot_temperatures, plot_truncation
from .style import CourseFigure
from .surprisal import plot_token_surprisal
from .timeline import plot_request_timeline

__all__ = [
    # one step
    "plot_next_token", "plot_raw_vs_processed", "plot_temperatures", "plot_truncation", "plot_empirical_vs_model",
    # a whole generation
    "plot_generation_heatmap", "plot_confidence", "plot_token_shading",
    # several runs: seeded samples and beam search (lesson 05)
    "plot_branches", "plot_beam_tree",
    # how likely given texts are (lesson 07)
    "plot_token_surprisal",
    # memory and speed (lessons 01 and 06)
    "plot_memory", "plot_kv_cache_timing", "plot_throughput",
    # faster decoding (lesson 08)
    "plot_tokens_per_pass", "plot_speedups",
    # a server at work (lesson 09)
    "plot_request_timeline",
    # what every plot function returns
    "CourseFigure",
]
