"""The GPU check (`make test-gpu`): the course on a CUDA machine, in under 5 minutes.

Not part of `make test`. On a machine without a CUDA GPU it says so and exits 0 without
running anything. On a CUDA machine it checks, in order, and exits 1 if any check fails:

1. the device: its name, compute capability, and the dtypes the course picks there
   (`llmcourse.precision.pick_dtypes`);
2. `load_model(quantization="auto")` loads 4-bit: every Linear layer of the decoder is a
   bitsandbytes `Linear4bit` holding packed 4-bit weights;
3. lessons 01, 03, 05 and 08 run headless with nbclient, on copies in a temporary folder
   (outputs are not compared, a GPU computes other numbers; an error in any cell fails);
4. greedy decoding gives the same ids with a draft model (assisted decoding) and with prompt
   lookup as without, on CUDA;
5. fp16 and 4-bit tokens/s at batch 1, next to the GPU's memory-bandwidth ceiling.

    .venv/bin/python benchmarks/gpu_check.py             # everything
    .venv/bin/python benchmarks/gpu_check.py --no-lessons
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ("01_loading.ipynb", "03_generating.ipynb", "05_decoding_strategies.ipynb", "08_faster_decoding.ipynb")
NEW_TOKENS = 64
TYPO_TEXT = ("Fix the typos in this paragraph:\nThe quick brown fox jumpd over the lazy dog. It was a sunny day and "
             "the fox was hapy to run in the feld.\n\nCorrected paragraph:\n")


def no_cuda_message() -> str:
    """What `make test-gpu` says on a machine without a usable CUDA GPU."""
    import torch

    why = ("this torch is a CPU build" if torch.version.cuda is None
           else f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU")
    return (f"make test-gpu: no CUDA GPU here ({why}), so nothing was run. On a machine with an NVIDIA GPU, build "
            "the environment with a CUDA torch (make clean && make setup TORCH=cu128) and run it again.")


def report(name: str, ok: bool, detail: str = "") -> bool:
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f": {detail}" if detail else ""), flush=True)
    return ok


def probe_device() -> bool:
    """Name, compute capability and the course's dtypes on this GPU."""
    import torch

    from llmcourse.precision import pick_dtypes

    dtypes = pick_dtypes("cuda")
    major, minor = torch.cuda.get_device_capability(0)
    memory = torch.cuda.get_device_properties(0).total_memory / 2**30
    print(f"GPU: {torch.cuda.get_device_name(0)}, compute capability {major}.{minor}, {memory:.0f} GiB; "
          f"torch {torch.__version__} (CUDA {torch.version.cuda})")
    print(f"course dtypes here: 4-bit matmuls in {dtypes.compute}, other layers in {dtypes.unquantized} "
          f"({dtypes.reason})")
    return report("device and dtypes", dtypes.compute in ("bfloat16", "float16"), f"pick_dtypes -> {dtypes.compute}")


def probe_4bit() -> bool:
    """quantization="auto" on CUDA means 4-bit NF4: every decoder Linear is a bitsandbytes Linear4bit."""
    import torch

    from llmcourse import load_model

    model, _ = load_model(quantization="auto")
    import bitsandbytes as bnb

    linears = [module for module in model.model.layers.modules() if isinstance(module, torch.nn.Linear)]
    four_bit = [module for module in linears if isinstance(module, bnb.nn.Linear4bit)]
    packed = all(module.weight.dtype == torch.uint8 for module in four_bit)
    quant_type = {module.weight.quant_state.quant_type for module in four_bit}
    ok = bool(linears) and len(four_bit) == len(linears) and packed and quant_type == {"nf4"}
    detail = (f"{len(four_bit)} of {len(linears)} decoder Linear layers are Linear4bit ({', '.join(quant_type)}), "
              f"footprint {model.get_memory_footprint() / 1e6:.0f} MB")
    del model
    torch.cuda.empty_cache()
    return report('load_model(quantization="auto") is 4-bit', ok, detail)


