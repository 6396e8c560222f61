"""The checkup of this machine (`doctor()`): can it run the course, and if not, what to do.

Lesson 00 introduces it (``python -m llmcourse doctor``). Each probe (`probe_python`
... `probe_model_choice`) returns a `Probe` with a status ("ok", "warn" or "fail"),
one line of detail and, when something needs doing, the command that fixes it.
Nothing here downloads or loads a model; the slowest probe is the hub's, bounded at
3 s. The report speaks the language of `llmcourse.i18n.get_language()` (English or
Japanese): details, fixes and the names of the probes (`label`); package names and
commands stay as they are. (Exercise checks, which return a `Report`, live in
`llmcourse.checks`.)
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from . import offline
from .cache import CACHE_ENV, cache_root, can_write, how_to_fetch, not_a_folder
from .hub import HUB_URL, hub_offline_by_setting, hub_reachable
from .i18n import get_language, in_language, say
from .loading import MODEL_ENV, resolve_model
from .precision import BNB_4BIT_CAPABILITY, BNB_8BIT_CAPABILITY, gpu_capability, pick_dtypes
from .quiet import silence_bitsandbytes
from .tokens import pad_text, text_width

HUB_TIMEOUT_S = 3.0
MARKS = {"ok": "✔", "warn": "!", "fail": "✘"}
LABELS = {  # the probes whose name is a word, not a package's name: `say`'s arguments
    "dtypes": {"en": "dtypes", "ja": "データ型"}, "offline model": {"en": "offline model", "ja": "オフラインモデル"},
    "hub": {"en": "hub", "ja": "ハブ"}, "model": {"en": "model", "ja": "モデル"},
}
ASCII_MARKS = {"ok": "+", "warn": "!", "fail": "x"}


@dataclass(frozen=True)
class Probe:
    """One line of the doctor's report.

    >>> Probe("python", "ok", "3.11.7").status
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


def probe_python() -> Probe:
    """Python 3.11 or newer.

    >>> probe_python().status
    'ok'
    """
    version = ".".join(str(part) for part in sys.version_info[:3])
    if sys.version_info < (3, 11):  # noqa: UP036 (the doctor must run, and say so, on an older Python)
        return Probe("python", "fail", say(en=f"{version} is too old", ja=f"{version} は古すぎます"),
                     say(en="install Python 3.11 or newer, then reinstall the course into it",
                         ja="Python 3.11 以降をインストールし、コースをそこにインストールし直してください"))
    return Probe("python", "ok", version)


def probe_torch() -> Probe:
    """torch's version and the GPU it sees (none is fine: the course runs on CPU).

    >>> probe_torch().name
    'torch'
    """
    try:
        import torch
    except ImportError:
        return Probe("torch", "fail", say(en="not installed", ja="インストールされていません"),
                     'pip install "torch>=2.4"')
    if _major_minor(torch.__version__) < (2, 4):
        return Probe("torch", "fail", say(en=f"{torch.__version__} is too old", ja=f"{torch.__version__} は古すぎます"),
                     'pip install "torch>=2.4"')
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_properties(0)
        memory = f"{gpu.total_memory / 2**30:.0f} GiB"
        return Probe("torch", "ok", say(en=f"{torch.__version__}, GPU {gpu.name} ({memory})",
                                        ja=f"{torch.__version__}、GPU {gpu.name}（{memory}）"))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return Probe("torch", "ok", say(en=f"{torch.__version__}, Apple GPU (mps); the lessons default to CPU",
                                        ja=f"{torch.__version__}、Apple GPU（mps）。レッスンは既定では CPU で動きます"))
    return Probe("torch", "ok", say(
        en=f"{torch.__version__}, no GPU: every lesson runs on CPU (more slowly)",
        ja=f"{torch.__version__}、GPU なし。どのレッスンも CPU で動きます（速度は遅めです）"))


