"""The environment doctor: can this machine run the course, and if not, what to do.

Lesson 00 introduces it (``python -m llmcourse doctor``). Each check returns a
`Check` with a status ("ok", "warn" or "fail"), one line of detail and, when
something needs doing, the command that fixes it. Nothing here downloads or loads a
model; the slowest check is the hub probe, bounded at 3 s.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from . import offline
from .hub import HUB_URL, hub_offline_by_setting, hub_reachable
from .loading import MODEL_ENV, OFFLINE_NAMES, in_hub_cache, looks_like_path
from .quiet import silence_bitsandbytes

HUB_TIMEOUT_S = 3.0
MARKS = {"ok": "✔", "warn": "!", "fail": "✘"}
ASCII_MARKS = {"ok": "+", "warn": "!", "fail": "x"}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report.

    >>> Check("python", "ok", "3.11.7").status
    'ok'
    """

    name: str
    status: str  # "ok", "warn" or "fail"
    detail: str
    fix: str = ""


def _major_minor(version: str) -> tuple[int, int]:
    """The leading ``major.minor`` of a version string.

    >>> _major_minor("2.13.0+cpu")
    (2, 13)
    """
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def check_python() -> Check:
    """Python 3.11 or newer.

    >>> check_python().status
    'ok'
    """
    version = ".".join(str(part) for part in sys.version_info[:3])
    if sys.version_info < (3, 11):
        return Check("python", "fail", f"{version} is too old", "install Python 3.11 or newer, then reinstall the course into it")
    return Check("python", "ok", version)


def check_torch() -> Check:
    """torch's version and the GPU it sees (none is fine: the course runs on CPU).

    >>> check_torch().name
    'torch'
    """
    try:
        import torch
    except ImportError:
        return Check("torch", "fail", "not installed", 'pip install "torch>=2.4"')
    if _major_minor(torch.__version__) < (2, 4):
        return Check("torch", "fail", f"{torch.__version__} is too old", 'pip install "torch>=2.4"')
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_properties(0)
        return Check("torch", "ok", f"{torch.__version__}, GPU {gpu.name} ({gpu.total_memory / 2**30:.0f} GiB)")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return Check("torch", "ok", f"{torch.__version__}, Apple GPU (mps); the lessons default to CPU")
    return Check("torch", "ok", f"{torch.__version__}, no GPU: every lesson runs on CPU (more slowly)")


def check_bitsandbytes() -> Check:
    """bitsandbytes' version and backend; 4-bit on CPU needs 0.49 or newer.

    >>> check_bitsandbytes().name
    'bitsandbytes'
    """
    silence_bitsandbytes()  # before the import: it logs about optional kernels
    try:
        import bitsandbytes
        from bitsandbytes import cextension
    except Exception as error:  # ImportError, or a broken native library
        return Check("bitsandbytes", "fail", f"cannot be imported ({type(error).__name__})",
                     'pip install "bitsandbytes>=0.49"')
    version = bitsandbytes.__version__
    backend = getattr(cextension, "BNB_BACKEND", None) or _torch_backend()
    native = not isinstance(getattr(cextension, "lib", None), getattr(cextension, "ErrorHandlerMockBNBNativeLibrary", ()))
    if backend == "CPU" and _major_minor(version) < (0, 49):
        return Check("bitsandbytes", "fail", f"{version} quantizes only on a GPU",
                     'pip install "bitsandbytes>=0.49" (4-bit on CPU needs 0.49 or newer)')
    if backend != "CPU" and not native:
        return Check("bitsandbytes", "fail", f"{version}: its {backend} library did not load",
                     'pip install --force-reinstall "bitsandbytes>=0.49"')
    return Check("bitsandbytes", "ok", f"{version}, {backend} backend (4-bit and 8-bit available)")


def _torch_backend() -> str:
    """"CUDA" when torch sees a GPU, else "CPU" (for bitsandbytes without BNB_BACKEND)."""
    import torch

    return "CUDA" if torch.cuda.is_available() else "CPU"


def check_transformers() -> Check:
    """transformers 5.x: the course uses its v5 API (``dtype=``, ``quantization_config=``).

    >>> check_transformers().status
    'ok'
    """
    try:
        import transformers
    except ImportError:
        return Check("transformers", "fail", "not installed", 'pip install "transformers>=5,<6"')
    version = transformers.__version__
    if _major_minor(version)[0] != 5:
        return Check("transformers", "fail", f"{version}, the course needs 5.x", 'pip install "transformers>=5,<6"')
    return Check("transformers", "ok", version)


