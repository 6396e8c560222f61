"""Measuring decoding speed: clocks with a warm-up, the memory-bandwidth ceiling, a log of forward passes.

Lesson 08 introduces these; `make bench` (benchmarks/run.py) and `make test-gpu`
(benchmarks/gpu_check.py) measure with the same functions. The drafts whose speed they
measure are made in `drafts`.

- `time_runs` / `time_interleaved`: seconds of repeated runs after a warm-up, as a `Timing`
  (median, fastest, slowest); `Timing.speedups` pairs the runs of two methods.
- `copy_bandwidth`: the memory bandwidth a big tensor copy reaches on this machine.
- `decode_bytes`: the bytes one decode step reads (the weights, then the KV cache); the bandwidth over
  that is the ceiling on tokens/s of a batch-1 decode step (lessons 06, 08: `verdicts.speed_verdict`).
- `StepLog`: a streamer that logs every forward pass of ``generate``: how many new tokens it
  added (1 for plain decoding; more when prompt lookup or a draft model guessed right) and when.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Timing", "time_runs", "time_interleaved", "copy_bandwidth", "kv_cache_bytes", "decode_bytes",
           "StepLog"]


@dataclass(frozen=True)
class Timing:
    """Seconds of repeated runs of one thing: the median and the spread.

    >>> t = Timing((2.0, 1.0, 4.0))
    >>> t.median, t.fastest, t.slowest
    (2.0, 1.0, 4.0)
    >>> t.rate(8)          # 8 tokens per run: (median, slowest run, fastest run) in tokens/s
    (4.0, 2.0, 8.0)
    >>> Timing((4.0, 2.0)).speedups(Timing((2.0, 2.0)))    # baseline run i / this run i
    [0.5, 1.0]
    """

    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def fastest(self) -> float:
        return min(self.seconds)

    @property
    def slowest(self) -> float:
        return max(self.seconds)

    def rate(self, count: float) -> tuple[float, float, float]:
        """``count`` per second: at the median run, at the slowest and at the fastest."""
        return count / self.median, count / self.slowest, count / self.fastest

    def speedups(self, baseline: Timing) -> list[float]:
        """How many times faster than ``baseline``, run by run (run i against the baseline's run i)."""
        return [before / after for before, after in zip(baseline.seconds, self.seconds, strict=True)]


def _clock() -> float:
    """`time.perf_counter`, after waiting for queued GPU work (so the clock measures it)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter()


def time_runs(fn: Callable[[], Any], runs: int = 3, warmup: int = 1) -> Timing:
    """Call ``fn`` ``warmup`` times untimed (first calls pay for set-up), then ``runs`` times timed.

    >>> time_runs(lambda: sum(range(1000)), runs=3).seconds.__len__()
    3
    """
    return time_interleaved({"only": fn}, runs, warmup)["only"]


def time_interleaved(functions: Mapping[str, Callable[[], Any]], runs: int = 3, warmup: int = 1) -> dict[str, Timing]:
    """Time several functions taking turns (run 1 of each, then run 2 of each...): a machine that
    slows down or speeds up meanwhile affects them all alike, so run i of one compares fairly with
    run i of another (`Timing.speedups`).

    >>> timings = time_interleaved({"short": lambda: sum(range(10)), "long": lambda: sum(range(10**5))})
    >>> sorted(timings), len(timings["long"].seconds)
    (['long', 'short'], 3)
    """
    for fn in functions.values():
        for _ in range(warmup):
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, fn in functions.items():
            started = _clock()
            fn()
            seconds[name].append(_clock() - started)
    return {name: Timing(tuple(values)) for name, values in seconds.items()}


def copy_bandwidth(device: Any = "cpu", megabytes: int = 256, runs: int = 5) -> float:
    """Memory bandwidth in bytes/s: a copy of a big tensor reads it once and writes it once.

    ``device`` is where the tensor lives ("cpu", "cuda", or a model's ``model.device``). The
    fastest of ``runs`` copies counts: it is what the memory can do when nothing interferes.

    >>> copy_bandwidth(megabytes=8, runs=2) > 1e8
    True
    """
    import torch

    source = torch.ones(megabytes * 2**20 // 4, dtype=torch.float32, device=device)
    target = torch.empty_like(source)
    timing = time_runs(lambda: target.copy_(source), runs=runs, warmup=1)
    return 2 * source.nbytes / timing.fastest


def kv_cache_bytes(model: Any, tokens: int) -> int:
    """Bytes of the KV cache for ``tokens`` positions: keys and values, in every layer, per KV head.

    >>> from types import SimpleNamespace; import torch
    >>> config = SimpleNamespace(num_hidden_layers=30, num_key_value_heads=3, head_dim=64)
    >>> kv_cache_bytes(SimpleNamespace(config=config, dtype=torch.float32), 1)   # lesson 06: 46 kB per token
    46080
    """
    config = model.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    return 2 * config.num_hidden_layers * kv_heads * head_dim * model.dtype.itemsize * tokens


def decode_bytes(model: Any, context_length: int) -> int:
    """Bytes one decode step reads at batch 1: every weight once, and the KV cache of ``context_length`` tokens.

    (With tied input and output embeddings, as in SmolLM2, the shared matrix is counted once:
    `get_memory_footprint` does so.)

    >>> decode_bytes(model, 100)  # doctest: +SKIP
    542453248
    """
    return model.get_memory_footprint() + kv_cache_bytes(model, context_length)


class StepLog:
    """A streamer that logs every forward pass of ``generate``: the new tokens it added, and the time.

    ``generate`` hands a streamer the prompt first, then the tokens each forward pass added:
    always 1 in plain decoding; with prompt lookup or a draft model, 1 plus the guesses the
    model accepted. Batch size 1 only, like assisted decoding itself. (Any object with ``put``
    and ``end`` is a streamer, lesson 06.)

    >>> import torch
    >>> log = StepLog()
    >>> for ids in (torch.tensor([[5, 6, 7]]), torch.tensor([8]), torch.tensor([[9, 10, 11]])):
    ...     log.put(ids)
    >>> log.tokens_per_pass, log.passes, log.new_tokens
    ([1, 3], 2, 4)
    """

    def __init__(self) -> None:
        self.tokens_per_pass: list[int] = []  # new tokens of each forward pass, in order
        self.times: list[float] = []  # perf_counter at the prompt, then after each pass
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        self.times.append(time.perf_counter())
        if self._prompt_seen:
            self.tokens_per_pass.append(int(value.numel()))
        self._prompt_seen = True

    def end(self) -> None:
        pass

    @property
    def passes(self) -> int:
        """Forward passes of the model after the prompt's (the prefill's pass gave the first token)."""
        return len(self.tokens_per_pass)

    @property
    def new_tokens(self) -> int:
        return sum(self.tokens_per_pass)

    def step_seconds(self) -> Timing:
        """Seconds of each pass after the first (the first one also read the prompt): median and spread."""
        return Timing(tuple(later - earlier for earlier, later in zip(self.times[1:], self.times[2:], strict=False)))
