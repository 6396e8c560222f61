"""Benchmarks for the course, measured on the machine that runs them (`make bench`).

Not tests: no number here passes or fails, but a row that breaks (a lesson that raises, a compile that
fails) is marked FAILED and makes the run exit 1. Each section prints rows of one table and the whole
run is saved to ``benchmarks/results/<hostname>-<date>.json``:

- overhead: plain ``model.generate`` vs ``llmcourse.generate`` (which also keeps
  every step's top-k), same prompt, greedy, 64 new tokens;
- throughput: tokens/s and footprint for fp32, bf16, 8-bit and 4-bit at batch 1, 4
  and 16, next to the memory-bandwidth ceiling of each (bytes read per token over
  the measured copy bandwidth);
- llama.cpp on the same GGUF, when ``llama_cpp`` (llama-cpp-python) is importable;
- faster decoding (lesson 08): plain greedy vs prompt lookup vs assisted decoding with a
  16-bit draft, on an answer that copies its prompt and on free text: tokens/s, speed-up
  over plain greedy (median and min-max of paired runs), forward passes, and whether the
  ids are plain greedy's; plus llama.cpp on the same prompt when importable;
- torch.compile (only with ``--compile``: minutes on a small CPU): compile time of the
  first call with a static cache, and the speed after it, against eager;
- CUDA, when a GPU is present: fp16 vs 4-bit NF4 and their distance to the ceiling;
- explorer: ``llmcourse.explore`` on PROMPT (3 tokens taken, sampling on) with its widget view
  attached, so the redraw counts: a slider move of each control (``ExplorerView._set``: the
  processors and the widget's new values, no frontend) against the issue's 100 ms, a new token
  (``take_most_likely``) against one plain forward pass on a KV cache at the same length, and
  an undo; each with the forward passes the explorer counted;
- course: every lesson ``notebooks/NN_*.ipynb`` executed headless, on copies in a
  temporary folder (the notebooks themselves are never written).

Times are medians of repeated runs after a warm-up, with the min-max spread.

    .venv/bin/python benchmarks/run.py             # full run, about 13 minutes on 2 cores
    .venv/bin/python benchmarks/run.py --quick     # smoke test, about 4 minutes
    .venv/bin/python benchmarks/run.py --compile   # also time torch.compile (a few more minutes)
    .venv/bin/python benchmarks/run.py --only explorer --quick   # one section (repeat --only for more)

``--only`` runs just the sections named: overhead, precision (the throughput grid), faster,
compile, llama.cpp, cuda, explorer, course (compile and course too, when named); it saves
``<hostname>-<date>-only-<sections>.json``, so a full run's file is not overwritten.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import gc
import itertools
import json
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PROMPT = "A list of colors: red, blue"
BATCH_PROMPTS = [  # distinct lengths, so batches really are left-padded
    PROMPT, "1, 2, 3", "The capital of France is", "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):", "A, B, C, D, E", "The best way to learn a language is", "Water boils at",
]
NEW_TOKENS = 64


# ---------------------------------------------------------------- timing and table

@dataclass
class Stats:
    """Seconds of repeated runs (after warm-up): median and spread."""

    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def summary(self) -> dict[str, float]:
        return {"median_s": self.median, "min_s": min(self.seconds), "max_s": max(self.seconds),
                "runs": len(self.seconds)}


@dataclass
class Row:
    """One line of the printed table (and of the JSON file)."""

    section: str
    name: str
    batch: int | None = None
    tokens_per_s: float | None = None
    tokens_per_s_range: tuple[float, float] | None = None  # (slowest run, fastest run)
    seconds: dict[str, float] | None = None
    memory_mb: float | None = None
    ceiling_tokens_per_s: float | None = None  # memory-bandwidth limit at batch 1
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def sync() -> None:
    """Wait for queued GPU work, so the clock measures it."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def measure(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> Stats:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        fn()
        sync()
        seconds.append(time.perf_counter() - started)
    return Stats(seconds)


def throughput_row(section: str, name: str, batch: int, stats: Stats, **kwargs: Any) -> Row:
    """A row whose speed is new tokens (all rows of the batch) per second."""
    tokens = batch * NEW_TOKENS
    return Row(section, name, batch, tokens / stats.median,
               (tokens / max(stats.seconds), tokens / min(stats.seconds)), stats.summary(), **kwargs)


