"""The explorer's widget: the text so far, the next-token bars, the settings and the actions.

Core ipywidgets only (HTML, buttons, sliders, boxes), which JupyterLab and Colab render with
no extension of their own. A slider move calls `Explorer.set`, which re-applies the
processors to the logits already computed: no forward pass. Each row starts with the token's button: a click
appends that token. A course error from an action is shown under the buttons, never as a
stack trace.

Where widgets do not render (GitHub, the HTML handouts, a notebook reopened without its
kernel), the same output carries a picture of the bars (`llmcourse.plots.next_token_bars`) and a
table (`explorer_text.format_explorer`), both of the state the cell ended in.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from .errors import CourseError, first_line
from .explorer_settings import RANGES
from .explorer_text import (
    ended_line,
    format_explorer,
    how,
    prob_text,
    prompt_text,
    settings_label,
    state_line,
    token_label,
    token_line,
)
from .i18n import say

BAR_PX = 360  # width of a bar at probability 1
RAW, PROCESSED, DRAWN, REMOVED = "#999999", "#0072B2", "#E69F00", "#D55E00"  # the course's Okabe-Ito colours


def _slider(name: str, value: float, description: str) -> Any:
    """A slider over the setting's range (`RANGES`): it cannot be moved past the range the methods accept."""
    import ipywidgets as widgets

    low, high, step = RANGES[name]
    kind = widgets.IntSlider if isinstance(step, int) else widgets.FloatSlider
    slider = kind(value=value, min=low, max=high, step=step, description=description, continuous_update=True,
                  style={"description_width": "150px"}, layout=widgets.Layout(width="420px"))
    slider.add_class(f"llmc-{name.replace('_', '-')}")
    return slider


