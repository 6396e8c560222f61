"""Sizing a classroom server: N learners run lesson 03 at once, in fp32 and in 4-bit.

Each learner is a process that executes notebooks/03_generating.ipynb headless with
nbclient in a kernel of its own, the way a JupyterHub user server would (one OpenMP
thread per kernel, ``OMP_WAIT_POLICY=PASSIVE``, the shared model cache). Recorded per
run: wall time until every learner is done; per kernel, sampled every 0.2 s, its peak
resident memory (VmHWM), peak proportional set size (PSS: shared pages, such as the
memory-mapped weights every kernel reads from the page cache, split among the kernels
sharing them), peak and final private memory (USS); the machine's peak memory in use
(noisy: other jobs share this machine) and the load average before the run.
instructor/sizing.md is written from the JSON it saves.

For 4-bit, a first cell makes ``load_model()`` default to ``quantization="4bit"``;
the lesson is otherwise unchanged.

    .venv/bin/python benchmarks/classroom.py                 # N = 1, 4, 8; fp32 and 4-bit
    .venv/bin/python benchmarks/classroom.py --learners 1 2  # other sizes
    .venv/bin/python benchmarks/classroom.py --table benchmarks/results/classroom-HOST-DATE.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "03_generating.ipynb"
RESULTS = Path(__file__).resolve().parent / "results"
MEMORY_KEYS = ("kernel_peak_rss_mb", "kernel_peak_pss_mb", "kernel_peak_uss_mb", "kernel_end_uss_mb")
FOUR_BIT = ("import functools, llmcourse, llmcourse.loading\n"
            "llmcourse.load_model = functools.partial(llmcourse.loading.load_model, quantization='4bit')")


def run_one_learner(quantization: str) -> dict:
    """Execute the lesson in a fresh kernel; return seconds, errors and the kernel's peak memory.

    >>> run_one_learner("fp32")["errors"]   # doctest: +SKIP
    []
    """
    import nbclient
    import nbformat
    from jupyter_client.manager import KernelManager

    notebook = nbformat.read(LESSON, as_version=4)
    if quantization == "4bit":
        notebook.cells.insert(0, nbformat.v4.new_code_cell(FOUR_BIT))
    peaks, done = {"rss_mb": 0.0, "pss_mb": 0.0, "uss_mb": 0.0, "last_uss_mb": 0.0}, threading.Event()
    sampler = threading.Thread(target=sample_children, args=(peaks, done))
    sampler.start()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        # IPC sockets, not TCP ports: 8 kernels starting at once would race for free ports
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(folder) / "kernel"))
        client = nbclient.NotebookClient(notebook, km=manager, timeout=1200, allow_errors=True,
                                         resources={"metadata": {"path": folder}})
        client.execute()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    errors = [f"{output['ename']}: {output['evalue']}" for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    return {"seconds": seconds, "errors": errors, "kernel_peak_rss_mb": peaks["rss_mb"],
            "kernel_peak_pss_mb": peaks["pss_mb"], "kernel_peak_uss_mb": peaks["uss_mb"],
            "kernel_end_uss_mb": peaks["last_uss_mb"]}


def sample_children(peaks: dict[str, float], done: threading.Event) -> None:
    """Until ``done``, keep the peak RSS, PSS and USS (MB) of this process's child (the kernel), and the last USS."""
    me = str(os.getpid())
    while not done.wait(0.2):
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if stat.read_text().rsplit(")", 1)[1].split()[1] != me:
                    continue
                rollup = (stat.parent / "smaps_rollup").read_text().splitlines()[1:]
                status = (stat.parent / "status").read_text().splitlines()
            except (OSError, IndexError):
                continue
            kb = {line.split(":")[0]: int(line.split()[1]) for line in rollup + status if line.endswith(" kB")}
            peaks["rss_mb"] = max(peaks["rss_mb"], kb["VmHWM"] / 1024)  # the kernel's own high-water mark
            peaks["pss_mb"] = max(peaks["pss_mb"], kb["Pss"] / 1024)
            peaks["last_uss_mb"] = (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024
            peaks["uss_mb"] = max(peaks["uss_mb"], peaks["last_uss_mb"])


def learner_env() -> dict[str, str]:
    """The environment of a learner's server on the course's JupyterHub (classroom/jupyterhub_config.py)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1",
            "TQDM_DISABLE": "1", "TOKENIZERS_PARALLELISM": "false"}


def memory_in_use_mb() -> float:
    """MemTotal - MemAvailable from /proc/meminfo, in MB."""
    fields = dict(line.split(":") for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(fields["MemTotal"].split()[0]) - int(fields["MemAvailable"].split()[0])) / 1024


def run_classroom(learners: int, quantization: str) -> dict:
    """Start ``learners`` learner processes at once; wait for all; return the measurements."""
    baseline, peak, done = memory_in_use_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], memory_in_use_mb())

    sampler = threading.Thread(target=sample)
    sampler.start()
    load = os.getloadavg()
    start = time.perf_counter()
    command = [sys.executable, __file__, "--one", quantization]
    processes = [subprocess.Popen(command, env=learner_env(), stdout=subprocess.PIPE, text=True)
                 for _ in range(learners)]
    outputs = [process.communicate()[0].strip().splitlines() for process in processes]
    crashed = {"seconds": 0, "errors": ["learner crashed"], **dict.fromkeys(MEMORY_KEYS, 0)}
    runs = [json.loads(lines[-1]) if lines else crashed for lines in outputs]
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    return {"learners": learners, "quantization": quantization, "wall_s": round(wall, 1),
            "lesson_s": [round(run["seconds"], 1) for run in runs],
            **{key: [round(run[key]) for run in runs]
               for key in MEMORY_KEYS},
            "machine_peak_in_use_mb": round(peak[0] - baseline), "load_average_before": [round(x, 2) for x in load],
            "errors": sorted({error for run in runs for error in run["errors"]})}


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    return {"host": socket.gethostname(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "memory_mb": round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024),
            "python": platform.python_version(), "torch": torch.__version__,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def table(results: dict) -> str:
    """A markdown table of a saved run (instructor/sizing.md quotes it).

    >>> print(table({"runs": [{"quantization": "fp32", "learners": 1, "wall_s": 40.0, "lesson_s": [38.0],
    ...     "kernel_peak_rss_mb": [980], "kernel_peak_pss_mb": [600], "kernel_peak_uss_mb": [360],
    ...     "kernel_end_uss_mb": [350], "machine_peak_in_use_mb": 900, "load_average_before": [1.0, 1, 1],
    ...     "errors": []}]}).splitlines()[2])
    | fp32 | 1 | 40 | 38 | 980 | 600 | 360 | 350 | 900 | 1.0 | ok |
    """
    lines = ["| weights | learners | wall (s) | slowest lesson (s) | peak RSS (MB) | peak PSS (MB) | peak USS (MB) "
             "| final USS (MB) | machine peak in use (MB) | load before | errors |", "|" + " --- |" * 11]
    for run in results["runs"]:
        cells = [run["quantization"], run["learners"], round(run["wall_s"]), round(max(run["lesson_s"])),
                 *(max(run[key]) for key in MEMORY_KEYS), run["machine_peak_in_use_mb"],
                 run["load_average_before"][0], "; ".join(run["errors"]) or "ok"]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Run every (quantization, N) pair, print one line each, save the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--quantization", nargs="+", default=["fp32", "4bit"], choices=["fp32", "4bit"])
    parser.add_argument("--table", metavar="JSON", help="print the markdown table of a saved run")
    parser.add_argument("--one", choices=["fp32", "4bit"], help=argparse.SUPPRESS)  # a learner process
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return
    if args.one:
        print(json.dumps(run_one_learner(args.one)))
        return
    rows = []
    for quantization in args.quantization:
        for learners in args.learners:
            rows.append(run_classroom(learners, quantization))
            print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"classroom-{socket.gethostname()}-{dt.date.today()}.json"
    out.write_text(json.dumps({"machine": machine(), "lesson": LESSON.name, "runs": rows}, indent=2) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