def check_offline_model() -> Check:
    """Is the offline default converted and complete (file sizes against its manifest)?

    >>> check_offline_model().name
    'offline model'
    """
    try:
        status = offline.cache_status()
    except Exception as error:  # an unreadable cache folder must not crash the doctor
        return Check("offline model", "fail", f"cache at {offline.checkpoint_dir()} is unreadable ({error})",
                     "python -m llmcourse fetch --force")
    if status.ready:
        return Check("offline model", "ok", f"{offline.MODEL_NAME} ready at {status.path}")
    return Check("offline model", "fail", f"{offline.MODEL_NAME} {status.detail} ({status.path})",
                 "python -m llmcourse fetch")


def check_hub(reachable: bool) -> Check:
    """Report the hub probe; unreachable is only a warning (the offline default works).

    >>> check_hub(False).status
    'warn'
    """
    url = os.environ.get("HF_ENDPOINT", HUB_URL)
    if reachable:
        return Check("hub", "ok", f"{url} reachable: hub models can be downloaded")
    why = "switched off (HF_HUB_OFFLINE)" if hub_offline_by_setting() else f"{url} not reachable"
    return Check("hub", "warn", f"{why}: hub models need a network; the offline default does not")


def check_model_choice(reachable: bool) -> Check:
    """The model ``$LLMCOURSE_MODEL`` picks, and whether it can load from here.

    >>> check_model_choice(False).name
    'model'
    """
    chosen = os.environ.get(MODEL_ENV, "")  # read exactly as load_model reads it
    unset = f"unset {MODEL_ENV} to use the offline default {offline.MODEL_NAME}"
    if chosen in OFFLINE_NAMES:
        how = f"${MODEL_ENV} = {chosen}" if chosen else f"${MODEL_ENV} not set"
        return Check("model", "ok", f"offline default {offline.MODEL_NAME} ({how})")
    if Path(chosen).expanduser().is_dir():
        return Check("model", "ok", f"${MODEL_ENV} = folder {chosen}")
    if looks_like_path(chosen):
        return Check("model", "fail", f"${MODEL_ENV} = {chosen}, but there is no such folder",
                     f"correct the path, or {unset}")
    if reachable:
        return Check("model", "ok", f"${MODEL_ENV} = hub model {chosen} (downloaded on first load)")
    if in_hub_cache(chosen):
        return Check("model", "ok", f"${MODEL_ENV} = hub model {chosen}, already in the local hub cache")
    return Check("model", "fail", f"${MODEL_ENV} = hub model {chosen}, but the hub is not reachable",
                 f"{unset} (or connect to the internet)")


def run_checks() -> list[Check]:
    """Run every check in order; the hub is probed once, for at most 3 s.

    >>> [check.name for check in run_checks()][:2]   # doctest: +SKIP
    ['python', 'torch']
    """
    checks: list[Callable[[], Check]] = [check_python, check_torch, check_bitsandbytes,
                                         check_transformers, check_offline_model]
    results = [_safely(check) for check in checks]
    reachable = hub_reachable(HUB_TIMEOUT_S)
    results.append(_safely(lambda: check_hub(reachable)))
    results.append(_safely(lambda: check_model_choice(reachable)))
    return results


def _safely(check: Callable[[], Check]) -> Check:
    """Run one check; a crash inside it becomes a "fail" line instead of a traceback."""
    try:
        return check()
    except Exception as error:
        name = getattr(check, "__name__", "check").removeprefix("check_")
        return Check(name, "fail", f"the check itself failed: {type(error).__name__}: {error}",
                     "report this at the course's issue tracker, with the line above")


def _marks(stream: TextIO) -> dict[str, str]:
    """✔/!/✘ when the stream can encode them, else +/!/x (a Windows console, say)."""
    try:
        "".join(MARKS.values()).encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return ASCII_MARKS
    return MARKS


def format_report(checks: list[Check], marks: dict[str, str] = MARKS) -> str:
    """One aligned line per check, with ``fix:`` under those that need one.

    >>> print(format_report([Check("python", "ok", "3.11.7"), Check("hub", "warn", "offline")]))
    ✔ python  3.11.7
    ! hub     offline
    """
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append(f"{marks[check.status]} {check.name:<{width}}  {check.detail}")
        if check.fix and check.status != "ok":
            lines.append(f"  {'':<{width}}  fix: {check.fix}")
    return "\n".join(lines)


def doctor(stream: TextIO | None = None) -> bool:
    """Print the report (to ``stream``, default stdout); True when the course can run.

    >>> ready = doctor()                                  # doctest: +SKIP
    ✔ python         3.11.7
    ...
    """
    stream = stream if stream is not None else sys.stdout
    checks = run_checks()
    marks = _marks(stream)
    ready = all(check.status != "fail" for check in checks)
    verdict = ("Ready: the course can run here." if ready else
               f"Not ready: do the fix under each {marks['fail']} line, then run `python -m llmcourse doctor` again.")
    print(format_report(checks, marks), verdict, sep="\n", file=stream)
    return ready