def print_row(row: Row) -> None:
    """Print one table line as soon as it is measured."""
    speed = f"{row.tokens_per_s:8.1f}" if row.tokens_per_s is not None else " " * 8
    spread = (f"{row.tokens_per_s_range[0]:6.1f}-{row.tokens_per_s_range[1]:<6.1f}"
              if row.tokens_per_s_range else " " * 13)
    if row.tokens_per_s is None and row.seconds and row.seconds["median_s"] < 1:  # an action of the explorer
        speed = f"{row.seconds['median_s'] * 1e3:6.1f}ms"
        spread = f"{row.seconds['min_s'] * 1e3:5.1f}-{row.seconds['max_s'] * 1e3:.1f}ms".ljust(13)
    elif row.tokens_per_s is None and row.seconds:
        speed = f"{row.seconds['median_s']:7.1f}s"
        spread = f"{row.seconds['min_s']:5.1f}-{row.seconds['max_s']:<5.1f}s "
    batch = f"{row.batch:>5}" if row.batch is not None else " " * 5
    memory = f"{row.memory_mb:8.0f}" if row.memory_mb is not None else " " * 8
    ceiling = f"{row.ceiling_tokens_per_s:7.0f}" if row.ceiling_tokens_per_s is not None else " " * 7
    print(f"{row.section:<10} {row.name:<34} {batch} {speed} {spread} {memory} {ceiling}  {row.note}", flush=True)


def print_header() -> None:
    print(f"{'section':<10} {'what':<34} {'batch':>5} {'tok/s':>8} {'(min-max)':<13} {'MB':>8} "
          f"{'ceiling':>7}  note")
    print("-" * 110)


# ---------------------------------------------------------------- machine facts

