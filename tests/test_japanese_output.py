"""A learner running a Japanese lesson sees no English sentence from the course (issue 16).

Every path below runs after ``set_language("ja")`` (the CLI: ``LLMCOURSE_LANG=ja``) and a
learner meets it in a lesson: the course's errors for bad input, the cache's status and the
fetch's progress lines, the tables of the hand-written loop, the doctor's report, the
command line's help and errors, the figures and the Colab install cell. `leaks` reads what
was shown: it must hold Japanese, and no run of four English words outside code (backticks,
quotes, 「」 quotations, identifiers, calls, paths, URLs). Model output is never checked.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from llmcourse import (  # noqa: E402
    BeamTree,
    CourseError,
    cache,
    checkup,
    constrain,
    explore,
    format_batch,
    format_steps,
    generate,
    generate_by_hand,
    generation_steps,
    limits,
    load_model,
    loading,
    offline,
    plots,
    quantization_config,
    sampling,
    score_continuations,
)
from llmcourse.cli import main  # noqa: E402
from llmcourse.client import RequestRun, StreamedReply, stream_chat  # noqa: E402
from llmcourse.explorer_text import format_explorer  # noqa: E402
from llmcourse.i18n import set_language  # noqa: E402
from llmcourse.precision import pick_device  # noqa: E402
from llmcourse.serving import start_server  # noqa: E402
from scripts.colab import INSTALL_TAG, install_cell, notebook_language, update_notebook  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
JAPANESE = re.compile(r"[ぁ-んァ-ヶ一-龯]")
QUOTED = re.compile(r"`[^`\n]*`|「[^」]*」|(?<![A-Za-z])'[^'\n]*'(?![A-Za-z])|\"[^\"\n]*\"|https?://\S+")
CODE = re.compile(r"[=_/\\<>*$@#|~+\d]|\w[.(\[{]\w|^[-(\[{]|[)\]}]\W*\w")  # identifiers, calls, paths, numbers, options
WORD = re.compile(r"[A-Za-z][a-z]*(?:'[a-z]+)?")
EDGES = ",.;:!?\"'()[]{}「」（）、。："


def english_runs(text: str, words: int = 4) -> list[str]:
    """Runs of ``words`` or more English words in ``text``, code and quotations left out.

    >>> english_runs("Offline model ready at /tmp/cache")
    ['Offline model ready at']
    >>> english_runs("`python -m llmcourse fetch` を実行してください（'A list of colors: red, blue'）")
    []
    """
    runs, current = [], []
    for token in QUOTED.sub(" ", text).split():
        core = token.strip(EDGES)
        if WORD.fullmatch(core) and not CODE.search(token.strip(",.;:!?")) and not JAPANESE.search(token):
            current.append(core)
            continue
        if len(current) >= words:
            runs.append(" ".join(current))
        current = []
    return runs + ([" ".join(current)] if len(current) >= words else [])


def leaks(text: str) -> list[str]:
    """Why ``text`` is not what a Japanese lesson should show: no Japanese at all, or English sentences."""
    return ([] if JAPANESE.search(text) else [f"no Japanese in {text!r}"]) + english_runs(text)


def test_the_check_sees_english_and_lets_code_through():
    assert english_runs("The prompt has 9,000 tokens, more than this model's context")
    assert leaks("not fetched yet") == ["no Japanese in 'not fetched yet'"]
    assert not leaks("model.generate(**inputs, max_new_tokens=...) を自分で呼び出してください。")
    assert not leaks("Hugging Face Hub はここから接続できません（HF_HUB_OFFLINE=1）。")
    assert not leaks("ログの最後の行：「address already in use by another process」")


@pytest.fixture(autouse=True)
def japanese():
    """Every test runs in Japanese, and English comes back after it (even when it fails)."""
    set_language("ja")
    try:
        yield
    finally:
        set_language("en")


def error_text(call) -> str:
    """The message of the CourseError that ``call()`` raises."""
    with pytest.raises(CourseError) as raised:
        call()
    return str(raised.value)


@pytest.fixture
def hub_off(monkeypatch):
    """No hub: nothing is in its cache and it does not answer (loading never waits for a network)."""
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr(loading, "in_hub_cache", lambda repo_id: False)
    monkeypatch.delenv("LLMCOURSE_MODEL", raising=False)


LOADING = {  # name -> call(tmp_path): a mistake made while loading, as lessons 00 and 01 show them
    "not a name": lambda tmp: load_model(123),
    "no such folder": lambda tmp: load_model("./no-such-model"),
    "hub unreachable (lesson 00)": lambda tmp: load_model("HuggingFaceTB/SmolLM2-360M-Instruct"),
    "a .gguf file": lambda tmp: load_model(str(touch(tmp / "model.gguf"))),
    "a folder without a model": lambda tmp: load_model(str(tmp), quantization=None),
    "quantization misspelt": lambda tmp: quantization_config("4-bit", "cpu"),
    "unknown device": lambda tmp: pick_device("tpu"),
}


def touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("name", LOADING)
def test_loading_errors_are_japanese(name, hub_off, tmp_path):
    message = error_text(lambda: LOADING[name](tmp_path))
    assert not leaks(message), message


@pytest.fixture(scope="module")
def tiny_kit(tiny_model, tiny_tokenizer):
    """The tiny model and tokenizer, and what a learner has at hand (and mixes up)."""
    return SimpleNamespace(model=tiny_model, tokenizer=tiny_tokenizer,
                           ids=tiny_tokenizer(["abc"], return_tensors="pt").input_ids,
                           steps=generation_steps(tiny_model, tiny_tokenizer, "abc", max_new_tokens=2),
                           result=generate(tiny_model, tiny_tokenizer, "abc", max_new_tokens=2))


GENERATING = {  # name -> call(tiny_kit): a mistake made while generating (lessons 03-05, 07)
    "model and tokenizer swapped": lambda k: generate(k.tokenizer, k.model, "abc"),
    "no prompt": lambda k: generate(k.model, k.tokenizer, None),
    "an empty prompt": lambda k: generate(k.model, k.tokenizer, [""]),
    "a number as the prompt": lambda k: generate(k.model, k.tokenizer, 3),
    "token ids as the prompt": lambda k: generate(k.model, k.tokenizer, [[5, 6]]),
    "a chat message as the prompt": lambda k: generate(k.model, k.tokenizer, {"role": "user", "content": "hi"}),
    "temperature without sampling": lambda k: generate(k.model, k.tokenizer, "abc", temperature=0.7),
    "top_p out of range": lambda k: generate(k.model, k.tokenizer, "abc", do_sample=True, top_p=1.5),
    "too many new tokens": lambda k: generate(k.model, k.tokenizer, "abc", max_new_tokens=5000),
    "beyond the context": lambda k: generate(k.model, k.tokenizer, "abc", max_new_tokens=1000),
    "a prompt longer than the context": lambda k: generate(k.model, k.tokenizer, "a" * 200),
    "max_length below the prompt": lambda k: generate(k.model, k.tokenizer, "abcdef", max_length=2),
    "both lengths": lambda k: generate(k.model, k.tokenizer, "abc", max_new_tokens=2, max_length=9),
    "another library's name": lambda k: generate(k.model, k.tokenizer, "abc", seed=0),
    "a setting generate sets": lambda k: generate(k.model, k.tokenizer, "abc", output_scores=True),
    "alternatives out of range": lambda k: generate(k.model, k.tokenizer, "abc", alternatives=0),
    "chat without a template": lambda k: generate(k.model, k.tokenizer, "abc", chat=True),
    "a length that is not a number": lambda k: generate(k.model, k.tokenizer, "abc", max_new_tokens="5"),
    "too big a record": lambda k: limits.require_record_size(k.model, k.tokenizer, 10**6, 100, {}),
    "1-D ids by hand": lambda k: generate_by_hand(k.model, k.ids[0], max_new_tokens=2),
    "the whole encoding by hand": lambda k: generate_by_hand(k.model, k.tokenizer(["abc"]), max_new_tokens=2),
    "a mask of the wrong shape": lambda k: generate_by_hand(k.model, k.ids, k.ids[:, :1], max_new_tokens=2),
    "no new tokens by hand": lambda k: generate_by_hand(k.model, k.ids, max_new_tokens=0),
    "a batch of texts to follow": lambda k: generation_steps(k.model, k.tokenizer, ["a", "b"], max_new_tokens=2),
    "an unknown setting to follow": lambda k: generation_steps(k.model, k.tokenizer, "abc", max_new_tokens=2, k=3),
    "one step to format": lambda k: format_steps(k.steps[0]),
    "a result to format": lambda k: format_steps(k.result),
    "a number to format": lambda k: format_steps(3),
    "negative temperature": lambda k: sampling.apply_temperature(torch.zeros(1, 4), -1.0),
    "top_k of 0": lambda k: sampling.top_k_filter(torch.zeros(1, 4), 0),
    "min_p out of range": lambda k: sampling.min_p_filter(torch.zeros(1, 4), 2.0),
    "1-D logits": lambda k: sampling.require_logits(torch.zeros(4)),
    "3-D logits": lambda k: sampling.require_logits(torch.zeros(1, 2, 4)),
    "integer logits": lambda k: sampling.require_logits(torch.zeros(1, 4, dtype=torch.long)),
    "an unknown sampling setting": lambda k: sampling.sampling_probs(torch.zeros(1, 4), top=3),
    "n of 0 samples": lambda k: sampling.sample_frequencies(torch.ones(1, 4) / 4, 0),
    "a bad pattern": lambda k: constrain.RegexLogitsProcessor(k.tokenizer, "[0-9", prompt_length=0),
    "a penalty that is not a number": lambda k: constrain.PresenceFrequencyPenalty("high", prompt_length=0),
    "an empty prompt to score": lambda k: score_continuations(k.model, k.tokenizer, "", [" a"]),
    "no continuations to score": lambda k: score_continuations(k.model, k.tokenizer, "abc", " a"),
    "not a beam search": lambda k: BeamTree.from_result(k.result),
}


@pytest.mark.parametrize("name", GENERATING)
def test_generating_errors_are_japanese(name, tiny_kit):
    message = error_text(lambda: GENERATING[name](tiny_kit))
    assert not leaks(message), message


PLOTTING = {  # name -> call(tiny_kit): a figure asked for with the wrong data (lessons 01, 03, 05-09)
    "steps to a heatmap": lambda k: plots.plot_generation_heatmap(k.steps),
    "logits to a heatmap": lambda k: plots.plot_generation_heatmap(torch.zeros(1, 4)),
    "no result": lambda k: plots.plot_confidence(None),
    "a row out of range": lambda k: plots.plot_next_token(k.result, row=3),
    "a step out of range": lambda k: plots.plot_next_token(k.result, step=9),
    "a distribution that does not exist": lambda k: plots.plot_next_token(k.result, which="logits"),
    "too many alternatives": lambda k: plots.plot_generation_heatmap(k.result, alternatives=50),
    "logits without a tokenizer": lambda k: plots.plot_next_token(torch.zeros(1, 64)),
    "the model instead of logits": lambda k: plots.plot_temperatures(k.model, k.tokenizer),
    "a result instead of logits": lambda k: plots.plot_truncation(k.result, k.tokenizer, top_p=0.9),
    "shading by the wrong thing": lambda k: plots.plot_token_shading(k.result, by="entropy"),
    "memory as a list": lambda k: plots.plot_memory([538e6]),
    "no memory": lambda k: plots.plot_memory({}),
    "no runs to draw": lambda k: plots.plot_tokens_per_pass({}),
    "a run that is not a list": lambda k: plots.plot_speedups({"lookup": 2.0}),
    "no requests": lambda k: plots.plot_request_timeline({}),
    "a run that is not a RequestRun": lambda k: plots.plot_request_timeline({"one": [1.0]}),
    "no scored answers": lambda k: plots.plot_token_surprisal([1.0]),
}


@pytest.mark.parametrize("name", PLOTTING)
def test_plotting_errors_are_japanese(name, tiny_kit):
    message = error_text(lambda: PLOTTING[name](tiny_kit))
    assert not leaks(message), message


def test_serving_errors_are_japanese(tmp_path):
    for call in (lambda: stream_chat("localhost:8765", "hi"),  # not a URL
                 lambda: stream_chat("http://127.0.0.1:1/v1", "hi", timeout=5),  # nothing listens there
                 lambda: stream_chat("http://127.0.0.1:1/v1", 42),  # not messages
                 lambda: start_server(tmp_path),  # a folder without a model
                 lambda: start_server(port=70000)):
        message = error_text(call)
        assert not leaks(message), message


# ---------------------------------------------------------------- the cache and the fetch (lesson 00)

def test_cache_status_before_a_fetch_and_its_problems(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    status = offline.cache_status()
    assert not status.ready and not leaks(status.detail), status.detail
    (offline.checkpoint_dir() / offline.MANIFEST).parent.mkdir(parents=True)
    (offline.checkpoint_dir() / offline.MANIFEST).write_text("{not json")
    assert not leaks(offline.cache_status().detail)
    lines: list[str] = []
    assert offline.verify_checkpoint(repair=False, progress=lines.append)
    assert all(not leaks(line) for line in lines), lines


def test_a_ready_cache_says_so(course_env):
    lines: list[str] = []
    offline.fetch(progress=lines.append)
    assert offline.cache_status().detail == "準備できています"
    assert lines and all(not leaks(line) for line in lines), lines


def test_fetch_progress_and_a_corrupt_source(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    source = touch(tmp_path / "model.gguf")
    lines: list[str] = []
    message = error_text(lambda: offline.fetch(source=source, progress=lines.append))
    assert lines and all(not leaks(line) for line in lines + [message]), lines + [message]
    message = error_text(lambda: offline.fetch(source=tmp_path / "missing.whl", progress=lines.append))
    assert not leaks(message), message


def test_who_must_fetch_a_cache_this_learner_cannot_write(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(offline, "can_write", lambda path: False)
    monkeypatch.setattr(cache, "can_write", lambda path: False)
    message = error_text(lambda: offline.fetch(progress=lambda line: None))
    assert "LLMCOURSE_CACHE=" in message and not leaks(message), message


# ---------------------------------------------------------------- tables and reports

def test_format_steps_and_format_batch_headers(tiny_kit):
    table = format_steps(tiny_kit.steps)
    assert table.splitlines()[0].split() == ["ステップ", "トークン", "確率", "確率の高い候補"]
    assert not leaks(table.splitlines()[0])
    batch = format_batch(tiny_kit.tokenizer, tiny_kit.tokenizer(["ab", "abc"], padding=True))
    assert not leaks(" ".join(line[:12] for line in batch.splitlines()))  # the labels, not the tokens


def word_columns(line: str) -> list[int]:
    """The display column where each space-separated word of ``line`` starts (a wide character takes two).

    >>> word_columns("トークン  id")
    [0, 10]
    """
    width = [2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line]  # measured here, not by the library
    return [sum(width[:match.start()]) for match in re.finditer(r"\S+", line)]


def assert_aligned(lines: list[str], columns: slice) -> None:
    """The words in ``columns`` of every line start at the same display columns."""
    starts = {tuple(word_columns(line)[columns]) for line in lines}
    assert len(starts) == 1, "\n".join(lines)


def test_tables_line_up_by_display_width(tiny_kit):
    """Japanese labels take two columns a character: each table's columns start at one display column on every row."""
    assert_aligned(format_steps(tiny_kit.steps).splitlines(), slice(1, 4))  # token, probability, first candidate
    batch = format_batch(tiny_kit.tokenizer, tiny_kit.tokenizer(["ab", "abcd"], padding=True)).splitlines()
    positions = len(tiny_kit.tokenizer(["ab", "abcd"], padding=True).input_ids[0])
    for start in range(0, len(batch), 3):  # a row's token, id and mask lines: the name column, then each position
        assert_aligned(batch[start:start + 3], slice(-positions - 1, None))
    report = checkup.format_report([checkup.Probe("python", "ok", "3.11.7"), checkup.Probe("offline model", "fail",
                                    "まだ取得されていません", "fetch"), checkup.Probe("hub", "warn", "オフライン")])
    details = {word_columns(line)[0 if line.startswith(" ") else 2] for line in report.splitlines()}  # fix: too
    assert len(details) == 1, report
    table = format_explorer(explore(tiny_kit.model, tiny_kit.tokenizer, "abc", do_sample=True).draw(4))
    assert_aligned(table.splitlines()[-6:], slice(0, 4))  # token, model, processed, share of draws


