"""A real JupyterHub for a classroom: three learners run lesson 03 at once from one shared cache.

`make test-hub` runs it: classroom/jupyterhub_config.py with the test authenticator
(DummyAuthenticator) on 127.0.0.1, its configurable-http-proxy, and, when run as root,
three real Unix users whose servers cannot write the root-owned model cache. Each user
logs in through the hub's login form; the lesson's cells run through the Jupyter
server's REST and websocket API of that user's own server.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import websocket

from llmcourse import offline

pytestmark = pytest.mark.hub
ROOT = Path(__file__).resolve().parents[2]
LESSON = "llmcourse/03_generating.ipynb"
USERS = ["llmhub-1", "llmhub-2", "llmhub-3"]
PASSWORD = secrets.token_hex(8)
TOKEN = secrets.token_hex(16)


def snapshot(root: Path) -> dict[str, float]:
    """Every path under ``root`` with its modification time."""
    return {str(path.relative_to(root)): path.lstat().st_mtime for path in root.rglob("*")}


@pytest.fixture(scope="module")
def place() -> Path:
    """A folder every user can enter: the shared cache, the hub's state, the users' homes."""
    folder = Path(tempfile.mkdtemp(prefix="llmcourse-hub-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def shared_cache(place: Path) -> Path:
    """The instructor's cache (hard-linked copy of the fetched one), owned by root, read-only to learners."""
    source = offline.fetch(progress=lambda message: None).parent
    cache = place / "cache"
    shutil.copytree(source, cache, symlinks=True, copy_function=os.link)
    cache.chmod(0o755)
    return cache


def usable_by_everyone(path: Path) -> bool:
    """Can any user execute ``path`` (every folder above it searchable by others)?"""
    real = path.resolve()
    return all(folder.stat().st_mode & 0o001 for folder in real.parents) and bool(real.stat().st_mode & 0o001)


@pytest.fixture(scope="module")
def user_python(place: Path) -> str:
    """The learners' Python: this one, or a copy of it where its base sits in a private home.

    Here `make` builds .venv from an interpreter under /root (mode 700), which no learner
    may execute; a real server installs the course environment under /opt instead.
    The copy (``venv --copies``) reads the course's site-packages through a .pth file
    and JupyterLab (assets, enabled server extensions) through links to share/ and etc/.
    """
    if usable_by_everyone(Path(sys.executable)):
        return sys.executable
    venv = place / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(venv)], check=True)
    site_packages = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    (next(venv.glob("lib/python3*/site-packages")) / "course.pth").write_text(
        f"import site; site.addsitedir({str(site_packages)!r})\n")
    for folder in ("share", "etc"):  # JupyterLab's assets and schemas; server extensions enabled
        (venv / folder).symlink_to(Path(sys.prefix) / folder)
    return str(venv / "bin" / "python")


@pytest.fixture(scope="module")
def learners(place: Path) -> list[str]:
    """Three Unix accounts when root (removed afterwards); otherwise the hub's own user runs all."""
    if os.geteuid() != 0:
        yield []
        return
    for name in USERS:
        subprocess.run(["useradd", "--create-home", "--home-dir", str(place / "home" / name), name], check=True)
    yield USERS
    for name in USERS:
        subprocess.run(["pkill", "-KILL", "-u", name], check=False)  # any server left behind
        subprocess.run(["userdel", name], check=False)
        shutil.rmtree(Path(tempfile.gettempdir()) / f"torchinductor_{name}", ignore_errors=True)


@pytest.fixture(scope="module")
def hub(place: Path, shared_cache: Path, learners: list[str], user_python: str, tmp_path_factory) -> str:
    """Start JupyterHub with the course's config; yield its URL; stop it (its log stays in pytest's tmp)."""
    port = free_ports()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LLMCOURSE_HUB_URL": url, "LLMCOURSE_HUB_STATE": str(place / "state"),
           "LLMCOURSE_HUB_CACHE": str(shared_cache), "LLMCOURSE_HUB_AUTH": "dummy",
           "LLMCOURSE_HUB_PASSWORD": PASSWORD, "LLMCOURSE_HUB_TOKEN": TOKEN, "LLMCOURSE_HUB_PYTHON": user_python}
    if not learners:
        env["LLMCOURSE_HUB_SPAWNER"] = "simple"
    command = [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(ROOT / "classroom" / "jupyterhub_config.py")]
    with open(place / "hub.log", "w") as log:
        process = subprocess.Popen(command, cwd=place, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: requests.get(f"{url}/hub/api/", timeout=2).ok, 60, "the hub to answer", place)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=60)
            stop_leftover_proxy(place / "jupyterhub-proxy.pid")
            shutil.copy(place / "hub.log", tmp_path_factory.getbasetemp() / "hub.log")


def stop_leftover_proxy(pid_file: Path) -> None:
    """Stop the proxy a hub that failed to start may leave behind (its pid is in ``pid_file``)."""
    with contextlib.suppress(OSError, ValueError):  # no file, or the hub already stopped it
        os.kill(int(pid_file.read_text()), signal.SIGTERM)


def free_ports(count: int = 3) -> int:
    """A port p such that p .. p + count - 1 are free on 127.0.0.1 (proxy, hub, proxy API)."""
    while True:
        port, sockets = random.randrange(20000, 40000), []
        try:
            for offset in range(count):
                sockets.append(socket.create_server(("127.0.0.1", port + offset)))
            return port
        except OSError:
            continue
        finally:
            for bound in sockets:
                bound.close()


