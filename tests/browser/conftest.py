"""Browser tests: a real JupyterLab server and Debian's Chromium driven by Playwright.

`make test-browser` installs Chromium if needed (scripts/browser_setup.sh) and runs
`pytest tests/browser`. Outside CI the tests are skipped when /usr/bin/chromium or
the playwright package is missing; in CI ($CI set) they must run, so they fail instead.
Playwright's own browser download (`playwright install`) is never used.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("LLMCOURSE_CHROMIUM", "/usr/bin/chromium"))
# Without the networking flags Chromium floods this machine's closed network with
# connections that are refused; the profile is a fresh empty folder every time.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SERVER_START_S = 60


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: end-to-end test in a real browser (make test-browser)")


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright; no `playwright install`)"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (run scripts/browser_setup.sh)"
    return None


@pytest.fixture(scope="session")
def chromium_ready():
    """Skip (outside CI) or fail (in CI) when the browser or Playwright is missing."""
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI, but {reason}", pytrace=False)
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str            # http://127.0.0.1:PORT
    token: str
    root: Path          # the folder the server serves (a copy of notebooks/)
    log: Path

    def lab_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _settings(folder: Path) -> None:
    """Lab user settings for the test: no news and no update checks (no network, no pop-up)."""
    notification = folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text('{"fetchNews": "false", "checkForUpdates": false}\n')


def start_lab(root: Path, state: Path) -> tuple[subprocess.Popen, Lab]:
    """Start `jupyter lab ROOT` as `make lab` does, plus test-only flags; wait until it answers."""
    jupyter = Path(sys.executable).parent / "jupyter"
    port, token = _free_port(), uuid.uuid4().hex
    env = dict(os.environ)
    # Nothing from the user's own Jupyter config, lab settings or workspaces.
    for name, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                      ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")]:
        env[name] = str(state / sub)
        (state / sub).mkdir(parents=True, exist_ok=True)
    _settings(state / "settings")
    command = [str(jupyter), "lab", str(root),
               "--no-browser", f"--port={port}", "--ServerApp.port_retries=0",
               f"--ServerApp.token={token}", "--ServerApp.ip=127.0.0.1",
               "--LabApp.extension_manager=readonly"]  # no PyPI look-ups for extensions
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root
    log = state / "jupyter.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=root.parent, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log)
    deadline = time.monotonic() + SERVER_START_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{lab.log_tail()}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={token}", timeout=2) as answer:
                if answer.status == 200:
                    return process, lab
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_lab(process)
            raise RuntimeError(f"jupyter lab did not answer within {SERVER_START_S} s:\n{lab.log_tail()}")
        time.sleep(0.25)


def stop_lab(process: subprocess.Popen) -> None:
    """Stop the server (on SIGTERM it shuts its kernels down); then end what is left of its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the group this fixture started: server and kernels
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


@pytest.fixture
def lab_server(chromium_ready, tmp_path):
    """A factory: ``lab_server(folder)`` serves ``folder`` with JupyterLab until the test ends."""
    started: list[subprocess.Popen] = []

    def start(root: Path) -> Lab:
        process, lab = start_lab(root, tmp_path / "jupyter")
        started.append(process)
        return lab

    yield start
    for process in started:
        stop_lab(process)


def _japanese_fonts(folder: Path) -> dict[str, str]:
    """The browser's environment, with matplotlib-fontja's IPAexGothic added to the system fonts.

    Japanese labels then render on a machine with no Japanese font (this one: no tofu boxes in the
    Japanese screenshots), with the font the course's plots use; the package is in requirements.lock.
    """
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        return dict(os.environ)
    fonts = Path(spec.submodule_search_locations[0]) / "fonts"
    config = folder / "fonts.conf"
    config.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
                      '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
                      f"  <dir>{fonts}</dir>\n  <cachedir>{folder / 'fontconfig-cache'}</cachedir>\n</fontconfig>\n")
    return {**os.environ, "FONTCONFIG_FILE": str(config)}


@pytest.fixture
def browser_page(chromium_ready):
    """A Playwright page in Debian's Chromium with a fresh, empty profile."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="llmcourse-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                Path(profile) / "profile", executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                viewport={"width": 1280, "height": 900}, env=_japanese_fonts(Path(profile)),
            )
            try:
                yield context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