def test_the_doctor_report_before_a_fetch(course_env, tmp_path):
    course_env.setenv(cache.CACHE_ENV, str(tmp_path))
    out = io.StringIO()
    assert checkup.doctor(out) is False
    lines = out.getvalue().splitlines()
    assert all(not leaks(line) for line in lines if line.split()[1] not in ("python", "transformers")), lines
    assert not english_runs(out.getvalue())


def test_probe_model_choice_names_the_model_in_japanese(course_env):
    """Lesson 00 shows this line: '✘ モデル  $LLMCOURSE_MODEL = ハブのモデル ...', its label included."""
    course_env.setenv("LLMCOURSE_MODEL", "HuggingFaceTB/SmolLM2-360M-Instruct")
    course_env.setattr(loading, "in_hub_cache", lambda repo_id: False)
    report = checkup.format_report([checkup.probe_model_choice(reachable=False)])
    assert report.startswith("✘ モデル") and not leaks(report), report


def test_pick_dtypes_reasons_lesson_01():
    from llmcourse import pick_dtypes

    for dtypes in (pick_dtypes("cpu"), pick_dtypes("cuda", (7, 5), "Tesla T4"), pick_dtypes("cuda", (8, 0), "A100")):
        assert not leaks(dtypes.reason), dtypes.reason