def wait_for(ready, seconds: float, what: str, place: Path | None = None) -> None:
    """Poll ``ready()`` until it is true; fail after ``seconds`` with the hub's log tail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    tail = (place / "hub.log").read_text()[-3000:] if place else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")


def api(hub: str, method: str, path: str, **kwargs) -> requests.Response:
    """Call the hub's REST API with the test's admin token."""
    return requests.request(method, f"{hub}/hub/api{path}", headers={"Authorization": f"token {TOKEN}"},
                            timeout=30, **kwargs)


def log_in(hub: str, name: str) -> None:
    """Log in through the hub's login form, as a learner would."""
    session = requests.Session()
    session.get(f"{hub}/hub/login", timeout=30)
    answer = session.post(f"{hub}/hub/login", timeout=60, allow_redirects=False,
                          data={"username": name, "password": PASSWORD, "_xsrf": session.cookies.get("_xsrf")})
    assert answer.status_code == 302, answer.text[:500]
    assert any(cookie.name.startswith("jupyterhub-session") for cookie in session.cookies)


def start_server(hub: str, name: str, place: Path) -> None:
    """Start ``name``'s server through the REST API and wait until it is ready."""
    answer = api(hub, "POST", f"/users/{name}/server")
    assert answer.status_code in (201, 202, 400), answer.text  # 400: login already started it
    wait_for(lambda: api(hub, "GET", f"/users/{name}").json()["servers"].get("", {}).get("ready"), 120,
             f"{name}'s server", place)


def execute(channel: websocket.WebSocket, code: str) -> tuple[str, list[str]]:
    """Run one cell over the kernel's websocket; return its reply status and any error text."""
    msg_id = uuid.uuid4().hex
    channel.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": msg_id,
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    errors, outputs, status, idle = [], [], None, False
    while status is None or not idle:  # the reply (shell) may overtake the outputs (iopub)
        message = json.loads(channel.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "error":
            errors.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "stream":
            outputs.append(content["text"])
        elif kind == "execute_reply":
            status = content["status"]
        elif kind == "status":
            idle = content["execution_state"] == "idle"
    return status, errors or outputs


def run_lesson(hub: str, name: str) -> dict:
    """Open the lesson copied into ``name``'s home and run every code cell in a fresh kernel."""
    base, headers = f"{hub}/user/{name}/api", {"Authorization": f"token {TOKEN}"}
    notebook = requests.get(f"{base}/contents/{LESSON}", headers=headers, timeout=30)
    assert notebook.ok, f"the lesson is not in {name}'s home: {notebook.text[:300]}"
    cells = [cell["source"] for cell in notebook.json()["content"]["cells"] if cell["cell_type"] == "code"]
    session = requests.post(f"{base}/sessions", headers=headers, timeout=60,
                            json={"path": LESSON, "type": "notebook", "kernel": {"name": "python3"}}).json()
    ws_url = f"{base}/kernels/{session['kernel']['id']}/channels".replace("http://", "ws://")
    channel = websocket.create_connection(ws_url, header=[f"Authorization: token {TOKEN}"], timeout=600)
    start, failures = time.monotonic(), []
    try:
        for index, source in enumerate(cells):
            status, detail = execute(channel, source)
            if status != "ok":
                failures.append((index, detail))
                break
        where = execute(channel, "import getpass; from llmcourse import offline\n"
                                 "print(getpass.getuser(), offline.checkpoint_dir(), end='')")[1]
    finally:
        channel.close()
        requests.delete(f"{base}/sessions/{session['id']}", headers=headers, timeout=30)
    return {"user": name, "cells": len(cells), "failures": failures, "seconds": time.monotonic() - start,
            "whoami": "".join(where)}


def test_three_learners_run_lesson_03_at_once(hub, place, shared_cache, learners):
    names = learners or USERS
    before = snapshot(shared_cache)
    started = time.monotonic()
    for name in names:
        log_in(hub, name)
    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(lambda name: start_server(hub, name, place), names))
        runs = list(pool.map(lambda name: run_lesson(hub, name), names))
    total = time.monotonic() - started
    print(f"\n3 learners: servers up and lesson 03 run in {total:.0f} s; "
          + ", ".join(f"{run['user']} {run['seconds']:.0f} s" for run in runs))
    for run in runs:
        assert run["failures"] == [], run
        user = run["user"] if learners else pwd.getpwuid(os.geteuid()).pw_name
        assert run["whoami"] == f"{user} {shared_cache / offline.MODEL_NAME}", run
    assert snapshot(shared_cache) == before, "the learners wrote nothing into the shared cache"


def test_jupyterlab_is_the_default_and_asks_no_news_question(hub, learners, place):
    name = (learners or USERS)[0]
    log_in(hub, name)
    start_server(hub, name, place)
    headers = {"Authorization": f"token {TOKEN}"}
    opened = requests.get(f"{hub}/user/{name}/", headers=headers, timeout=30, allow_redirects=False)
    assert opened.headers["Location"].split("?")[0] == f"/user/{name}/lab/tree/llmcourse/exercises", opened.headers
    settings = requests.get(f"{hub}/user/{name}/lab/api/settings/@jupyterlab/apputils-extension:notification",
                            headers=headers, timeout=30)
    assert settings.ok, (settings.status_code, settings.url, settings.text[:1500])
    assert settings.json()["schema"]["properties"]["fetchNews"]["default"] == "false"


def test_idle_culler_runs_as_a_service(hub):
    culler = api(hub, "GET", "/services/idle-culler").json()
    assert culler["pid"] and "jupyterhub_idle_culler" in culler["command"], culler
