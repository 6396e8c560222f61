"""JupyterHub for a classroom running llmcourse: `make hub` starts it, `make test-hub` tests it.

What it sets up (instructor/jupyterhub.md explains each choice):
- every learner's server runs the course environment (.venv) with JupyterLab as the UI,
  the Jupyter news pop-up off, and the lessons copied into ``~/llmcourse`` on first start;
- one shared, read-only model cache (``$LLMCOURSE_HUB_CACHE``, default /srv/llmcourse-cache),
  converted once by the instructor with ``LLMCOURSE_CACHE=... python -m llmcourse fetch``;
- memory and CPU limits per learner (enforced by SystemdSpawner, DockerSpawner and
  KubeSpawner; LocalProcessSpawner, used here, only passes them on as MEM_LIMIT/CPU_LIMIT,
  and one OpenMP thread per kernel is the CPU bound it does enforce);
- jupyterhub-idle-culler stops servers idle for an hour.

Settings come from the environment, so the test and a real server share this file:
LLMCOURSE_HUB_URL (default http://:8000), LLMCOURSE_HUB_STATE (database, cookie secret),
LLMCOURSE_HUB_AUTH=dummy with LLMCOURSE_HUB_PASSWORD (tests; default: PAM, i.e. the
server's Unix accounts), LLMCOURSE_HUB_SPAWNER=simple (everyone runs as the hub's user;
tests without root), LLMCOURSE_HUB_PYTHON (the learners' Python), LLMCOURSE_HUB_TOKEN
(an admin API token for the test), LLMCOURSE_HUB_MEMORY and LLMCOURSE_HUB_CPUS (limits).
"""

import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
COURSE = HERE.parent
# The learners' Python: the course's .venv (the hub runs from it), unless it is not
# executable by other users (a venv whose base interpreter sits in a private home).
PYTHON = os.environ.get("LLMCOURSE_HUB_PYTHON", sys.executable)
STATE = Path(os.environ.get("LLMCOURSE_HUB_STATE", HERE / "state"))
CACHE = os.environ.get("LLMCOURSE_HUB_CACHE", "/srv/llmcourse-cache")
URL = os.environ.get("LLMCOURSE_HUB_URL", "http://:8000")
MEMORY, CPUS = os.environ.get("LLMCOURSE_HUB_MEMORY", "2G"), float(os.environ.get("LLMCOURSE_HUB_CPUS", "1"))
c = get_config()  # noqa: F821 (JupyterHub defines it)
STATE.mkdir(parents=True, exist_ok=True)

# -- the hub and its proxy: the npm package configurable-http-proxy, pinned in package.json
port = urlparse(URL).port or 8000
c.JupyterHub.bind_url = URL
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{port + 1}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{port + 2}"
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")

# -- who may log in
if os.environ.get("LLMCOURSE_HUB_AUTH") == "dummy":
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = os.environ["LLMCOURSE_HUB_PASSWORD"]
    c.Authenticator.allow_all = True
else:  # PAM: the server's Unix accounts; the instructor adds learners with `useradd -m`
    c.Authenticator.allow_existing_users = True
    c.Authenticator.admin_users = set(filter(None, os.environ.get("LLMCOURSE_HUB_ADMINS", "").split(",")))

# -- each learner's server: the course environment, JupyterLab, the shared cache
simple = os.environ.get("LLMCOURSE_HUB_SPAWNER") == "simple"
c.JupyterHub.spawner_class = "simple" if simple else "localprocess"
if simple:
    c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "home" / "{username}")
c.Spawner.cmd = [PYTHON, "-m", "jupyterhub.singleuser"]
c.Spawner.args = [f"--LabApp.app_settings_dir={HERE / 'lab-settings'}"]  # overrides.json: no news pop-up
c.Spawner.default_url = "/lab/tree/llmcourse/exercises"  # learners start on their copies (issue 26)
c.Spawner.notebook_dir = "~"
c.Spawner.mem_limit = MEMORY
c.Spawner.cpu_limit = CPUS
c.Spawner.environment = {
    "LLMCOURSE_CACHE": CACHE,
    "HF_HUB_OFFLINE": "1",
    "OMP_NUM_THREADS": str(max(1, int(CPUS))),  # torch's threads per kernel
    "OMP_WAIT_POLICY": "PASSIVE",  # idle threads sleep: 5-10x faster on a busy server
    "TOKENIZERS_PARALLELISM": "false",
}
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120


def copy_lessons(spawner) -> None:
    """Copy the lessons into ``~/llmcourse`` on first start; a learner's edits are never overwritten."""
    import pwd

    account = None if simple else pwd.getpwnam(spawner.user.name)
    home = Path(account.pw_dir if account else spawner.home_dir_template.format(username=spawner.user.name))
    lessons = home / "llmcourse"
    for source in sorted((COURSE / "notebooks").rglob("*.ipynb")):
        target = lessons / source.relative_to(COURSE / "notebooks")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    for path in [lessons, *lessons.rglob("*")] if account else []:  # the hub runs as root
        os.chown(path, account.pw_uid, account.pw_gid)


c.Spawner.pre_spawn_hook = copy_lessons

# -- services: the idle culler, and an admin token for the test
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", "--timeout=3600", "--cull-every=300"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
if os.environ.get("LLMCOURSE_HUB_TOKEN"):
    c.JupyterHub.services.append({"name": "llmcourse-test", "api_token": os.environ["LLMCOURSE_HUB_TOKEN"]})
    c.JupyterHub.load_roles.append({"name": "llmcourse-test", "services": ["llmcourse-test"],
                                    "scopes": ["admin:users", "admin:servers", "access:servers", "read:services"]})