def probe_bitsandbytes() -> Probe:
    """bitsandbytes' version and backend; 4-bit on CPU needs 0.49 or newer.

    >>> probe_bitsandbytes().name
    'bitsandbytes'
    """
    silence_bitsandbytes()  # before the import: it logs about optional kernels
    try:
        import bitsandbytes
        from bitsandbytes import cextension
    except Exception as error:  # ImportError, or a broken native library
        return Probe("bitsandbytes", "fail", say(en=f"cannot be imported ({type(error).__name__})",
                                                 ja=f"インポートできません（{type(error).__name__}）"),
                     'pip install "bitsandbytes>=0.49"')
    version = bitsandbytes.__version__
    backend = getattr(cextension, "BNB_BACKEND", None) or _torch_backend()
    mock_library = getattr(cextension, "ErrorHandlerMockBNBNativeLibrary", ())  # what bitsandbytes loads on failure
    native = not isinstance(getattr(cextension, "lib", None), mock_library)
    if backend == "CPU" and _major_minor(version) < (0, 49):
        return Probe("bitsandbytes", "fail", say(en=f"{version} quantizes only on a GPU",
                                                 ja=f"{version} は GPU でしか量子化できません"),
                     say(en='pip install "bitsandbytes>=0.49" (4-bit on CPU needs 0.49 or newer)',
                         ja='pip install "bitsandbytes>=0.49"（CPU で 4 ビット量子化するには 0.49 以降が必要です）'))
    if backend != "CPU" and not native:
        return Probe("bitsandbytes", "fail", say(en=f"{version}: its {backend} library did not load",
                                                 ja=f"{version}：{backend} 用のライブラリを読み込めませんでした"),
                     'pip install --force-reinstall "bitsandbytes>=0.49"')
    return Probe("bitsandbytes", "ok", say(en=f"{version}, {backend} backend (4-bit and 8-bit available)",
                                           ja=f"{version}、{backend} バックエンド（4 ビットも 8 ビットも使えます）"))


def probe_dtypes() -> Probe:
    """The dtypes `load_model` uses here (`precision.pick_dtypes`); on a GPU its name and compute capability.

    >>> probe_dtypes().name
    'dtypes'
    """
    found = gpu_capability("cuda")
    if found is None:
        dtype = pick_dtypes("cpu").compute  # the rule's 16-bit type, with its reason, lives in precision.pick_dtypes
        return Probe("dtypes", "ok", say(
            en=f"CPU: float32 by default; quantized (4-bit, 8-bit): {dtype} matmuls and other layers",
            ja=f"CPU：既定は float32。量子化（4 ビット、8 ビット）では行列積もほかの層も {dtype}"))
    capability, name = found
    dotted = ".".join(str(part) for part in capability)
    if capability < BNB_4BIT_CAPABILITY:
        return Probe("dtypes", "fail", say(
            en=f"GPU {name}, compute capability {dotted}: too old for bitsandbytes 4-bit "
               "(it needs 6.0, Pascal or newer)",
            ja=f"GPU {name}、compute capability {dotted}：bitsandbytes の 4 ビットには古すぎます"
               "（6.0 以降、Pascal 以降が必要）"),
            say(en="load_model(quantization=None) (full precision), or a newer GPU (on Colab: a T4)",
                ja="load_model(quantization=None)（全精度）を使うか、新しい GPU（Colab なら T4）を使ってください"))
    dtypes = pick_dtypes("cuda")  # the 16-bit type and why: the one statement of the rule
    no_8bit = "" if capability >= BNB_8BIT_CAPABILITY else say(
        en="; 8-bit needs 7.5 (Turing)", ja="。8 ビットには 7.5（Turing）以降が必要です")
    return Probe("dtypes", "ok", say(
        en=f"GPU {name}: 4-bit NF4 with {dtypes.compute} matmuls and other layers ({dtypes.reason}){no_8bit}",
        ja=f"GPU {name}：4 ビット NF4、行列積もほかの層も {dtypes.compute}（{dtypes.reason}）{no_8bit}"))


def _torch_backend() -> str:
    """"CUDA" when torch sees a GPU, else "CPU" (for bitsandbytes without BNB_BACKEND)."""
    import torch

    return "CUDA" if torch.cuda.is_available() else "CPU"


def probe_transformers() -> Probe:
    """transformers 5.x: the course uses its v5 API (``dtype=``, ``quantization_config=``).

    >>> probe_transformers().status
    'ok'
    """
    try:
        import transformers
    except ImportError:
        return Probe("transformers", "fail", say(en="not installed", ja="インストールされていません"),
                     'pip install "transformers>=5,<6"')
    version = transformers.__version__
    if _major_minor(version)[0] != 5:
        return Probe("transformers", "fail", say(en=f"{version}, the course needs 5.x",
                                                 ja=f"{version}：このコースには 5.x が必要です"),
                     'pip install "transformers>=5,<6"')
    return Probe("transformers", "ok", version)


