"""A real inference server on this machine: start `transformers serve`, wait until it answers, stop it.

Lesson 09 introduces it. ``start_server()`` runs ``transformers serve`` (part of
transformers 5; it needs the ``serving`` extras: fastapi, uvicorn, openai) as a
subprocess on 127.0.0.1 with the offline checkpoint and ``HF_HUB_OFFLINE=1``, and
returns once ``GET /health`` answers. The server speaks the OpenAI API
(``POST /v1/chat/completions``), so any OpenAI client talks to it; the course's own
client, which reads the server-sent events line by line, is in `llmcourse.client`.

No orphan servers: the server runs in its own process group, is stopped by
``server.stop()``, by `stop_servers` at interpreter exit, and, on Linux, by the kernel
itself when the process that started it dies (``prctl(PR_SET_PDEATHSIG)``), even from
``kill -9`` or a Jupyter kernel restart.

>>> server = start_server()          # doctest: +SKIP
>>> server.url                       # doctest: +SKIP
'http://127.0.0.1:8765/v1'
>>> server.stop()                    # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .cache import how_to_fetch
from .errors import CourseError, ModelNotAvailableError, SetupError
from .i18n import say
from .offline import cache_status, checkpoint_dir

HOST = "127.0.0.1"  # this machine only: nobody else on the network can reach the server
DEFAULT_PORT = 8765
SERVING_EXTRAS = ("fastapi", "uvicorn", "openai")  # what `pip install "transformers[serving]"` adds
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_started: dict[int, Server] = {}  # port -> the servers this process started and has not stopped


class Server:
    """A `transformers serve` process started by `start_server`: its address, its log, and ``stop()``.

    ``url`` is the base URL an OpenAI client needs (``OpenAI(base_url=server.url, api_key="none")``);
    ``model`` is the name requests use. A ``with`` block stops it at the end.
    """

    def __init__(self, process: subprocess.Popen, port: int, model: str, log_path: Path,
                 continuous_batching: bool) -> None:
        self.process = process
        self.port = port
        self.model = model  # the served model's name, the "model" field of every request
        self.log_path = log_path  # everything the server printed
        self.continuous_batching = continuous_batching

    @property
    def url(self) -> str:
        """The base URL of its OpenAI-compatible API, e.g. ``http://127.0.0.1:8765/v1``."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def command(self) -> str:
        """The shell command that starts the same server, run in the model's parent folder."""
        arguments = self.process.args[self.process.args.index("serve"):]
        return "HF_HUB_OFFLINE=1 transformers " + " ".join(arguments)

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        return self.process.poll() is None

    def log(self, lines: int = 20) -> str:
        """The last ``lines`` lines the server printed (its requests, warnings, a crash)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 3.0) -> int | None:
        """Stop the server and everything it started (SIGTERM, then SIGKILL after ``timeout`` s); return its exit code.

        Stopping a stopped server does nothing.
        """
        if _started.get(self.port) is self:
            del _started[self.port]
        if self.running:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait()
        _signal_group(self.process, signal.SIGKILL)  # anything the server itself left in its group
        return self.process.returncode

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        code = self.process.returncode
        state = say(en="running", ja="実行中") if self.running else say(en=f"stopped (exit code {code})",
                                                                          ja=f"停止（終了コード {code}）")
        batching = say(en=", continuous batching", ja="、連続バッチング") if self.continuous_batching else ""
        return f"Server({self.url}, model={self.model!r}{batching}{say(en=': ', ja='：')}{state})"


def start_server(model_dir: str | os.PathLike | None = None, *, port: int = DEFAULT_PORT,
                 continuous_batching: bool = False, timeout: float = 300.0) -> Server:
    """Start `transformers serve` with the offline model on 127.0.0.1:``port``; return once it answers.

    ``continuous_batching=True`` adds ``--continuous-batching`` with a small paged KV cache
    (8 blocks of 256 tokens), enough for a lesson's few requests. ``port=0`` picks a free port.
    Refuses, with what to do, if this process already runs a server, if the port is taken, or
    if the serving extras are missing.

    >>> with start_server() as server:                              # doctest: +SKIP
    ...     print(server)
    Server(http://127.0.0.1:8765/v1, model='SmolLM2-135M-Instruct': running)
    """
    folder = _checked_model_dir(model_dir)
    _require_extras()
    _require_not_running()
    port = _free_port() if port == 0 else _checked_port(port)
    log_path = Path(tempfile.mkdtemp(prefix="llmcourse-serve-")) / "server.log"
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", "--host", HOST, "--port", str(port),
               "--log-level", "warning", folder.name]
    if continuous_batching:
        command += ["--continuous-batching", "--cb-num-blocks", "8", "--cb-max-batch-tokens", "512"]
    env = {"OMP_WAIT_POLICY": "PASSIVE",  # threads that wait sleep: the server shares the CPU with the notebook
           **os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1",
           "PYTHONUNBUFFERED": "1",
           "PYTHONHASHSEED": "0"}  # the server's log prints sets (ignored request fields): one order on every run
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=folder.parent, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_child_setup())
    server = Server(process, port, folder.name, log_path, continuous_batching)
    _started[port] = server
    _wait_until_ready(server, timeout)
    return server


def stop_servers() -> list[int]:
    """Stop every server this process started and has not stopped yet; return their ports (also runs at exit).

    >>> stop_servers()
    []
    """
    ports = sorted(_started)
    for port in ports:
        _started[port].stop()
    return ports


def running_servers() -> list[Server]:
    """The servers this process started that are still running.

    >>> running_servers()
    []
    """
    return [server for server in _started.values() if server.running]


atexit.register(stop_servers)


# ---------------------------------------------------------------- checks before starting


def _checked_model_dir(model_dir: str | os.PathLike | None) -> Path:
    """The checkpoint folder to serve: the offline model unless given; it must hold a config.json."""
    if model_dir is None:
        status = cache_status()
        if not status.ready:
            raise ModelNotAvailableError(say(
                en=f"The offline model is not ready ({status.detail}): "
                   f"{how_to_fetch(status.path.parent)}, then start the server again.",
                ja=f"オフラインモデルはまだ使えません（{status.detail}）。{how_to_fetch(status.path.parent)}。"
                   "そのあとで、もう一度サーバーを起動してください。"))
        return status.path.absolute()  # the stable name, not the version folder behind it (offline.py)
    folder = Path(model_dir).expanduser().absolute()  # links kept: the folder's name is the served model's name
    if not (folder / "config.json").is_file():
        raise ModelNotAvailableError(say(
            en=f"{folder} is not a model folder (no config.json): pass the folder of a "
               f"checkpoint, e.g. start_server(checkpoint_dir()) = {checkpoint_dir()}.",
            ja=f"{folder} はモデルのフォルダーではありません（config.json がありません）。チェックポイントのフォルダーを"
               f"渡してください。たとえば start_server(checkpoint_dir()) で {checkpoint_dir()} を使います。"))
    return folder


def _require_extras() -> None:
    """`transformers serve` imports fastapi, uvicorn and openai: say how to install them if one is missing."""
    missing = [name for name in SERVING_EXTRAS if importlib.util.find_spec(name) is None]
    if missing:
        import transformers

        install = f'pip install "transformers[serving]=={transformers.__version__}"'
        raise SetupError(say(en=f"transformers serve needs {', '.join(missing)} (its serving extras), not installed "
                                f"here: {install}, then restart the kernel.",
                             ja=f"transformers serve には {', '.join(missing)}（serving の追加パッケージ）が必要ですが、"
                                f"ここにはインストールされていません。{install} を実行してから、カーネルを"
                                "再起動してください。"))


def _require_not_running() -> None:
    """One server per notebook: a second would load a second copy of the model and compete for the CPU."""
    for server in running_servers():
        raise CourseError(say(en=f"A server started by this notebook is already running: {server}. Use it "
                                 "(server.url), or stop it first: server.stop() (or llmcourse.stop_servers()).",
                              ja=f"このノートブックが起動したサーバーがすでに動いています：{server}。それを"
                                 "（server.url で）使うか、先に server.stop()（または llmcourse.stop_servers()）で"
                                 "止めてください。"))


def _checked_port(port: int) -> int:
    """The port itself, if nothing listens on it; otherwise say what answers there and what to do."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise CourseError(say(en=f"port must be a whole number between 1 and 65535 (or 0 for any free port), "
                                 f"got {port!r}.",
                              ja=f"port は 1 から 65535 までの整数（空いているポートならどれでもよいときは 0）に"
                                 f"してください。{port!r} が渡されました。"))
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a closing socket is no owner
        try:
            probe.bind((HOST, port))
            return port
        except OSError as error:
            if error.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
    server = _health(f"http://{HOST}:{port}")
    what = ("an inference server (GET /health answers), not started by this notebook: from an earlier kernel, "
            "another notebook or a terminal" if server else "another program")
    what_ja = ("このノートブックが起動したのではない推論サーバー（GET /health に応答します。前のカーネル、別の"
               "ノートブック、ターミナルのどれかから起動されたもの）" if server else "別のプログラム")
    raise CourseError(say(en=f"Port {port} on {HOST} is taken by {what}. Stop it, or start on another port: "
                             f"start_server(port={port + 1}) (port=0 picks any free one).",
                          ja=f"{HOST} のポート {port} は{what_ja}が使っています。それを止めるか、別のポートで起動して"
                             f"ください：start_server(port={port + 1})（port=0 なら空いているポートを選びます）。"))