def machine_info() -> dict[str, Any]:
    """What the numbers depend on: CPU, threads, versions, GPU."""
    import torch
    import transformers

    info: dict[str, Any] = {
        "hostname": socket.gethostname(), "python": platform.python_version(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "cpu": _cpu_model(), "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
                                           "MKL_CBWR") if k in os.environ},
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_at_start": os.getloadavg(),
    }
    try:
        from llmcourse.quiet import silence_bitsandbytes

        silence_bitsandbytes()
        import bitsandbytes

        info["bitsandbytes"] = bitsandbytes.__version__
    except ImportError:
        pass
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def copy_bandwidth(device: str, megabytes: int = 512, repeats: int = 10) -> float:
    """Memory bandwidth in bytes/s from a big tensor copy (each copy reads and writes it once)."""
    import torch

    src = torch.ones(megabytes * 2**20 // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    stats = measure(lambda: dst.copy_(src), repeats, warmup=2)
    return 2 * src.nbytes / min(stats.seconds)  # best run: the hardware's reach


# ---------------------------------------------------------------- models

def load(precision: str, device: str = "cpu") -> tuple[Any, Any]:
    """The offline model in one precision: fp32, bf16, fp16, 8bit or 4bit."""
    import torch

    from llmcourse import load_model

    quantization = precision if precision in ("4bit", "8bit") else None
    model, tokenizer = load_model(quantization=quantization, device=device)
    if precision in ("bf16", "fp16"):
        model = model.to(torch.bfloat16 if precision == "bf16" else torch.float16)
    return model.eval(), tokenizer


def weight_bytes(model: Any) -> int:
    """Bytes of all parameters and buffers, with bitsandbytes' 4-bit scales; tied weights once."""
    seen, total = set(), 0
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        total += tensor.numel() * tensor.element_size()
        state = getattr(tensor, "quant_state", None)
        if state is not None:
            total += _quant_state_bytes(state)
    return total


def _quant_state_bytes(state: Any) -> int:
    total = 0
    for name in ("absmax", "code", "offset"):
        value = getattr(state, name, None)
        if hasattr(value, "nbytes"):
            total += value.nbytes
    nested = getattr(state, "state2", None)
    return total + (_quant_state_bytes(nested) if nested is not None else 0)


def kv_bytes_per_token(model: Any, prompt_tokens: int, batch: int = 1, element_size: int | None = None) -> float:
    """Average KV-cache bytes read per decoding step while generating NEW_TOKENS tokens."""
    config = model.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    size = element_size or model.dtype.itemsize  # a quantized model keeps its KV cache in its compute dtype
    per_position = 2 * config.num_hidden_layers * config.num_key_value_heads * head_dim * size * batch
    mean_length = prompt_tokens + (NEW_TOKENS - 1) / 2
    return per_position * mean_length


def inputs_for(tokenizer: Any, batch: int, device: str) -> Any:
    from llmcourse.generation import encode_left_padded

    prompts = [BATCH_PROMPTS[i % len(BATCH_PROMPTS)] for i in range(batch)]
    return encode_left_padded(tokenizer, prompts).to(device), prompts


def greedy(**extra: Any) -> dict[str, Any]:
    """Greedy settings that always produce NEW_TOKENS tokens (EOS is held off)."""
    return dict(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False, **extra)


def free(*objects: Any) -> None:
    del objects
    gc.collect()


# ---------------------------------------------------------------- sections

def bench_overhead(repeats: int) -> list[Row]:
    """Plain model.generate vs llmcourse.generate, runs interleaved so drift hits both."""
    import torch

    import llmcourse

    model, tokenizer = load("fp32")
    inputs, prompts = inputs_for(tokenizer, 1, "cpu")
    settings = greedy(pad_token_id=tokenizer.pad_token_id)
    plain = lambda: model.generate(**inputs, **settings)  # noqa: E731
    course = lambda: llmcourse.generate(model, tokenizer, prompts, **settings)  # noqa: E731
    with torch.inference_mode():
        same = torch.equal(plain()[0], course().sequences[0])
    plain(), course()  # warm-up
    times: dict[str, list[float]] = {"plain": [], "course": []}
    for _ in range(repeats):
        for name, fn in (("plain", plain), ("course", course)):
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    plain_stats, course_stats = Stats(times["plain"]), Stats(times["course"])
    ratio = course_stats.median / plain_stats.median
    rows = [throughput_row("overhead", "model.generate (fp32)", 1, plain_stats),
            throughput_row("overhead", "llmcourse.generate (fp32, top-10)", 1, course_stats,
                           note=f"ratio {ratio:.3f} (goal <= 1.05); same tokens: {same}",
                           extra={"ratio": ratio, "same_tokens": same})]
    free(model)
    return rows


def bench_throughput(precisions: list[str], batches: list[int], repeats: int, bandwidth: float) -> list[Row]:
    """tokens/s of llmcourse.generate per precision and batch size, with footprint and ceiling."""
    import llmcourse

    rows = []
    for precision in precisions:
        model, tokenizer = load(precision)
        footprint = model.get_memory_footprint() / 1e6
        prompt_tokens = inputs_for(tokenizer, 1, "cpu")[0]["input_ids"].shape[1]
        ceiling = bandwidth / (weight_bytes(model) + kv_bytes_per_token(model, prompt_tokens))
        for batch in batches:
            _, prompts = inputs_for(tokenizer, batch, "cpu")
            stats = measure(functools.partial(llmcourse.generate, model, tokenizer, prompts, **greedy()), repeats)
            row = throughput_row("precision", f"{precision}", batch, stats, memory_mb=footprint,
                                 ceiling_tokens_per_s=ceiling if batch == 1 else None)
            if batch == 1:
                row.note = f"{row.tokens_per_s / ceiling:.0%} of the bandwidth ceiling"
            print_row(row)
            rows.append(row)
        free(model)
    return rows


def bench_llama_cpp(repeats: int, bandwidth: float, reference_ids: list[int] | None, prompt: str = PROMPT,
                    section: str = "llama.cpp") -> list[Row]:
    """llama.cpp (llama-cpp-python) on the course's own GGUF, greedy, batch 1, on ``prompt``."""
    try:
        import llama_cpp
    except ImportError:
        return [Row(section, "llama.cpp (llama-cpp-python)", note="not installed: skipped "
                    "(pip install llama-cpp-python)")]
    import torch
    from transformers import AutoConfig, AutoTokenizer

    from llmcourse.loading import ensure_model_source
    from llmcourse.offline import gguf_path

    path = gguf_path()
    if not path.exists():
        return [Row(section, "Q4_1 GGUF", note=f"{path} missing: skipped")]
    threads = torch.get_num_threads()
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=threads, n_threads_batch=threads,
                          seed=0, verbose=False)
    tokenizer = AutoTokenizer.from_pretrained(ensure_model_source())
    prompt_ids = tokenizer(prompt)["input_ids"]
    produced: list[int] = []

    def run() -> None:
        produced.clear()
        for token in llm.generate(prompt_ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, reset=True):
            produced.append(token)
            if len(produced) == NEW_TOKENS:
                break

    stats = measure(run, repeats)
    agree = None
    if reference_ids is not None:
        pairs = enumerate(zip(produced, reference_ids, strict=False))
        agree = next((i for i, (a, b) in pairs if a != b), len(produced))
    size = path.stat().st_size
    config_only = SimpleNamespace(config=AutoConfig.from_pretrained(ensure_model_source()))
    ceiling = bandwidth / (size + kv_bytes_per_token(config_only, len(prompt_ids), element_size=2))  # fp16 KV
    row = throughput_row(section, f"llama.cpp Q4_1 GGUF, {threads} threads", 1, stats, memory_mb=size / 1e6,
                         ceiling_tokens_per_s=ceiling,
                         note=f"llama-cpp-python {llama_cpp.__version__}; same first tokens as fp32: {agree}",
                         extra={"agreeing_prefix_tokens": agree, "text": tokenizer.decode(produced)})
    free(llm)
    return [row]