def probe_offline_model(deep: bool = False) -> Probe:
    """Is the offline default converted and complete (file sizes, or with ``deep`` sha256, against its manifest)?

    >>> probe_offline_model().name
    'offline model'
    """
    try:
        status = offline.cache_status(deep=deep)
    except Exception as error:  # an unreadable cache folder must not crash the doctor
        return Probe("offline model", "fail", say(en=f"cache at {offline.checkpoint_dir()} is unreadable ({error})",
                                                  ja=f"キャッシュ {offline.checkpoint_dir()} を読めません（{error}）"),
                     "python -m llmcourse fetch --force")
    if status.ready:
        return Probe("offline model", "ok", say(en=f"{offline.MODEL_NAME} ready at {status.path}",
                                                ja=f"{offline.MODEL_NAME} は準備できています（{status.path}）"))
    if not_a_folder(status.path.parent):
        return Probe("offline model", "fail", say(en=f"the cache cannot hold it: {status.detail}",
                                                  ja=f"キャッシュに置けません：{status.detail}"),
                     say(en=f"point ${CACHE_ENV} at a folder (it is created if missing), or unset it",
                         ja=f"${CACHE_ENV} をフォルダーに向けるか（なければ作られます）、設定を外してください"))
    return Probe("offline model", "fail", say(  # status.detail is in the same language (offline.cache_status)
        en=f"{offline.MODEL_NAME} {status.detail} ({status.path})",
        ja=f"{offline.MODEL_NAME} はまだ使えません：{status.detail}（{status.path}）"), _fetch_fix())


def _fetch_fix() -> str:
    """The fetch command, or who must run it when this learner cannot write the shared cache."""
    root = cache_root()
    return "python -m llmcourse fetch" if can_write(root) else how_to_fetch(root)


def probe_hub(reachable: bool) -> Probe:
    """Report the hub probe; unreachable is only a warning (the offline default works).

    >>> probe_hub(False).status
    'warn'
    """
    url = os.environ.get("HF_ENDPOINT", HUB_URL)
    if reachable:
        return Probe("hub", "ok", say(en=f"{url} reachable: hub models can be downloaded",
                                      ja=f"{url} に接続できます。ハブのモデルをダウンロードできます"))
    if hub_offline_by_setting():
        why = say(en="switched off (HF_HUB_OFFLINE)", ja="HF_HUB_OFFLINE で無効にされています")
    else:
        why = say(en=f"{url} not reachable", ja=f"{url} に接続できません")
    return Probe("hub", "warn", say(
        en=f"{why}: hub models need a network; the offline default does not",
        ja=f"{why}。ハブのモデルにはネットワークが必要ですが、オフラインの既定モデルには不要です"))


def probe_model_choice(reachable: bool) -> Probe:
    """The model ``$LLMCOURSE_MODEL`` picks, and whether it can load from here (`loading.resolve_model` decides).

    >>> probe_model_choice(False).name
    'model'
    """
    choice = resolve_model(None, reachable=reachable)  # $LLMCOURSE_MODEL, read exactly as load_model reads it
    chosen, env = choice.name, f"${MODEL_ENV}"
    unset = say(en=f"unset {MODEL_ENV} to use the offline default {offline.MODEL_NAME}",
                ja=f"{MODEL_ENV} の設定を解除して、オフラインの既定モデル {offline.MODEL_NAME} に戻してください")
    if choice.origin == "offline default":
        how = f"{env} = {chosen}" if chosen else say(en=f"{env} not set", ja=f"{env} は未設定")
        return Probe("model", "ok", say(en=f"offline default {offline.MODEL_NAME} ({how})",
                                        ja=f"オフラインの既定モデル {offline.MODEL_NAME}（{how}）"))
    if choice.origin == "folder" and choice.ok:
        return Probe("model", "ok", say(en=f"{env} = folder {chosen}", ja=f"{env} = フォルダー {chosen}"))
    if choice.origin == "folder" and os.path.isfile(os.path.expanduser(chosen)):
        return Probe("model", "fail", say(en=f"{env} = {chosen}, a file: it must be a model folder",
                                          ja=f"{env} = {chosen} はファイルです。モデルのフォルダーを指定してください"),
                     say(en=f"set it to the folder that holds the file, or {unset}",
                         ja=f"ファイルのあるフォルダーを指定するか、{unset}"))
    if choice.origin == "folder":
        return Probe("model", "fail", say(en=f"{env} = {chosen}, but there is no such folder",
                                          ja=f"{env} = {chosen} ですが、そのフォルダーはありません"),
                     say(en=f"correct the path, or {unset}", ja=f"パスを直すか、{unset}"))
    if choice.origin == "hub cache":
        return Probe("model", "ok", say(en=f"{env} = hub model {chosen}, already in the local hub cache",
                                        ja=f"{env} = ハブのモデル {chosen}（ローカルのハブキャッシュにあります）"))
    if choice.ok:
        return Probe("model", "ok", say(en=f"{env} = hub model {chosen} (downloaded on first load)",
                                        ja=f"{env} = ハブのモデル {chosen}（最初の読み込みでダウンロードされます）"))
    return Probe("model", "fail", say(en=f"{env} = hub model {chosen}, but the hub is not reachable",
                                      ja=f"{env} = ハブのモデル {chosen} ですが、ハブに接続できません"),
                 say(en=f"{unset} (or connect to the internet)",
                     ja=f"{unset}（またはインターネットに接続してください）"))