def _free_port() -> int:
    """A port the system says is free now (there is a small race until the server binds it)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------- the child process


def _child_setup() -> Any:
    """What the child runs before `transformers serve` starts: die with this process (Linux), else nothing."""
    if not sys.platform.startswith("linux"):
        return None
    parent, prctl = os.getpid(), ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it

    def die_with_parent() -> None:  # runs in the child, between fork and exec
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl: nobody would send the signal
            os._exit(1)

    return die_with_parent


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    """Send a signal to the server's process group (it leads its own session); gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _health(base: str, timeout: float = 2.0) -> bool:
    """Does ``base/health`` answer 200?"""
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):  # refused, reset, timed out, an HTTP error status
        return False


def _wait_until_ready(server: Server, timeout: float) -> None:
    """Poll /health until it answers; if the process exits or time runs out, stop it and say why."""
    deadline = time.monotonic() + timeout
    base = server.url.removesuffix("/v1")
    while time.monotonic() < deadline:
        if not server.running:
            server.stop()
            raise CourseError(_exit_message(server))
        if _health(base):
            return
        time.sleep(0.2)
    server.stop()
    raise CourseError(say(en=f"The server did not answer {base}/health within {timeout:.0f} s and was stopped. "
                             f"A busy machine loads slowly: try start_server(timeout={2 * timeout:.0f}). "
                             f"Its last lines:\n{server.log(8)}",
                          ja=f"サーバーが {timeout:.0f} 秒以内に {base}/health に応答しなかったので、止めました。"
                             f"混んでいるマシンでは読み込みに時間がかかります。start_server(timeout={2 * timeout:.0f}) を"
                             f"試してください。ログの最後の行：\n{server.log(8)}"))


def _exit_message(server: Server) -> str:
    """Why the server process ended during start-up, from its log."""
    log = server.log(8)
    if "address already in use" in log.lower():
        return say(en=f"Port {server.port} was taken just as the server started (its log: address already in use): "
                      f"start_server(port={server.port + 1}).",
                   ja=f"サーバーの起動中に、ほかのプログラムがポート {server.port} を使い始めました"
                      f"（ログに「address already in use」とあります）。"
                      f"start_server(port={server.port + 1}) を使ってください。")
    return say(en=f"The server exited during start-up (exit code {server.process.returncode}). "
                  f"Its last lines:\n{log}",
               ja=f"サーバーが起動中に終了しました（終了コード {server.process.returncode}）。ログの最後の行：\n{log}")