def bench_cuda(repeats: int) -> list[Row]:
    """fp16 vs 4-bit NF4 on the GPU, and how far each is from the memory-bandwidth ceiling."""
    import torch

    if not torch.cuda.is_available():
        return [Row("cuda", "GPU", note="no CUDA device: skipped")]
    bandwidth = copy_bandwidth("cuda", megabytes=2048, repeats=20)
    rows = [Row("cuda", "device-to-device copy", note=f"{bandwidth / 1e9:.0f} GB/s measured",
                extra={"bandwidth_bytes_per_s": bandwidth, "device": torch.cuda.get_device_name(0)})]
    print_row(rows[0])
    for precision in ("fp16", "4bit"):
        model, tokenizer = load(precision, device="cuda")
        for batch in (1, 16):
            inputs, _ = inputs_for(tokenizer, batch, "cuda")
            settings = greedy(pad_token_id=tokenizer.pad_token_id)
            with torch.inference_mode():
                stats = measure(functools.partial(model.generate, **inputs, **settings), repeats)
            moved = weight_bytes(model) + kv_bytes_per_token(model, inputs["input_ids"].shape[1], batch,
                                                             element_size=2)
            ceiling = bandwidth / moved * batch  # tokens/s if every step only had to read its bytes once
            row = throughput_row("cuda", f"{precision} model.generate", batch, stats,
                                 memory_mb=model.get_memory_footprint() / 1e6, ceiling_tokens_per_s=ceiling)
            row.note = (f"{moved / 1e6:.0f} MB moved/step; measured step = "
                        f"{ceiling / row.tokens_per_s:.1f}x the ceiling")
            row.extra = {"bytes_per_step": moved, "ratio_to_ceiling": ceiling / row.tokens_per_s}
            print_row(row)
            rows.append(row)
        free(model)
        torch.cuda.empty_cache()
    return rows