def run_probes(deep: bool = False) -> list[Probe]:
    """Run every probe in order; the hub is reached for once, for at most 3 s; ``deep`` hashes the model files.

    >>> [probe.name for probe in run_probes()][:2]
    ['python', 'torch']
    """
    probes: list[Callable[[], Probe]] = [probe_python, probe_torch, probe_bitsandbytes, probe_dtypes,
                                         probe_transformers, lambda: probe_offline_model(deep)]
    results = [_safely(probe) for probe in probes]
    reachable = hub_reachable(HUB_TIMEOUT_S)
    results.append(_safely(lambda: probe_hub(reachable)))
    results.append(_safely(lambda: probe_model_choice(reachable)))
    return results


def _safely(probe: Callable[[], Probe]) -> Probe:
    """Run one probe; a crash inside it becomes a "fail" line instead of a traceback."""
    try:
        return probe()
    except Exception as error:
        name = getattr(probe, "__name__", "probe").removeprefix("probe_")
        return Probe(name, "fail", say(en=f"the check itself failed: {type(error).__name__}: {error}",
                                       ja=f"チェック自体が失敗しました（{type(error).__name__}）：{error}"),
                     say(en="report this at the course's issue tracker, with the line above",
                         ja="上の行を添えて、コースの issue トラッカーに報告してください"))


def _can_write(text: str, stream: TextIO) -> bool:
    """Whether ``stream``'s encoding has every character of ``text``."""
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _marks(stream: TextIO) -> dict[str, str]:
    """✔/!/✘ when the stream can encode them, else +/!/x (a Windows console, say)."""
    return MARKS if _can_write("".join(MARKS.values()), stream) else ASCII_MARKS


def label(name: str) -> str:
    """The name of a probe as the report shows it: the package names as they are, the others translated.

    >>> from llmcourse.i18n import set_language
    >>> set_language("ja"); label("offline model"), label("torch")
    ('オフラインモデル', 'torch')
    >>> set_language("en"); label("offline model")
    'offline model'
    """
    return say(**LABELS[name]) if name in LABELS else name


def format_report(probes: list[Probe], marks: dict[str, str] = MARKS) -> str:
    """One aligned line per probe, with ``fix:`` under those that need one.

    >>> print(format_report([Probe("python", "ok", "3.11.7"), Probe("hub", "warn", "offline")]))
    ✔ python  3.11.7
    ! hub     offline
    """
    width = max(text_width(label(probe.name)) for probe in probes)  # columns: a Japanese label takes 2 per character
    fix = say(en="fix: ", ja="対処：")
    lines = []
    for probe in probes:
        lines.append(f"{marks[probe.status]} {pad_text(label(probe.name), width)}  {probe.detail}")
        if probe.fix and probe.status != "ok":
            lines.append(f"  {'':<{width}}  {fix}{probe.fix}")
    return "\n".join(lines)


def doctor(stream: TextIO | None = None, *, deep: bool = False) -> bool:
    """Print the report (to ``stream``, default stdout); True when the course can run. ``deep`` hashes the model.

    >>> ready = doctor()  # doctest: +ELLIPSIS
    ✔ python         3...
    ✔ torch ...
    """
    stream = stream if stream is not None else sys.stdout
    japanese_fits = get_language() != "ja" or _can_write("準備完了：（対処）、", stream)
    with in_language(get_language() if japanese_fits else "en"):  # a console without Japanese gets English
        return _report(stream, deep)


def _report(stream: TextIO, deep: bool) -> bool:
    """`doctor`'s work, in the language in use: run the probes, print them and the verdict."""
    probes = run_probes(deep)
    marks = _marks(stream)
    ready = all(probe.status != "fail" for probe in probes)
    if ready:
        verdict = say(en="Ready: the course can run here.", ja="準備完了：このマシンでコースを実行できます。")
    else:
        verdict = say(en=f"Not ready: do the fix under each {marks['fail']} line, "
                         "then run `python -m llmcourse doctor` again.",
                      ja=f"準備ができていません：{marks['fail']} の各行の下にある対処を行ってから、"
                         "もう一度 `python -m llmcourse doctor` を実行してください。")
    print(format_report(probes, marks), verdict, sep="\n", file=stream)
    return ready