class ExplorerView:
    """The widget of one `Explorer`; `refresh` redraws it from the explorer's state."""

    def __init__(self, explorer: Any) -> None:
        import ipywidgets as widgets

        self.explorer = explorer
        s = explorer.settings
        self.sample_box = widgets.Checkbox(value=s["do_sample"], description="do_sample", indent=False)
        self.sample_box.add_class("llmc-do-sample")
        self.sliders = {
            "temperature": _slider("temperature", s["temperature"], "temperature"),
            "top_k": _slider("top_k", s["top_k"], say(en="top_k (0 = off)", ja="top_k（0 でオフ）")),
            "top_p": _slider("top_p", s["top_p"], say(en="top_p (1 = off)", ja="top_p（1 でオフ）")),
            "min_p": _slider("min_p", s["min_p"], say(en="min_p (0 = off)", ja="min_p（0 でオフ）")),
            "repetition_penalty": _slider("repetition_penalty", s["repetition_penalty"], "repetition_penalty"),
            "bars": _slider("bars", explorer.bars, say(en="bars", ja="棒の数")),
        }
        self.steps = _slider("steps", 5, say(en="steps per run", ja="一度に進めるステップ"))
        self.seed = widgets.BoundedIntText(value=explorer.seed, min=RANGES["seed"][0], max=RANGES["seed"][1],
                                           description=say(en="seed", ja="シード"),
                                           layout=widgets.Layout(width="200px"))
        self.seed.add_class("llmc-seed")
        self._syncing = False  # True while refresh copies the explorer's settings into the controls
        self.buttons = {name: widgets.Button(description=label, layout=widgets.Layout(width="auto"))
                        for name, label in _button_labels().items()}
        for name, button in self.buttons.items():
            button.add_class(f"llmc-{name}")
            button.on_click(lambda _, name=name: self._act(name))
        for name, control in [("do_sample", self.sample_box), ("seed", self.seed), *self.sliders.items()]:
            control.observe(lambda change, name=name: self._set(name, change["new"]), names="value")
        self.text, self.info, self.message = widgets.HTML(), widgets.HTML(), widgets.HTML()
        self.text.add_class("llmc-text")
        self.message.add_class("llmc-message")
        self.rows = [self._row() for _ in range(2 * RANGES["bars"][1])]
        self.bars = widgets.VBox([row for row, _, _ in self.rows])
        self.widget = widgets.VBox([self.text, self.info, widgets.HBox(list(self.buttons.values())),
                                    widgets.HBox([self.steps, self.seed]), self.message, self.bars,
                                    widgets.HTML(_legend()), self.sample_box, *self.sliders.values()])
        self.widget.add_class("llmc-explorer")
        explorer._views.append(self)  # redrawn whenever the explorer changes
        self.refresh()

    def _row(self) -> tuple[Any, Any, Any]:
        """One bar: a button with the token (a click appends it) and the bars drawn in HTML."""
        import ipywidgets as widgets

        button = widgets.Button(layout=widgets.Layout(width="140px"))
        bar = widgets.HTML()
        row = widgets.HBox([button, bar], layout=widgets.Layout(display="none"))
        row.add_class("llmc-row")
        button.on_click(lambda b: self._act("take", b.token_id))
        return row, button, bar

    # --- events ------------------------------------------------------------------------------------------
    def _set(self, name: str, value: Any) -> None:
        """A control moved: the explorer re-applies its processors (no forward pass) and every view redraws.

        A float slider's value is rounded first: the browser adds up steps in binary floats (1.0 + 3 × 0.05 is
        1.1500000000000001), and the labels would show every digit of it.
        """
        if self._syncing:
            return
        if isinstance(value, float):
            value = round(value, 6)
        with _one_thread():
            self._guarded(lambda: self.explorer.set(**{name: value}))

    def _act(self, name: str, token_id: int | None = None) -> None:
        """A button: take, most likely, sample, run, undo, reset or draw."""
        e = self.explorer
        actions = {"take": lambda: e.take(token_id), "most_likely": e.take_most_likely, "sample": e.sample,
                   "run": lambda: e.run(self.steps.value), "undo": e.undo, "reset": e.reset,
                   "draw": lambda: e.draw(100)}
        self._guarded(actions[name])

    def _guarded(self, action: Any) -> None:
        """Run an action; a course error becomes the message line (and the state stays as it was)."""
        try:
            action()
            self.message.value = ""
        except CourseError as error:
            self.message.value = f"<span style='color:{REMOVED}'>{html.escape(str(error))}</span>"
        except Exception as error:  # a widget callback's error would only reach JupyterLab's log console
            self.message.value = f"<span style='color:{REMOVED}'>{html.escape(unexpected(error))}</span>"

    # --- drawing -----------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw the text, the bars and the state line; enable only the actions that can run."""
        e = self.explorer
        self._sync_controls()
        self.text.value = text_html(e)
        sampling = e.settings["do_sample"]
        for name in ("temperature", "top_k", "top_p", "min_p"):
            self.sliders[name].disabled = not sampling
        self.buttons["undo"].disabled = not e.taken
        for name in ("most_likely", "sample", "run", "draw"):
            self.buttons[name].disabled = e.finished or (name in ("sample", "draw") and not sampling)
        self.buttons["sample"].description = _button_labels(e.seed)["sample"]
        if e.finished:
            self.info.value = f"<b>{html.escape(ended_line(e))}</b>"
            for row, _, _ in self.rows:
                row.layout.display = "none"
            return
        step = e.next_token()
        self.info.value = info_html(e, step)
        self._draw_rows(step)

    def _sync_controls(self) -> None:
        """Show the explorer's settings in the controls (they may have been set by a method call)."""
        e = self.explorer
        self._syncing = True
        try:
            self.sample_box.value, self.seed.value = e.settings["do_sample"], e.seed
            for name, slider in self.sliders.items():
                wanted = e.bars if name == "bars" else e.settings[name]
                if abs(slider.value - wanted) > 1e-9:  # not the slider's own float sum (0.9500000000000001):
                    slider.value = wanted  # an echo would move the handle under the learner's keys
        finally:
            self._syncing = False

    def _draw_rows(self, step: Any) -> None:
        """Fill the row widgets with the current bars; hide the rows not needed."""
        e = self.explorer
        ids = step.rows(e.bars)
        removed = e.removed_by(ids)
        total = float(e.draws.sum()) if e.draws is not None else 0.0
        for index, (row, button, bar) in enumerate(self.rows):
            if index >= len(ids):
                row.layout.display = "none"
                continue
            token_id = ids[index]
            drawn = float(e.draws[token_id]) / total if total else None
            button.token_id = token_id
            button.description = token_label(e.tokenizer, token_id, 16)
            button.tooltip = say(en=f"append this token (id {token_id})", ja=f"このトークンを追加（ID {token_id}）")
            bar.value = bar_html(float(step.raw[token_id]), float(step.processed[token_id]),
                                 removed.get(token_id), drawn)
            row.layout.display = "flex"


@contextmanager
def _one_thread() -> Iterator[None]:
    """Torch on one thread while a slider redraws: its small operations over the vocabulary wait for every
    thread, and on a busy machine (a shared classroom server) that wait takes a move past 100 ms (`make bench`)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def unexpected(error: Exception) -> str:
    """What the message line says about an error that is not the course's own."""
    return say(en=f"Unexpected error ({type(error).__name__}): {first_line(error)}. Press reset to start over "
                  "from the prompt.",
               ja=f"予期しないエラー（{type(error).__name__}）：{first_line(error)}。リセットを押すと、プロンプトから"
                  "やり直せます。")


def _button_labels(seed: int = 0) -> dict[str, str]:
    """The action buttons, in the lesson's language."""
    return {"most_likely": say(en="most likely", ja="最も確率が高いもの"),
            "sample": say(en=f"sample (seed {seed})", ja=f"サンプリング（シード {seed}）"),
            "run": say(en="run steps", ja="ステップ実行"),
            "undo": say(en="undo", ja="元に戻す"),
            "reset": say(en="reset", ja="リセット"),
            "draw": say(en="draw 100", ja="100 回抽選")}