def bench_course(timeout: int) -> list[Row]:
    """Execute every lesson headless on copies in a temporary folder; time each one."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    source = ROOT / "notebooks"
    lessons = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not lessons:
        return [Row("course", "notebooks/NN_*.ipynb", note="no lessons yet: skipped")]
    rows, total = [], 0.0
    with tempfile.TemporaryDirectory(prefix="llmcourse-bench-") as folder:
        copy = Path(folder) / "notebooks"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for lesson in lessons:
            path = copy / lesson.name
            notebook = nbformat.read(path, as_version=4)
            started = time.perf_counter()
            note = "ok"
            try:
                NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                               resources={"metadata": {"path": str(copy)}}).execute()
            except CellExecutionError as error:
                note = f"FAILED: {error.ename}: {error.evalue}"[:80]
            except Exception as error:  # a kernel that died, a timeout
                note = f"FAILED: {type(error).__name__}"
            seconds = time.perf_counter() - started
            total += seconds
            row = Row("course", lesson.name, seconds={"median_s": seconds, "min_s": seconds, "max_s": seconds,
                                                       "runs": 1}, note=note)
            print_row(row)
            rows.append(row)
    rows.append(Row("course", f"all {len(lessons)} lessons", seconds={"median_s": total, "min_s": total,
                                                                      "max_s": total, "runs": 1},
                    note="one run each, fresh kernel per lesson"))
    return rows


# ---------------------------------------------------------------- lesson 08: faster decoding

TYPO_TEXT = ("Fix the typos in this paragraph:\nThe quick brown fox jumpd over the lazy dog. It was a sunny day and "
             "the fox was hapy to run in the feld.\n\nCorrected paragraph:\n")  # an answer that copies its prompt


def faster_prompts(tokenizer: Any) -> dict[str, Any]:
    """Lesson 08's two prompts: the typo task (the answer copies the prompt) and a chat question (free text)."""
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "Why is the sky blue?"}],
                                         add_generation_prompt=True, return_tensors="pt")
    return {"typo": tokenizer(TYPO_TEXT, return_tensors="pt"), "chat": chat}


def bench_faster(repeats: int, bandwidth: float) -> list[Row]:
    """Plain greedy vs prompt lookup vs assisted decoding (16-bit draft, 4 tokens per pass), runs interleaved."""
    import copy

    import torch

    from llmcourse.measure import StepLog, time_interleaved
    from llmcourse.precision import pick_dtypes

    model, tokenizer = load("fp32")
    draft = copy.deepcopy(model).to(pick_dtypes("cpu").torch_dtype())
    draft.generation_config.num_assistant_tokens = 4
    draft.generation_config.num_assistant_tokens_schedule = "constant"
    draft.generation_config.assistant_confidence_threshold = 0.0
    short = {"bfloat16": "bf16", "float16": "fp16"}[pick_dtypes("cpu").compute]
    methods = {"plain greedy": {}, "prompt lookup (10)": {"prompt_lookup_num_tokens": 10},
               f"assisted ({short} draft, k=4)": {"assistant_model": draft}}
    rows = []
    for label, inputs in faster_prompts(tokenizer).items():
        outputs: dict[str, tuple[Any, int]] = {}

        def run(name: str, extra: dict[str, Any], inputs: Any = inputs, outputs: dict = outputs) -> None:
            log = StepLog()
            ids = model.generate(**inputs, **greedy(pad_token_id=tokenizer.pad_token_id), streamer=log, **extra)
            outputs[name] = (ids, log.passes)

        with torch.inference_mode():
            timings = time_interleaved({name: functools.partial(run, name, extra) for name, extra in methods.items()},
                                       runs=repeats, warmup=1)
        plain = timings["plain greedy"]
        plain_row = None
        for name, timing in timings.items():
            ids, passes = outputs[name]
            speedups = timing.speedups(plain)
            same = bool(torch.equal(ids, outputs["plain greedy"][0]))
            row = throughput_row("faster", f"{label}: {name}", 1, Stats(list(timing.seconds)),
                                 note=f"{statistics.median(speedups):.2f}x plain ({min(speedups):.2f}-"
                                      f"{max(speedups):.2f}); {passes} passes; same ids: {same}",
                                 extra={"speedup_median": statistics.median(speedups), "speedups": speedups,
                                        "forward_passes": passes, "same_ids_as_plain_greedy": same})
            print_row(row)
            rows.append(row)
            plain_row = plain_row or row
        if label == "typo" and plain_row is not None:  # the engine learners would use instead: same prompt, run
            reference = outputs["plain greedy"][0][0, inputs["input_ids"].shape[1]:].tolist()
            for row in bench_llama_cpp(repeats, bandwidth, reference, prompt=TYPO_TEXT, section="faster"):
                if row.tokens_per_s is not None:
                    ratio = row.tokens_per_s / plain_row.tokens_per_s
                    row.note += f"; {ratio:.1f}x plain greedy (transformers fp32)"
                    row.extra["ratio_to_plain_greedy"] = ratio
                print_row(row)
                rows.append(row)
    free(model, draft)
    return rows