# ---------------------------------------------------------------- the command line

def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m llmcourse ARGS`` with ``LLMCOURSE_LANG=ja``, as a learner types it in a Japanese terminal."""
    environ = {**os.environ, "LLMCOURSE_LANG": "ja", "PYTHONIOENCODING": "utf-8", **(env or {})}
    return subprocess.run([sys.executable, "-m", "llmcourse", *args], capture_output=True, text=True,
                          encoding="utf-8", env=environ, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("args", [["--help"], ["fetch", "--help"], ["doctor", "--help"], ["cook"], [],
                                  ["fetch", "--bogus"]], ids=" ".join)
def test_cli_help_and_usage_errors(args):
    done = cli(*args)
    text = done.stdout + done.stderr
    assert done.returncode == (0 if "--help" in args else 2), text
    assert text.startswith("使い方：python -m llmcourse") and not leaks(text), text


def test_cli_fetch_error_is_one_japanese_line(tmp_path):
    done = cli("fetch", "--source", str(tmp_path / "missing.whl"), env={cache.CACHE_ENV: str(tmp_path)})
    assert done.returncode == 1 and done.stderr.startswith("エラー：") and "Traceback" not in done.stderr
    assert not leaks(done.stdout + done.stderr), done.stdout + done.stderr


def test_cli_in_process_follows_set_language(course_env, capsys):
    assert main(["fetch"]) == 0
    out = capsys.readouterr().out
    assert not leaks(out), out


# ---------------------------------------------------------------- figures

def figure_texts(fig) -> list[str]:
    """Every text of a figure: titles, labels, legends, ticks."""
    return [text.get_text() for text in fig.findobj(matplotlib.text.Text) if text.get_text().strip()]


def test_figures_of_plain_numbers(tiny_kit):
    reply = StreamedReply("Hi", ["Hi"], arrived=[0.5], seconds=1.0, finish_reason="stop", sent_at=0.0)
    figures = {
        "memory": plots.plot_memory({"fp32": 538e6, "4-bit": 110e6}),
        "kv cache": plots.plot_kv_cache_timing([0.1, 0.2], [0.2, 0.5]),
        "throughput": plots.plot_throughput({1: 11.5, 4: 40.2}, {"fp32": 11.5, "bf16": 20.9}),
        "tokens per pass": plots.plot_tokens_per_pass({"greedy": [1, 1, 1], "lookup": [3]}),
        "speed-ups": plots.plot_speedups({"lookup": [2.1, 1.8]}),
        "timeline": plots.plot_request_timeline({"one": RequestRun([reply], seconds=1.0, concurrent=False)}),
        "next token": plots.plot_next_token(tiny_kit.result, step=0),
        "truncation": plots.plot_truncation(torch.randn(1, 64), tiny_kit.tokenizer, top_p=0.9, temperature=0.7),
    }
    for name, fig in figures.items():
        texts = figure_texts(fig)
        assert [run for text in texts for run in english_runs(text)] == [], f"{name}: {texts}"
        assert any(JAPANESE.search(text) for text in texts), f"{name}: {texts}"


# ---------------------------------------------------------------- the Colab install cell

def test_the_install_cell_speaks_the_language_of_its_folder():
    assert notebook_language(ROOT / "notebooks" / "ja" / "03_generating.ipynb") == "ja"
    assert notebook_language(ROOT / "notebooks" / "ja" / "exercises" / "03_generating.ipynb") == "ja"
    assert notebook_language(ROOT / "notebooks" / "03_generating.ipynb") == "en"
    english, japanese = install_cell("en"), install_cell("ja")
    said = re.compile(r"#.*|RuntimeError\(f\"[^\"]*\"\)")  # comments and messages: everything else is code
    assert said.sub("", english) == said.sub("", japanese)
    for text in said.findall(japanese):
        assert not leaks(text), text
    lesson = ROOT / "notebooks" / "ja" / "00_setup.ipynb"
    cells = json.loads(update_notebook(lesson))["cells"]
    source = "".join(next(c for c in cells if INSTALL_TAG in c["metadata"].get("tags", []))["source"])
    assert source == japanese


def test_a_leak_is_caught(monkeypatch, tiny_kit):
    """Put English back into one message: the check fails on it."""
    monkeypatch.setattr(limits, "say", lambda *, en, ja: en)
    message = error_text(lambda: GENERATING["temperature without sampling"](tiny_kit))
    assert leaks(message) == ["no Japanese in " + repr(message), *english_runs(message)] and english_runs(message)
