"""Checks for lesson 00 (setting up): where the offline model lives, and a classroom's shared cache."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from ..cache import CACHE_ENV, cache_root
from ..i18n import say
from ..offline import cache_status, checkpoint_dir
from .base import Report, exercise_check, not_a
from .values import show

SHARED = "/srv/llmcourse"  # the classroom folder of lesson 00's exercise 2


@exercise_check(en="The offline model's folder", ja="オフラインモデルのフォルダー")
def check_model_folder(report: Report, my_folder: Any) -> None:
    """Lesson 00: ``my_folder`` is the folder of the converted offline model, ready to load.

    >>> check_model_folder(checkpoint_dir()).passed  # doctest: +SKIP
    True
    """
    is_path = isinstance(my_folder, (str, os.PathLike))
    if not report.add(is_path, say(en="my_folder is a path", ja="my_folder はパスです") if is_path
                      else not_a("my_folder", my_folder, en="a path", ja="パス"),
                      say(en="this is the function checkpoint_dir itself: call it, and keep the folder it returns",
                          ja="これは関数 checkpoint_dir そのものです。呼び出して、返るフォルダーを使います")
                      if callable(my_folder) else
                      say(en="a pathlib.Path (or a string): the folder whose files the lesson listed",
                          ja="pathlib.Path（または文字列）にします：レッスンがファイルを一覧にしたフォルダーです")):
        return
    folder = Path(my_folder).expanduser()
    report.add(folder.is_dir(), say(en=f"{folder.name} is a folder", ja=f"{folder.name} はフォルダーです")
               if folder.is_dir() else say(en=f"{show(str(folder))} is not a folder",
                                           ja=f"{show(str(folder))} はフォルダーではありません"),
               _folder_hint(folder))
    if not folder.is_dir():
        return
    status = cache_status(folder)
    report.add(status.ready, say(en="it holds a complete converted checkpoint (manifest, config, weights, tokenizer)",
                                 ja="変換済みのチェックポイント一式（マニフェスト、設定、重み、トークナイザー）があります")
               if status.ready else say(en=f"it is not a ready checkpoint: {status.detail}",
                                        ja=f"準備のできたチェックポイントではありません：{status.detail}"),
               _folder_hint(folder))


def _folder_hint(folder: Path) -> str:
    """A file inside the checkpoint, the model's name, the cache root above it, or somewhere else."""
    if folder.parent == checkpoint_dir():
        return say(en=f"{folder.name} is a file in the folder: give the folder itself, the file's parent",
                   ja=f"{folder.name} はフォルダーの中のファイルです：フォルダーそのもの（ファイルの親）を渡します")
    if str(folder).endswith(checkpoint_dir().name) and not folder.is_absolute():
        return say(en=f"{str(folder)!r} is the model's name, not a folder on this machine: the converted copy lives "
                      "in the course's cache, in the folder whose files the lesson listed",
                   ja=f"{str(folder)!r} はモデルの名前で、このマシン上のフォルダーではありません。変換済みのコピーは"
                      "コースのキャッシュの中、レッスンがファイルを一覧にしたフォルダーにあります")
    if folder == cache_root():
        return say(en="that is the cache root: the model has its own folder inside it, the one whose files the "
                      "lesson listed",
                   ja="それはキャッシュのルートです：モデルはその中の専用フォルダー（レッスンがファイルを一覧にした"
                      "フォルダー）にあります")
    return say(en="the folder whose files the lesson listed: the lesson imported the function that finds it "
                  "(run `python -m llmcourse fetch` first if the model is not there)",
               ja="レッスンがファイルを一覧にしたフォルダーです。それを返す関数はレッスンで import しています"
                  "（モデルがなければ先に `python -m llmcourse fetch` を実行します）")


@exercise_check(en="A classroom's shared cache", ja="教室で共有するキャッシュ")
def check_classroom_env(report: Report, my_env: Any, folder: str = SHARED) -> None:
    """Lesson 00: ``my_env``, the environment every learner gets, points the course at one shared copy.

    >>> check_classroom_env({"LLMCOURSE_CACHE": "/srv/llmcourse"}).passed
    True
    >>> check_classroom_env({"HF_HOME": "/srv/llmcourse"}).passed
    False
    """
    is_dict = isinstance(my_env, dict)
    if not report.add(is_dict, say(en="my_env is a dict", ja="my_env は dict です") if is_dict else
                      not_a("my_env", my_env, en="a dict", ja="dict "),
                      say(en="a dict of environment variables, {name: value}: the variable the course reads for its "
                             "cache, and the shared folder",
                          ja="環境変数の dict にします：名前はコースがキャッシュに使う変数、値は共有フォルダーです")):
        return
    value = my_env.get(CACHE_ENV)
    right = isinstance(value, (str, os.PathLike)) and PurePosixPath(str(value)) == PurePosixPath(folder)
    report.add(right, say(en=f"{CACHE_ENV} is {value!r}", ja=f"{CACHE_ENV} は {value!r} です") if right else
               say(en=f"{CACHE_ENV} is {value!r}, not {folder!r}",
                   ja=f"{CACHE_ENV} は {value!r} です（{folder!r} ではありません）")
               if CACHE_ENV in my_env else say(en=f"does not set {CACHE_ENV}", ja=f"{CACHE_ENV} を指定していません"),
               _cache_hint(my_env, folder))
    hub = my_env.get("LLMCOURSE_MODEL")
    report.add(not hub, say(en="keeps the offline default model (no LLMCOURSE_MODEL)",
                            ja="オフラインの既定モデルのままです（LLMCOURSE_MODEL なし）") if not hub else
               say(en=f"sets LLMCOURSE_MODEL={hub!r}", ja=f"LLMCOURSE_MODEL={hub!r} を指定しています"),
               say(en="leave LLMCOURSE_MODEL out: a hub model needs the network on every learner's first load",
                   ja="LLMCOURSE_MODEL は入れません：ハブのモデルは受講者ごとの最初の読み込みでネットワークが必要です"))


def _cache_hint(env: dict, folder: str) -> str:
    """Hugging Face's own cache variables, the model's subfolder, or no setting at all."""
    value = str(env.get(CACHE_ENV, ""))
    if CACHE_ENV not in env and ({"HF_HOME", "HF_HUB_CACHE", "TRANSFORMERS_CACHE"} & set(env)):
        return say(en=f"the course looks in ${CACHE_ENV}, not in Hugging Face's cache variables",
                   ja=f"コースが見るのは Hugging Face のキャッシュの変数ではなく ${CACHE_ENV} です")
    if value.rstrip("/").startswith(folder.rstrip("/") + "/"):
        return say(en=f"give the shared folder itself, {folder!r}: the course adds the model's folder inside it",
                   ja=f"共有フォルダーそのもの {folder!r} を渡します：モデルのフォルダーはコースがその中に作ります")
    return say(en=f"set the variable the course reads for its cache (the lesson names it) to the shared folder, "
                  f"{folder!r}",
               ja=f"コースがキャッシュに使う変数（レッスンに名前があります）に、共有フォルダー {folder!r} を設定します")