def bench_compile(repeats: int) -> list[Row]:
    """torch.compile of the forward pass with a static cache: the first call (tracing and compiling) and after."""
    import torch

    model, tokenizer = load("fp32")
    inputs, _ = inputs_for(tokenizer, 1, "cpu")
    settings = greedy(pad_token_id=tokenizer.pad_token_id, cache_implementation="static")
    rows = []
    with torch.inference_mode():
        eager_ids = model.generate(**inputs, **settings)
        eager = measure(functools.partial(model.generate, **inputs, **settings), repeats)
        rows.append(throughput_row("compile", "eager, static cache", 1, eager))
        print_row(rows[-1])
        model.forward = torch.compile(model.forward, dynamic=False)  # one graph for the prefill, one for a step
        try:
            started = time.perf_counter()
            compiled_ids = model.generate(**inputs, **settings)
            first = time.perf_counter() - started
            after = measure(functools.partial(model.generate, **inputs, **settings), repeats, warmup=0)
        except Exception as error:  # no C++ compiler, an unsupported op...
            rows.append(Row("compile", "torch.compile", note=f"FAILED: {type(error).__name__}: {error}"[:100]))
            print_row(rows[-1])
            return rows
    same = bool(torch.equal(eager_ids, compiled_ids))
    rows.append(Row("compile", "torch.compile: first call", seconds={"median_s": first, "min_s": first,
                                                                    "max_s": first, "runs": 1},
                    note=f"tracing and compiling included; same ids as eager: {same}",
                    extra={"first_call_s": first, "same_ids_as_eager": same}))
    print_row(rows[-1])
    speed = throughput_row("compile", "torch.compile: after", 1, after)
    saved = eager.median - after.median  # seconds saved per call once compiled
    speed.note = f"{speed.tokens_per_s / rows[0].tokens_per_s:.2f}x eager; " + (
        f"the first call's cost is won back after about {first / saved:.0f} calls" if saved > 0 else
        "not faster than eager here")
    print_row(speed)
    rows.append(speed)
    free(model)
    return rows


# ---------------------------------------------------------------- explore: the next-token explorer

SLIDER_MOVES = {"temperature": (0.7, 1.3), "top_k": (40, 60), "top_p": (0.9, 0.95), "min_p": (0.05, 0.1),
                "repetition_penalty": (1.1, 1.3)}  # each move goes to the other value: a real change every time
SLIDER_GOAL_S = 0.1  # the goal: a slider move answers in under 100 ms


def ms_row(name: str, stats: Stats, note: str, **extra: Any) -> Row:
    """A row of one action's time (the table shows milliseconds); the median in ms is also in ``extra``."""
    return Row("explorer", name, seconds=stats.summary(), note=note,
               extra={"median_ms": stats.median * 1e3, **extra})


def explorer_with_view(model: Any, tokenizer: Any) -> tuple[Any, Any]:
    """An explorer on the course's prompt, sampling on, 3 tokens taken, with a widget view attached (redrawn)."""
    import llmcourse
    from llmcourse.explorer_view import ExplorerView

    explorer = llmcourse.explore(model, tokenizer, PROMPT, do_sample=True)
    view = ExplorerView(explorer)
    explorer._views.append(view)  # as the notebook's display does: every change redraws it
    for _ in range(3):
        explorer.take_most_likely()
    return explorer, view


def bench_slider(view: Any, repeats: int) -> list[Row]:
    """One slider move, timed as the widget runs it (`ExplorerView._set`: processors and redraw, no frontend)."""
    from llmcourse.explorer_settings import DEFAULTS

    rows = []
    for name, values in SLIDER_MOVES.items():
        moves = itertools.cycle(values)
        passes = view.explorer.forward_passes
        stats = measure(lambda name=name, moves=moves: view._set(name, next(moves)), repeats, warmup=2)
        passes = view.explorer.forward_passes - passes
        view._set(name, DEFAULTS[name])  # the next control is moved from the defaults
        verdict = "under 100 ms" if stats.median < SLIDER_GOAL_S else "OVER 100 ms"
        rows.append(ms_row(f"slider move: {name}", stats, f"{verdict}; {passes} forward passes",
                           under_goal=stats.median < SLIDER_GOAL_S, forward_passes=passes))
        print_row(rows[-1])
    return rows


