"""The course's model cache on disk: where it is, its layout, and its locking, safe for many processes and Unix users.

`cache_root` is the folder (``$LLMCOURSE_CACHE`` or the user's cache folder). `offline.fetch`
fills it: `fetch_lock` lets one process convert while the others wait, `new_version` gives the
conversion a fresh folder under ``versions/`` and `swap_in` switches the checkpoint to it in one
atomic step without deleting the old one, and `how_to_fetch` tells a learner who cannot write the
cache who can.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .i18n import say

LOCK_FILE = ".fetch.lock"
VERSIONS = "versions"
CACHE_ENV = "LLMCOURSE_CACHE"

Progress = Callable[[str], None]  # told what a long step is doing (print by default); offline.py uses it too


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


@contextmanager
def fetch_lock(root: Path, progress: Progress = print) -> Iterator[bool]:
    """Hold the cache's inter-process lock; yield whether another process held it first.

    The lock is an OS file lock (``flock``): it dies with its process, so a killed
    fetch never blocks the next one.

    >>> with fetch_lock(Path(tempfile.mkdtemp())) as waited:
    ...     waited
    False
    """
    from filelock import FileLock, Timeout

    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(root / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
        waited = False
    except Timeout:
        progress(say(en=f"Another process is preparing the model in {root}; waiting for it to finish ...",
                     ja=f"別のプロセスが {root} でモデルを準備しています。終わるまで待ちます…"))
        lock.acquire()
        waited = True
    try:
        yield waited
    finally:
        lock.release()


@contextmanager
def new_version(target: Path) -> Iterator[Path]:
    """Yield an empty folder to write a new version of ``target`` into; then switch ``target`` to it.

    The folder is under ``versions/``, next to ``target``. Run it under `fetch_lock`: every partial
    folder found is then a killed run's and goes, as do older versions except the one ``target``
    points at. If the block raises, its folder goes and ``target`` is untouched.

    >>> root = Path(tempfile.mkdtemp())
    >>> with new_version(root / "model") as folder:
    ...     _ = (folder / "weights").write_text("1")
    >>> (root / "model" / "weights").read_text()
    '1'
    """
    versions = target.parent / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    current = target.resolve() if target.is_symlink() else None
    for stale in [*versions.iterdir(), *target.parent.glob(f".{target.name}.partial-*")]:
        if stale != current:
            shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=versions))
    try:
        yield scratch
        _make_shareable(scratch)
        version = versions / f"{target.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        os.replace(scratch, version)
        swap_in(version, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def swap_in(version: Path, link: Path) -> None:
    """Point ``link`` at the folder ``version`` in one atomic rename; delete nothing.

    >>> root = Path(tempfile.mkdtemp()); (root / "v1").mkdir(); swap_in(root / "v1", root / "m")
    >>> os.readlink(root / "m")
    'v1'
    """
    temporary = link.parent / f".{link.name}.link-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    try:
        os.symlink(os.path.relpath(version, link.parent), temporary, target_is_directory=True)
    except OSError:  # no symlinks here (Windows without developer mode): rename instead
        _move_aside(link, version.parent)
        os.replace(version, link)
        return
    _move_aside(link, version.parent)
    os.replace(temporary, link)


def _make_shareable(folder: Path) -> None:
    """Let every user read the checkpoint (temp folders start private), for shared caches."""
    folder.chmod(0o755)
    for file in folder.iterdir():
        file.chmod(0o644)


def _move_aside(folder: Path, versions: Path) -> None:
    """Move a real folder (a cache from before ``versions/``) into ``versions``; links stay."""
    if folder.is_dir() and not folder.is_symlink():
        os.replace(folder, versions / f"{folder.name}-replaced-{time.strftime('%Y%m%d-%H%M%S')}")


def how_to_fetch(root: Path, *, force: bool = False) -> str:
    """Who must run ``fetch`` for the cache at ``root``, and the exact command (a clause: callers end the sentence).

    >>> how_to_fetch(Path(tempfile.gettempdir()))
    'run `python -m llmcourse fetch`'
    """
    command = "python -m llmcourse fetch" + (" --force" if force else "")
    if can_write(root):
        return say(en=f"run `{command}`", ja=f"`{command}` を実行してください")
    existing = _nearest_existing(root)
    owner = _owner(existing)
    return say(en=f"{owner} (the instructor or administrator, who owns {existing}) must run "
                  f"`LLMCOURSE_CACHE={root} {command}` once; or use a cache of your own: "
                  f"`export LLMCOURSE_CACHE=~/.cache/llmcourse` and run `{command}`",
               ja=f"{existing} の所有者である {owner}（講師か管理者）が `LLMCOURSE_CACHE={root} {command}` を"
                  f"一度実行する必要があります。または自分用のキャッシュを使ってください："
                  f"`export LLMCOURSE_CACHE=~/.cache/llmcourse` を設定して `{command}` を実行します")


def not_a_folder(root: Path) -> str | None:
    """Why ``root`` cannot hold a cache (it, or a folder above it, is a file), or ``None`` when it can.

    >>> file = Path(tempfile.mkdtemp()) / "notes.txt"; _ = file.write_text("x")
    >>> not_a_folder(file / "sub") == f"{file} is a file, not a folder"
    True
    """
    existing = _nearest_existing(root)
    if existing.is_dir():
        return None
    return say(en=f"{existing} is a file, not a folder", ja=f"{existing} はフォルダーではなくファイルです")


def can_write(root: Path) -> bool:
    """Can this user create or change files in ``root`` (or create ``root``)?

    >>> can_write(Path(tempfile.mkdtemp()) / "new" / "cache")
    True
    """
    return os.access(_nearest_existing(root), os.W_OK | os.X_OK)


def _nearest_existing(path: Path) -> Path:
    """``path`` itself if it exists, else its closest existing parent."""
    return next(folder for folder in (path, *path.parents) if folder.exists())


def _owner(path: Path) -> str:
    """The name of the user who owns ``path`` ('the owner' where there are no Unix users)."""
    try:
        import pwd

        return pwd.getpwuid(path.stat().st_uid).pw_name
    except (ImportError, KeyError, OSError):
        return say(en="the owner", ja="所有者")
