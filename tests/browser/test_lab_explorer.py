"""The next-token explorer (`llmcourse.explore`) as a learner uses it: in JupyterLab, with the mouse and keyboard.

A two-cell notebook (set_language, load_model; then ``explore(...)`` as the cell's value) is run with
Run > Run All Cells in headless Chromium, in English and in Japanese. Then, in the page:

- the temperature slider's handle is focused and moved with the arrow keys (1.00 → 0.70): its readout
  shows the new value, the processed bars change and the model's own bars do not;
- the button of the second bar (not the most likely token) is clicked: the text gains one token, that one;
- undo takes it away again;
- a token by hand, "most likely", "sample" (undone) and "draw 100": the text grows and the draw ticks show;
- no cell shows an error and the explorer's message line stays empty.

With ``LLMCOURSE_SCREENSHOTS=<folder>`` (``make screenshots``: docs/) the widget, at its final state, is
saved as ``<folder>/explorer.<lang>.png``; otherwise under the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from lab_ui import STATE_JS, cell_errors, executed, finished, poll, start_run_all, wait_for, wait_until_open

RUN_TIMEOUT_S = float(os.environ.get("LLMCOURSE_BROWSER_TIMEOUT", "75"))  # Run All, seconds
ACTION_TIMEOUT_S = 30  # one click or key press, until the widget shows its effect (one forward pass at most)
PROMPT = "A list of colors: red, blue"
JAPANESE = re.compile("[ぁ-んァ-ヶ一-龯]")
EXPLORER = ".jp-NotebookPanel:not(.lm-mod-hidden) .llmc-explorer"
ACTIONS = ["most_likely", "sample", "run", "undo", "reset", "draw"]  # the buttons above the bars
LEFT_PRESSES, TEMPERATURE = 6, "0.70"  # 1.00 - 6 steps of 0.05

# The bars shown (rows not hidden), top to bottom: the token on the button and the bar's numbers.
BARS_JS = f"""() => [...document.querySelectorAll('{EXPLORER} .llmc-row')]
  .filter(row => getComputedStyle(row).display !== 'none')
  .map(row => {{
    const bar = row.querySelector('.llmc-bar');
    return {{label: row.querySelector('button').textContent, raw: bar ? bar.dataset.raw : null,
             processed: bar ? bar.dataset.processed : null}};
  }})"""
TOKENS_JS = f"() => [...document.querySelectorAll('{EXPLORER} .llmc-text .llmc-token')].map(s => s.textContent)"
# Everything else the test reads: the readout, the action buttons, the message line, the ticks, the whole text.
VIEW_JS = f"""() => {{
  const ACTIONS = {json.dumps(ACTIONS)};
  const box = document.querySelector('{EXPLORER}');
  if (!box) return null;
  const text = sel => (box.querySelector(sel) || {{}}).textContent || '';
  return {{
    readout: text('.llmc-temperature .widget-readout'),
    actions: ACTIONS.map(name => text('button.llmc-' + name)),
    message: text('.llmc-message').trim(),
    ticks: box.querySelectorAll('.llmc-drawn').length,
    all: box.textContent,
  }};
}}"""


def _code(source: str, index: int) -> dict:
    return {"cell_type": "code", "id": f"explorer-{index}", "metadata": {}, "execution_count": None, "outputs": [],
            "source": source}


def write_notebook(folder: Path, lang: str) -> Path:
    """The notebook a lesson would have: load the model, then the explorer as the cell's value."""
    cells = [_code(f"from llmcourse import explore, load_model, set_language\n\nset_language({lang!r})\n"
                   "model, tokenizer = load_model()", 0),
             _code(f"explore(model, tokenizer, {PROMPT!r}, do_sample=True)", 1)]
    notebook = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                             "language_info": {"name": "python"}}}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "explorer.ipynb"
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return path


class Timer:
    """Seconds per step, printed at the end."""

    def __init__(self) -> None:
        self.last, self.steps = time.monotonic(), []

    def __call__(self, step: str) -> None:
        now = time.monotonic()
        self.steps.append((step, now - self.last))
        self.last = now

    def __str__(self) -> str:
        return ", ".join(f"{step} {seconds:.1f} s" for step, seconds in self.steps)


def tokens(page) -> list[str]:
    return page.evaluate(TOKENS_JS)


def click_and_wait(page, button, count: int) -> list[str]:
    """Click ``button`` and wait until the text holds ``count`` new tokens; return them."""
    button.click()
    return poll(page, TOKENS_JS, lambda shown: len(shown) == count, ACTION_TIMEOUT_S,
                f"{count} new token(s) in the text after clicking {button}")


def move_temperature(page, before: list[dict]) -> list[dict]:
    """Focus the temperature slider's handle and press ArrowLeft; return the bars once they have changed."""
    handle = page.locator(f"{EXPLORER} .llmc-temperature [role=slider]")
    handle.focus()
    for _ in range(LEFT_PRESSES):
        handle.press("ArrowLeft")
    poll(page, VIEW_JS, lambda view: view["readout"] == TEMPERATURE, ACTION_TIMEOUT_S,
         f"the temperature readout to show {TEMPERATURE}")
    # The last key press reaches the kernel last: wait for the bars of the final value, named as set
    # (temperature=0.7, not the 0.7000000000000001 the browser's float steps add up to).
    named = re.compile(rf"temperature={float(TEMPERATURE):g}(?![0-9])")
    poll(page, VIEW_JS, lambda view: named.search(view["all"]), ACTION_TIMEOUT_S,
         f"the settings line to name {named.pattern}")
    return poll(page, BARS_JS, lambda bars: [b["processed"] for b in bars] != [b["processed"] for b in before],
                ACTION_TIMEOUT_S, "the processed bars to change")


