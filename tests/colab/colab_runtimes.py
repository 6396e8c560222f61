"""Colab-like runtimes for `make test-colab`: what a lesson meets when its badge is clicked.

A runtime here is a throwaway virtual environment standing in for a fresh Colab runtime:

- this machine's Python, with torch already installed (torch==<lock>: here the local CPU wheel)
  and a preinstalled transformers, older (the 4.x line Colab shipped for years) or newer than
  the course's; numpy, matplotlib, pip, IPython and ipykernel at versions Colab has shipped;
- `google.colab` importable and imported when the kernel starts (a stub package with nothing
  in it: the install cell only asks whether it is in `sys.modules`); nothing else is faked;
- each lesson gets its own runtime, as on Colab (a hard-linked copy of a base environment that
  is built once per set of inputs and kept in .cache/colab/), a fresh cache folder (so no model
  is there yet) and a fresh working folder, like /content;
- `PIP_CONSTRAINT` holds torch at the runtime's version: if an install cell ever needed another
  torch, pip fails loudly here instead of fetching a CUDA build of several GB (on Colab it
  would silently replace the runtime's torch, which is a finding worth failing for).

The install cell's `llmcourse @ git+<repository>@<ref>` is pointed at a git snapshot of this
checkout (tracked and untracked files, ignored ones left out) by the test only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "colab"  # gitignored; `rm -rf .cache/colab` forces a rebuild
LOCK = dict(line.split("==", 1) for line in (ROOT / "requirements.lock").read_text().splitlines()
            if "==" in line and not line.startswith("#"))
TORCH = LOCK["torch"]  # the runtime's own torch, which no install cell may replace
# What a Colab runtime brings before any cell runs, besides transformers (versions Colab has shipped).
PREINSTALLED = (f"torch=={TORCH}", "numpy==2.0.2", "matplotlib==3.10.0",
                "pip==24.1.2", "ipython==7.34.0", "ipykernel==6.17.1", "ipywidgets==7.7.1")
# transformers preinstalled on each runtime: the 4.x line, and the newest release (when written,
# PyPI's newest was the lock's own 5.24.0: no newer one existed). Override with a space-separated
# $LLMCOURSE_COLAB_TRANSFORMERS.
TRANSFORMERS = tuple(os.environ.get("LLMCOURSE_COLAB_TRANSFORMERS", "4.57.6 5.24.0").split())
STUB = '"""Stand-in for Colab\'s google.colab (tests/colab): only `import google.colab` works."""\n'
PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
# The environment of the kernel: none of this machine's course or test settings.
DROPPED = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONHASHSEED", "LLMCOURSE_", "JUPYTER", "IPYTHONDIR",
           "MPLBACKEND", "MPLCONFIGDIR", "PIP_CONSTRAINT", "PYTEST", "HF_", "TRANSFORMERS_", "OMP_", "MKL_",
           "ATEN_", "ONEDNN_", "TOKENIZERS_", "XDG_CACHE_HOME")


def run(command: list, **kwargs) -> str:
    """Run ``command``; on failure stop the test with its output."""
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    if done.returncode:
        pytest.fail(f"`{' '.join(map(str, command))}` failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}",
                    pytrace=False)
    return done.stdout


def freeze(venv: Path) -> str:
    return run([venv / "bin" / "python", "-m", "pip", "freeze", "--all"])


@dataclass
class Base:
    """A built runtime, never run in: lessons run in hard-linked copies of it."""

    transformers: str  # the preinstalled version
    venv: Path