def run_lessons(timeout: int) -> bool:
    """Lessons 01, 03, 05 and 08, top to bottom in a fresh kernel each, on copies: any error fails."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    ok = True
    with tempfile.TemporaryDirectory(prefix="llmcourse-gpu-") as folder:
        copy = Path(folder) / "notebooks"
        shutil.copytree(ROOT / "notebooks", copy, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "ja",
                                                                                  "exercises"))
        for name in LESSONS:
            notebook = nbformat.read(copy / name, as_version=4)
            started = time.perf_counter()
            try:
                NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                               resources={"metadata": {"path": str(copy)}}).execute()
                detail = ""
            except CellExecutionError as error:
                detail = f"{error.ename}: {error.evalue}"[:300]
            except Exception as error:  # a kernel that died, a timeout
                detail = f"{type(error).__name__}: {error}"[:300]
            seconds = time.perf_counter() - started
            ok &= report(f"lesson {name}", not detail, detail or f"{seconds:.0f} s")
    return ok


def probe_same_ids() -> bool:
    """On CUDA, greedy with a draft model and with prompt lookup gives plain greedy's ids."""
    import copy

    import torch

    from llmcourse import load_model
    from llmcourse.precision import pick_dtypes

    model, tokenizer = load_model(quantization=None)  # full precision (fp32 here), the lesson's model
    draft = copy.deepcopy(model).to(pick_dtypes("cuda").torch_dtype())
    draft.generation_config.num_assistant_tokens = 4
    draft.generation_config.num_assistant_tokens_schedule = "constant"
    draft.generation_config.assistant_confidence_threshold = 0.0
    sky = tokenizer.apply_chat_template([{"role": "user", "content": "Why is the sky blue?"}],
                                        add_generation_prompt=True, return_tensors="pt").to("cuda")
    typos = tokenizer(TYPO_TEXT, return_tensors="pt").to("cuda")
    ok = True
    for label, inputs in (("chat question", sky), ("typo task", typos)):
        plain = model.generate(**inputs, max_new_tokens=32, do_sample=False)
        assisted = model.generate(**inputs, max_new_tokens=32, do_sample=False, assistant_model=draft)
        lookup = model.generate(**inputs, max_new_tokens=32, do_sample=False, prompt_lookup_num_tokens=10)
        ok &= report(f"greedy assisted == greedy plain on CUDA ({label})", torch.equal(plain, assisted))
        ok &= report(f"greedy prompt lookup == greedy plain on CUDA ({label})", torch.equal(plain, lookup))
    del model, draft
    torch.cuda.empty_cache()
    return ok


def measure_speed(runs: int) -> bool:
    """fp16 and 4-bit tokens/s at batch 1 against the bandwidth ceiling: bandwidth / bytes read per token."""
    from llmcourse.measure import copy_bandwidth

    bandwidth = copy_bandwidth("cuda", megabytes=2048, runs=10)
    print(f"GPU memory bandwidth (device-to-device copy): {bandwidth / 1e9:.0f} GB/s")
    print(f"{'':>6} {'MB/token':>9} {'ceiling tok/s':>12} {'measured tok/s (min-max of runs)':>34} {'of ceiling':>9}")
    for precision in ("fp16", "4-bit"):
        speed_row(precision, bandwidth, runs)
    return report("speed measured", True)


def speed_row(precision: str, bandwidth: float, runs: int) -> None:
    """Load one precision on the GPU, time greedy batch-1 generation, print it next to its ceiling."""
    import functools

    import torch

    from llmcourse import load_model
    from llmcourse.measure import decode_bytes, time_runs

    model, tokenizer = load_model(quantization="4bit" if precision == "4-bit" else None)
    if precision == "fp16":
        model = model.to(torch.float16)
    inputs = tokenizer("A list of colors: red, blue", return_tensors="pt").to("cuda")
    generate = functools.partial(model.generate, **inputs, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                                 do_sample=False, pad_token_id=tokenizer.pad_token_id)
    timing = time_runs(generate, runs=runs, warmup=1)
    moved = decode_bytes(model, inputs.input_ids.shape[1] + NEW_TOKENS // 2)  # the KV cache at its mean length
    ceiling = bandwidth / moved
    rate, slowest, fastest = timing.rate(NEW_TOKENS)
    print(f"{precision:>6} {moved / 1e6:9.0f} {ceiling:12.0f} {rate:16.1f} ({slowest:.1f}-{fastest:.1f}){'':>8} "
          f"{rate / ceiling:8.1%}", flush=True)
    del model, generate
    torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-lessons", action="store_true", help="skip running the lessons (the slowest part)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per speed measurement")
    parser.add_argument("--timeout", type=int, default=240, help="seconds per lesson cell")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(no_cuda_message())
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    started = time.perf_counter()
    results: list[Any] = [probe_device(), probe_4bit()]
    if not args.no_lessons:
        results.append(run_lessons(args.timeout))
    results += [probe_same_ids(), measure_speed(args.runs)]
    failed = results.count(False)
    print(f"\n{'all checks passed' if not failed else f'{failed} check(s) failed'} "
          f"in {time.perf_counter() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