def save_screenshot(page, lang: str, folder: Path) -> Path:
    """The widget alone (a few pixels of margin), tall enough a window that all of it is on screen."""
    explorer = page.locator(EXPLORER)
    height = explorer.bounding_box()["height"]
    page.set_viewport_size({"width": 1280, "height": max(900, int(height) + 400)})
    explorer.scroll_into_view_if_needed()
    page.mouse.move(0, 0)  # no hover shade on the last button clicked
    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # nor a focus ring
    page.wait_for_timeout(300)  # let the last layout and paint settle
    box = explorer.bounding_box()
    margin = 8
    path = folder / f"explorer.{lang}.png"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), clip={"x": box["x"] - margin, "y": box["y"] - margin,
                                          "width": box["width"] + 2 * margin, "height": box["height"] + 2 * margin})
    return path


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_explorer_widget_answers_the_mouse_and_keyboard(lang, lab_server, browser_page, tmp_path):
    notebook = write_notebook(tmp_path / "notebooks", lang)
    lab = lab_server(notebook.parent)
    page, timer = browser_page, Timer()
    page.goto(lab.lab_url(notebook.name))
    wait_until_open(page, 2)
    timer("open")
    start_run_all(page)
    state = wait_for(page, finished, RUN_TIMEOUT_S, "both cells to run")
    errors = cell_errors(state)
    assert not errors, f"cell {errors[0][0]} shows an error:\n{errors[0][1]}"
    bars = poll(page, BARS_JS, lambda shown: len(shown) >= 2, ACTION_TIMEOUT_S, "the explorer's bars")
    timer("run all")

    view = page.evaluate(VIEW_JS)
    labels_in_language = (lambda label: JAPANESE.search(label)) if lang == "ja" else str.isascii
    assert all(view["actions"]) and all(map(labels_in_language, view["actions"])), view["actions"]
    assert view["readout"] == "1.00" and tokens(page) == [], (view, tokens(page))

    # The temperature, moved from the keyboard: the processed bars change, the model's do not.
    moved = move_temperature(page, bars)
    assert [b["raw"] for b in moved] == [b["raw"] for b in bars], "the model's own distribution changed"
    assert moved[0]["processed"] > bars[0]["processed"], "a lower temperature should sharpen the top token"
    assert page.evaluate(VIEW_JS)["readout"] == TEMPERATURE
    timer("temperature")

    # The second bar's button: not the most likely token, and it is the one appended.
    second = page.locator(f"{EXPLORER} .llmc-row").nth(1).locator("button")
    label = second.text_content()
    assert float(moved[1]["processed"]) < float(moved[0]["processed"]), moved[:2]
    assert label == moved[1]["label"] and label != moved[0]["label"], (label, moved[:2])
    text_before = page.locator(f"{EXPLORER} .llmc-text").text_content()
    assert click_and_wait(page, second, 1) == [label]
    assert page.locator(f"{EXPLORER} .llmc-text").text_content().startswith(text_before.split(PROMPT)[0] + PROMPT)
    timer("take the second bar")

    undo = page.locator(f"{EXPLORER} button.llmc-undo")
    assert click_and_wait(page, undo, 0) == []
    assert page.locator(f"{EXPLORER} .llmc-text").text_content() == text_before
    assert undo.is_disabled(), "undo should be off with no token to undo"
    timer("undo")

    # For the picture: a token by hand, then the most likely one; a sample, undone; then 100 draws.
    click_and_wait(page, page.locator(f"{EXPLORER} .llmc-row").nth(1).locator("button"), 1)
    click_and_wait(page, page.locator(f"{EXPLORER} button.llmc-most_likely"), 2)
    click_and_wait(page, page.locator(f"{EXPLORER} button.llmc-sample"), 3)
    click_and_wait(page, undo, 2)
    page.locator(f"{EXPLORER} button.llmc-draw").click()
    view = poll(page, VIEW_JS, lambda shown: shown["ticks"] > 0, ACTION_TIMEOUT_S, "the draw ticks")
    timer("four actions and 100 draws")

    folder = Path(os.environ.get("LLMCOURSE_SCREENSHOTS") or tmp_path)
    screenshot = save_screenshot(page, lang, folder)
    timer("screenshot")
    print(f"\nscreenshot: {screenshot}\n{lang}: {timer}")

    state = page.evaluate(STATE_JS)
    errors = cell_errors(state)
    assert not errors, f"cell {errors[0][0]} shows an error:\n{errors[0][1]}"
    assert all(executed(c["prompt"]) for c in state["cells"] if c["code"]), state
    assert view["message"] == "", f"the explorer's message line shows: {view['message']}"