def plain_step(model: Any, ids: list[int]) -> Callable[[], None]:
    """One forward pass of one token after ``ids`` on a KV cache, called as the explorer calls the model."""
    import torch
    from transformers import DynamicCache

    cache, device = DynamicCache(config=model.config), model.device
    with torch.inference_mode():
        model(input_ids=torch.tensor([ids[:-1]], device=device), cache=cache, use_cache=True, logits_to_keep=1)
    token = torch.tensor([ids[-1:]], device=device)
    mask = torch.ones(1, len(ids), dtype=torch.long, device=device)

    def step() -> None:
        with torch.inference_mode():
            model(input_ids=token, attention_mask=mask, cache=cache, use_cache=True, logits_to_keep=1)
        cache.crop(-1)  # back to the same length for the next run

    return step


def bench_token_and_undo(explorer: Any, model: Any, repeats: int) -> list[Row]:
    """`take_most_likely` (a forward pass, processors, redraw) vs a plain forward pass at the same length; then undo.

    Runs interleaved (plain, take, undo), so drift hits all three; the undo brings the length back each time.
    """
    step = plain_step(model, explorer.prompt_ids + explorer.new_ids + [0])
    timed = {"plain": step, "take": explorer.take_most_likely, "undo": explorer.undo}
    times: dict[str, list[float]] = {name: [] for name in timed}
    passes = dict.fromkeys(timed, 0)
    for run in range(repeats + 1):  # the first run is the warm-up
        for name, fn in timed.items():
            before = explorer.forward_passes
            sync()
            started = time.perf_counter()
            fn()
            sync()
            if run:
                times[name].append(time.perf_counter() - started)
                passes[name] += explorer.forward_passes - before
    plain, take, undo = (Stats(times[name]) for name in timed)
    ratio = take.median / plain.median
    per_token = passes["take"] / repeats
    cached = len(explorer.prompt_ids) + len(explorer.taken)
    rows = [ms_row("plain forward pass (KV cache)", plain,
                   f"model(input_ids=<1 token>, cache=<{cached} tokens>, use_cache=True); {model.dtype}, "
                   f"{model.device}"),
            ms_row("new token: take_most_likely", take,
                   f"{ratio:.2f}x one forward pass; {per_token:g} forward passes per token (forward_passes)",
                   ratio_to_forward_pass=ratio, forward_passes_per_token=per_token),
            ms_row("undo", undo, f"{passes['undo'] / repeats:g} forward passes per undo",
                   forward_passes_per_undo=passes["undo"] / repeats)]
    for row in rows:
        print_row(row)
    return rows