def build_base(transformers: str) -> Base:
    """The base runtime with ``transformers`` preinstalled: reused when its inputs and files are unchanged."""
    inputs = [sys.version, PREINSTALLED, transformers, STUB]
    key = hashlib.sha256(json.dumps(inputs).encode()).hexdigest()[:10]
    venv = CACHE / f"runtime-transformers-{transformers}-{key}"
    frozen = venv / "freeze.txt"
    if frozen.exists() and freeze(venv) == frozen.read_text():
        return Base(transformers, venv)
    partial = venv.with_name(venv.name + ".partial")
    for folder in (venv, partial, *CACHE.glob(f"runtime-transformers-{transformers}-*")):  # older builds too
        shutil.rmtree(folder, ignore_errors=True)
    run([PYTHON, "-m", "venv", partial])
    run([partial / "bin" / "python", "-m", "pip", "install", "-q", *PREINSTALLED, f"transformers=={transformers}"],
        env={**os.environ, "PIP_CONSTRAINT": str(constraints(partial / "constraints.txt"))})
    stub = partial / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages" / "google"
    (stub / "colab").mkdir(parents=True)  # `google` stays a namespace package (google.protobuf lives there too)
    (stub / "colab" / "__init__.py").write_text(STUB)
    partial.rename(venv)  # a venv only records its folder in bin/ scripts, which the runs never use
    frozen.write_text(freeze(venv))
    return Base(transformers, venv)


def constraints(path: Path) -> Path:
    """A pip constraints file that holds torch where the runtime has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"torch=={TORCH}\n")
    return path


@dataclass
class Runtime:
    """One lesson's fresh runtime: its environment, kernel spec and folders."""

    base: Base
    folder: Path

    @property
    def venv(self) -> Path:
        return self.folder / "venv"

    def kernel_env(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith(DROPPED)}
        env.update({
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",  # `!python` is the runtime's
            "XDG_CACHE_HOME": str(self.folder / "cache"),  # empty: no model, no hub cache yet
            "PIP_CACHE_DIR": run([sys.executable, "-m", "pip", "cache", "dir"]).strip(),  # this machine's: faster
            "PIP_CONSTRAINT": str(constraints(self.folder / "constraints.txt")),
            "IPYTHONDIR": str(self.folder / "ipython"),
            "MPLCONFIGDIR": str(self.folder / "matplotlib"),
            "OMP_WAIT_POLICY": "PASSIVE",  # no busy-waiting threads on this shared machine (same results)
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # ipykernel 6's debugger warns about frozen modules otherwise
        })
        return env

    def start_kernel(self, preimport: tuple[str, ...] = ()):
        """A kernel manager for a kernel in this runtime; at start it imports google.colab (and ``preimport``)."""
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        startup = self.folder / "ipython" / "profile_default" / "startup" / "00-colab.py"
        startup.parent.mkdir(parents=True, exist_ok=True)
        startup.write_text("".join(f"import {name}\n" for name in ("google.colab", *preimport)))
        spec = self.folder / "kernels" / "colab" / "kernel.json"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(json.dumps({
            "argv": [str(self.venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Colab-like runtime", "language": "python",
        }))
        return KernelManager(kernel_name="colab",
                             kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent.parent)]))


def snapshot_checkout() -> str:
    """Copy this checkout (tracked and untracked files, not ignored ones) into a fresh git repository.

    Returns the pip URL of its branch ``main``, which the tests put in place of ``git+<repository>@<ref>``.
    """
    repo = CACHE / "checkout"
    shutil.rmtree(repo, ignore_errors=True)
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # tracked files deleted in the working tree are left out
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git = ["git", "-C", repo, "-c", "user.name=test-colab", "-c", "user.email=test-colab@localhost"]
    run([*git, "init", "-q", "-b", "main"])
    run([*git, "add", "-A"])
    run([*git, "commit", "-q", "-m", "snapshot of the checkout for make test-colab"])
    return f"git+file://{repo}@main"


def new_runtime(base: Base, name: str) -> Runtime:
    """A fresh runtime (folder ``.cache/colab/runs/<name>``) copied from ``base``."""
    folder = CACHE / "runs" / re.sub(r"[^\w.-]+", "-", name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # Hard links: pip replaces files, it never writes into them, so the base stays as built.
    run(["cp", "-al", base.venv, folder / "venv"])
    for sub in ("cache", "content"):
        (folder / sub).mkdir()
    return Runtime(base, folder)
