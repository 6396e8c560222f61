"""The look shared by every plot: colours, fonts, and figures that a notebook shows once.

Nothing happens at import time: `plot_style` registers the Japanese font and applies
the style only while a figure is built, so a learner's own rcParams are never touched.

- Colours are Okabe-Ito (safe for colour-blind readers), by name in `COLOURS`;
  colour maps are viridis.
- Fonts: DejaVu Sans first, IPAexGothic (from matplotlib-fontja) as the fallback
  for Japanese and other CJK text: Japanese tokens, and the Japanese titles and
  labels drawn after ``set_language("ja")``.
- Figures are `CourseFigure`s, made without pyplot: a plot function's figure shows
  once, as the value of the cell, and not at all when it is assigned to a name.
- Token text is never parsed as math (tokens contain ``$``): `set_token_ticks`.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure

# Okabe & Ito (2008), "Color Universal Design"
BLUE, ORANGE, VERMILLION, GREEN = "#0072B2", "#E69F00", "#D55E00", "#009E73"
SKY, PURPLE, YELLOW, GREY, LIGHT_GREY = "#56B4E9", "#CC79A7", "#F0E442", "#999999", "#DDDDDD"
COLOURS = MappingProxyType({
    "blue": BLUE, "orange": ORANGE, "vermillion": VERMILLION, "green": GREEN, "sky": SKY,
    "purple": PURPLE, "yellow": YELLOW, "grey": GREY, "light_grey": LIGHT_GREY,
})
CMAP = "viridis"

CJK_FONT = "IPAexGothic"
FONT_FAMILY = ["DejaVu Sans", CJK_FONT]  # matplotlib falls back glyph by glyph along this list
STYLE = {
    "font.family": FONT_FAMILY,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "svg.fonttype": "path",  # SVGs show the same glyphs without the fonts installed
}
BASE_FONT_SIZE = STYLE["font.size"]  # explicit sizes in the plots are written for this size: see `points`
PROJECTOR = {  # on top of STYLE while `use_projector_style` is on: read from the back of a classroom
    "font.size": 16,
    "axes.titlesize": 17,
    "axes.labelsize": 16,
    "axes.linewidth": 1.5,
    "xtick.major.width": 1.5,
    "ytick.major.width": 1.5,
    "lines.linewidth": 2.5,
    "lines.markersize": 8,
    "patch.linewidth": 1.2,
    "hatch.linewidth": 1.5,
    "figure.dpi": 150,
}
_projector = {"on": False}  # switched by use_projector_style; read each time a figure is drawn


class CourseFigure(Figure):
    """A matplotlib Figure that a notebook shows as a PNG when it is the value of a cell.

    It is not registered with pyplot, so the inline backend does not show it a second
    time at the end of the cell. ``fig.savefig("x.pdf")`` (or .svg, .png) works as usual.

    >>> fig = CourseFigure(figsize=(2, 1))
    >>> fig._repr_png_()[:4]
    b'\\x89PNG'
    """

    def _repr_png_(self) -> bytes:
        """The PNG that IPython displays (as the inline backend draws it: tight bounding box)."""
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


@lru_cache(maxsize=1)
def register_cjk_font() -> bool:
    """Add matplotlib-fontja's IPAexGothic to matplotlib's font list; False if it is not installed.

    matplotlib-fontja is not imported: importing it would change the global rcParams.

    >>> register_cjk_font()  # doctest: +SKIP
    True
    """
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        return False
    path = Path(spec.submodule_search_locations[0]) / "fonts" / "ipaexg.ttf"
    if not path.is_file():
        return False
    font_manager.fontManager.addfont(str(path))
    return True


@contextmanager
def plot_style() -> Iterator[None]:
    """Apply the course style while the block runs; the caller's values of those settings come back after it.

    Only the keys of `STYLE` (and `PROJECTOR`) are restored (``rc_context`` would also undo the
    ``interactive`` flag that a notebook's inline backend sets when a first figure is made).

    >>> with plot_style():
    ...     fig, ax = new_figure((4, 3))  # Japanese text in it falls back to IPAexGothic
    """
    register_cjk_font()
    style = {**STYLE, **PROJECTOR} if _projector["on"] else STYLE
    saved = {key: matplotlib.rcParams[key] for key in style}
    matplotlib.rcParams.update(style)
    try:
        yield
    finally:
        matplotlib.rcParams.update(saved)


def use_projector_style(on: bool = True) -> None:
    """Draw every later course figure for a projector: larger fonts, thicker lines, sharper pixels.

    One call at the top of a notebook switches it on for the session; ``use_projector_style(False)``
    switches it off; `projector_style` does it for one block. Figure sizes stay the same.

    >>> use_projector_style()
    >>> with plot_style():
    ...     points(8)
    12.8
    >>> use_projector_style(False)
    """
    _projector["on"] = bool(on)


@contextmanager
def projector_style() -> Iterator[None]:
    """The projector style (`use_projector_style`) for the figures drawn inside the block only.

    >>> with projector_style():
    ...     fig = plot_memory({"fp32": 538e6, "4-bit": 110e6})  # doctest: +SKIP
    """
    before = _projector["on"]
    _projector["on"] = True
    try:
        yield
    finally:
        _projector["on"] = before


def label_chars(chars: int) -> int:
    """How many characters of a token fit in a cell that holds ``chars`` in the course style (fewer on a projector).

    >>> with plot_style():
    ...     label_chars(13)
    13
    """
    return max(4, round(chars * BASE_FONT_SIZE / float(matplotlib.rcParams["font.size"])))


def points(size: float) -> float:
    """A font size written for the course style, scaled to the style in force (larger under the projector style).

    >>> with plot_style():
    ...     points(8)
    8.0
    """
    return size * float(matplotlib.rcParams["font.size"]) / BASE_FONT_SIZE


def new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    """A figure of a fixed size with a grid of axes (none if nrows is 0), laid out by matplotlib.

    Call it inside `plot_style()`: fonts are fixed when the texts are created. Other
    keyword arguments go to ``Figure.subplots`` (``sharey=True``...). End the cell with
    ``fig`` to show it; pyplot never sees it, so there is nothing to close.

    >>> with plot_style():
    ...     fig, (left, right) = new_figure((6, 3), ncols=2)
    ...     _ = left.bar(["a", "b"], [1, 2], color=COLOURS["blue"])
    >>> fig
    <CourseFigure size 600x300 with 2 Axes>
    """
    fig = CourseFigure(figsize=figsize, layout="constrained" if nrows else None)
    return fig, fig.subplots(nrows, ncols, **kwargs) if nrows else None


def set_token_ticks(ax: Any, positions: Sequence[float], labels: Sequence[str], *, axis: str = "x",
                    rotation: float = 0, fontsize: float | None = None) -> None:
    """Put token labels on an axis as plain text (never math), rotated if asked.

    >>> with plot_style():
    ...     fig, ax = new_figure((4, 3))
    ...     set_token_ticks(ax, [0, 1], ["$5", "␣cat"])
    """
    setter = ax.set_xticks if axis == "x" else ax.set_yticks
    align = {"ha": "right", "rotation_mode": "anchor"} if axis == "x" and rotation else {}
    setter(list(positions), list(labels), parse_math=False, rotation=rotation, fontsize=fontsize, **align)


def text_colour(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads better on a background colour.

    >>> text_colour((0.0, 0.0, 0.2, 1.0)), text_colour((1.0, 1.0, 0.8, 1.0))
    ('white', 'black')
    """
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