def bench_explorer(repeats: int) -> list[Row]:
    """`llmcourse.explore` with its widget view: a slider move, a new token vs a forward pass, an undo."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return [Row("explorer", "ExplorerView", note="ipywidgets not installed: skipped")]
    from llmcourse import load_model

    model, tokenizer = load_model()  # the lessons' default: fp32 on a CPU
    explorer, view = explorer_with_view(model, tokenizer)
    rows = bench_slider(view, repeats=4 * repeats)  # a move costs milliseconds: more of them
    rows += bench_token_and_undo(explorer, model, repeats=4 * repeats)
    free(model, explorer, view)
    return rows


# ---------------------------------------------------------------- main

SECTIONS = ("overhead", "precision", "faster", "compile", "llama.cpp", "cuda", "explorer", "course")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")

    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    info = machine_info()
    print(f"{info['cpu']}, {info['logical_cpus']} logical CPUs, torch {info['torch']} "
          f"({info['torch_threads']} threads, {info['cpu_capability']}), transformers {info['transformers']}"
          + (f", GPU {info['cuda']}" if info["cuda"] else ""))
    if info["load_average_at_start"][0] > 0.5 * (os.cpu_count() or 1):
        print(f"WARNING: load average {info['load_average_at_start'][0]:.1f} on {os.cpu_count()} CPUs: other work "
              "is running, so these numbers are slower and noisier than this machine can do.")
    bandwidth = copy_bandwidth("cpu")
    info["cpu_copy_bandwidth_bytes_per_s"] = bandwidth
    print(f"CPU copy bandwidth {bandwidth / 1e9:.1f} GB/s; 'ceiling' = that over the bytes read per token "
          f"(weights + KV cache), batch 1; greedy, {NEW_TOKENS} new tokens\n")
    print_header()
    rows, reference_text = run_sections(args, bandwidth)

    elapsed = time.perf_counter() - started
    info["load_average_at_end"] = os.getloadavg()
    print(f"\nbenchmark took {elapsed / 60:.1f} min")
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-only-" + "-".join(args.only) if args.only else ""
    out = RESULTS / f"{socket.gethostname()}-{dt.date.today().isoformat()}{suffix}.json"
    out.write_text(json.dumps({"machine": info, "args": vars(args), "new_tokens": NEW_TOKENS,
                               "prompt": PROMPT, "fp32_greedy_text": reference_text,
                               "elapsed_s": elapsed, "rows": [asdict(r) for r in rows]}, indent=1))
    print(f"saved {out.relative_to(ROOT)}")
    return exit_code(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes: a smoke test")
    parser.add_argument("--skip-course", action="store_true", help="do not execute the lessons")
    parser.add_argument("--repeats", type=int, help="timed runs per measurement (default 5, quick 2)")
    parser.add_argument("--threads", type=int, help="torch (and llama.cpp) threads; default: torch's own choice")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (minutes on a small CPU)")
    parser.add_argument("--only", action="append", choices=SECTIONS, metavar="SECTION",
                        help=f"run only this section (may be repeated): {', '.join(SECTIONS)}")
    return parser.parse_args(argv)


def wanted(args: argparse.Namespace, section: str) -> bool:
    """Whether ``section`` runs: the ``--only`` ones if given; else all, compile with ``--compile``, course unless
    ``--skip-course``."""
    if args.only:
        return section in args.only
    return {"compile": args.compile, "course": not args.skip_course}.get(section, True)


def run_sections(args: argparse.Namespace, bandwidth: float) -> tuple[list[Row], str | None]:
    """Every wanted section in order, each row printed once; and fp32 greedy's text (None if not computed)."""
    repeats = args.repeats or (2 if args.quick else 5)
    grid_repeats = args.repeats or (2 if args.quick else 3)
    batches = [1, 4] if args.quick else [1, 4, 16]
    reference_text, reference_ids = fp32_reference() if wanted(args, "llama.cpp") else (None, None)
    printed_by_main = {  # the other sections print their rows as they measure them
        "overhead": lambda: bench_overhead(repeats),
        "llama.cpp": lambda: bench_llama_cpp(repeats, bandwidth, reference_ids)}
    printed_by_section = {
        "precision": lambda: bench_throughput(["fp32", "bf16", "8bit", "4bit"], batches, grid_repeats, bandwidth),
        "faster": lambda: bench_faster(repeats, bandwidth), "compile": lambda: bench_compile(grid_repeats),
        "explorer": lambda: bench_explorer(repeats), "course": lambda: bench_course(timeout=900)}
    rows: list[Row] = []
    for section in SECTIONS:
        if not wanted(args, section):
            continue
        if section == "cuda":  # bench_cuda prints its token rows itself
            new = bench_cuda(repeats)
            printed = [row for row in new if row.tokens_per_s is None]
        else:
            new = (printed_by_main.get(section) or printed_by_section[section])()
            printed = new if section in printed_by_main else new[-1:] if section == "course" else []
        for row in printed:
            print_row(row)
        rows += new
    if args.skip_course and not args.only:
        rows.append(Row("course", "lessons", note="--skip-course"))
        print_row(rows[-1])
    return rows, reference_text


def fp32_reference() -> tuple[str, list[int]]:
    """fp32 greedy's text and new ids on PROMPT: what llama.cpp's tokens are compared with."""
    import torch

    from llmcourse import generate

    model, tokenizer = load("fp32")
    with torch.inference_mode():
        reference = generate(model, tokenizer, PROMPT, **greedy())
    free(model)
    return reference.texts[0], reference.token_ids[0].tolist()


def exit_code(rows: list[Row]) -> int:
    """1 if a row broke (its note starts with FAILED), after naming each on stderr; else 0.

    >>> exit_code([Row("course", "00_setup.ipynb", note="ok")])
    0
    """
    failed = [row for row in rows if row.note.startswith("FAILED")]
    for row in failed:
        print(f"FAILED {row.section} {row.name}: {row.note.removeprefix('FAILED: ')}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