def text_html(explorer: Any) -> str:
    """The prompt in grey, then each new token on its own shade; hover shows its probabilities and rank."""
    spans = []
    for index, t in enumerate(explorer.taken):
        shade = "#cfe3f3" if index % 2 == 0 else "#e6f0f8"
        hover = say(en=f"p {prob_text(t.prob)} (model {prob_text(t.raw_prob)}), rank {t.rank} in the model's "
                       f"distribution, {how(t.how)}",
                    ja=f"確率 {prob_text(t.prob)}（モデル {prob_text(t.raw_prob)}）、モデルの分布での順位 {t.rank}、"
                       f"{how(t.how)}")
        ended = t.id in explorer.eos_ids
        shown = "⏹ EOS" if ended else html.escape(token_label(explorer.tokenizer, t.id, None))
        style = f"background:{'#f4c7b8' if ended else shade};padding:0 1px;border-radius:2px"
        spans.append(f"<span class='llmc-token' title='{html.escape(hover)}' style='{style}'>{shown}</span>")
    line = html.escape(token_line(explorer)) if explorer.taken else ""
    return (f"<div style='font-family:monospace;font-size:15px;line-height:1.7'>"
            f"<span style='color:#777'>{html.escape(prompt_text(explorer))}</span>{''.join(spans)}</div>"
            f"<div style='color:#555;font-size:12px'>{line}</div>")


def bar_html(raw: float, processed: float, removed: str | None, drawn: float | None) -> str:
    """Two bars for one token (model above, processed below), the share of the draws as a tick.

    A token never drawn gets no tick: a tick at 0 would read as the start of a bar.
    """
    numbers = f"{prob_text(raw)} → " + (f"✕ {html.escape(say(en=f'removed by {removed}', ja=f'{removed} で除外'))}"
                                        if removed else prob_text(processed))
    tick = "" if not drawn else (
        f"<div class='llmc-drawn' style='position:absolute;left:{drawn * BAR_PX:.1f}px;top:0;width:3px;"
        f"height:26px;background:{DRAWN}'></div>")
    strike = _hatch(REMOVED) if removed else ""
    return (f"<div class='llmc-bar' data-raw='{raw:.6f}' data-processed='{processed:.6f}' "
            f"style='position:relative;height:28px;width:{BAR_PX + 230}px'>"
            f"<div style='position:absolute;top:2px;height:10px;width:{raw * BAR_PX:.1f}px;background:{RAW}'></div>"
            f"<div class='llmc-processed' style='position:absolute;top:14px;height:10px;"
            f"width:{(processed if not removed else raw) * BAR_PX:.1f}px;"
            f"background:{PROCESSED if not removed else 'none'};{strike}'></div>{tick}"
            f"<span style='position:absolute;left:{BAR_PX + 8}px;top:5px;font-size:12px'>{numbers}</span></div>")


def _hatch(colour: str) -> str:
    """The stripes of a token a filter removed (its bar and its legend swatch)."""
    return f"background:repeating-linear-gradient(45deg,{colour} 0 2px,transparent 2px 5px);"


def _legend() -> str:
    """What the bars mean; an item wraps to the next line whole, never inside its label."""
    items = [(f"background:{RAW}", say(en="model distribution (raw logits)", ja="モデルの分布（生のロジット）")),
             (f"background:{PROCESSED}", say(en="processed: greedy takes its top token, sampling draws from it",
                                             ja="処理後：貪欲デコーディングはその最上位を選び、サンプリングはここから抽選")),
             (f"background:{DRAWN}", say(en="share of the draws (draw 100)", ja="抽選した割合（100 回抽選）")),
             (_hatch(REMOVED), say(en="hatched: removed by a filter", ja="斜線：フィルターで除外"))]
    return "<div style='font-size:12px'>" + " ".join(
        f"<span style='white-space:nowrap;margin-right:12px'><span style='display:inline-block;width:12px;"
        f"height:10px;{swatch}'></span> {html.escape(label)}</span>" for swatch, label in items) + "</div>"


def info_html(explorer: Any, step: Any) -> str:
    """The settings label, then the state line's parts (and the draws), each part kept on one line."""
    parts = state_line(explorer, step).split(" · ")
    if explorer.draws is not None:
        n = int(explorer.draws.sum())
        parts.append(say(en=f"{n} draws (seed {explorer.seed})", ja=f"{n} 回抽選（シード {explorer.seed}）"))
    return html.escape(settings_label(explorer.settings)) + "".join(
        f" · <span style='white-space:nowrap'>{html.escape(part)}</span>" for part in parts)


def mimebundle(explorer: Any) -> dict[str, Any]:
    """The live widget, plus a picture and a table of the same state for wherever widgets do not render."""
    from .plots.next_token_bars import plot_explorer

    if not explorer._views:
        ExplorerView(explorer)
    bundle = explorer._views[0].widget._repr_mimebundle_()
    bundle = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
    bundle["text/plain"] = format_explorer(explorer)
    bundle["image/png"] = plot_explorer(explorer)._repr_png_()
    return bundle
