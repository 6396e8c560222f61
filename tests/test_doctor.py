"""The environment doctor: green (or warnings only) here, a fix for every failure, bounded in time."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest

from llmcourse import environment as doctor_module
from llmcourse import hub, loading, offline
from llmcourse.environment import Check, check_hub, doctor, format_report, run_checks
from llmcourse.i18n import set_language
from llmcourse.tokens import text_width


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


@pytest.mark.parametrize("reachable, hub_status", [(True, "ok"), (False, "warn")], ids=["hub", "no-hub"])
def test_all_checks_pass_or_warn_here(monkeypatch, ready_cache, reachable, hub_status):
    monkeypatch.setenv(offline.CACHE_ENV, ready_cache)
    monkeypatch.delenv("LLMCOURSE_MODEL", raising=False)
    monkeypatch.setattr(doctor_module, "hub_reachable", lambda timeout: reachable)
    checks = run_checks()
    assert [check.name for check in checks] == [
        "python", "torch", "bitsandbytes", "dtypes", "transformers", "offline model", "hub", "model"]
    assert {check.status for check in checks} <= {"ok", "warn"}, format_report(checks)
    found = by_name(checks)
    assert found["offline model"].status == "ok"
    assert found["hub"].status == hub_status and found["model"].status == "ok"
    assert "CPU" in found["bitsandbytes"].detail or "CUDA" in found["bitsandbytes"].detail


def test_no_gpu_is_ok_with_a_note(course_env):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    torch_check = doctor_module.check_torch()
    assert torch_check.status == "ok" and "CPU" in torch_check.detail


def test_empty_cache_fails_with_the_fetch_command(course_env, tmp_path):
    course_env.setenv(offline.CACHE_ENV, str(tmp_path))
    found = by_name(run_checks())
    assert found["offline model"].status == "fail"
    assert "not fetched yet" in found["offline model"].detail
    assert found["offline model"].fix == "python -m llmcourse fetch"


def test_a_cache_that_is_a_file_fails_with_the_folder_fix(course_env, tmp_path):
    file = tmp_path / "cache.txt"
    file.write_text("not a folder")
    course_env.setenv(offline.CACHE_ENV, str(file))
    check = by_name(run_checks())["offline model"]
    assert check.status == "fail" and check.detail == f"the cache cannot hold it: {file} is a file, not a folder"
    assert check.fix == "point $LLMCOURSE_CACHE at a folder (it is created if missing), or unset it"


def test_doctor_prints_aligned_lines_and_fixes(course_env, tmp_path):
    course_env.setenv(offline.CACHE_ENV, str(tmp_path))
    out = io.StringIO()
    assert doctor(out) is False
    lines = out.getvalue().splitlines()
    report = [line for line in lines if line[:1] in {"✔", "!", "✘"}]
    assert len(report) == 8
    column = 2 + max(len(check.name) for check in run_checks()) + 2
    for line in report:
        assert line[column - 2:column] == "  " and line[column] != " ", f"detail out of column: {line!r}"
    fix = lines.index(next(line for line in lines if line.startswith("✘ offline model"))) + 1
    assert lines[fix].strip() == "fix: python -m llmcourse fetch"
    assert lines[-1].startswith("Not ready")


def test_doctor_returns_true_when_only_warnings(course_env):
    out = io.StringIO()
    assert doctor(out) is True
    assert "! hub" in out.getvalue() and "offline default" in out.getvalue()
    assert out.getvalue().rstrip().endswith("Ready: the course can run here.")


def test_doctor_reports_in_japanese(course_env, tmp_path):
    """set_language("ja"): names (but package names), details, fixes and the verdict in Japanese, columns aligned."""
    course_env.setenv(offline.CACHE_ENV, str(tmp_path))
    set_language("ja")
    try:
        out = io.StringIO()
        ready = doctor(out)
        ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
        assert doctor(ascii_out) is False  # no Japanese characters there: the English report
    finally:
        set_language("en")
    assert ready is False
    lines = out.getvalue().splitlines()
    report = [line for line in lines if line[:1] in {"✔", "!", "✘"}]
    assert [line.split("  ")[0][2:] for line in report] == [
        "python", "torch", "bitsandbytes", "データ型", "transformers", "オフラインモデル", "ハブ", "モデル"]
    column = 2 + text_width("オフラインモデル") + 2  # in display columns: a Japanese character takes two
    starts = [len(line) - len(line[2:].lstrip(" ").split("  ", 1)[1].lstrip(" ")) for line in report]
    assert [text_width(line[:start]) for line, start in zip(report, starts, strict=True)] == [column] * len(report)
    found = {line.split("  ")[0][2:]: line for line in report}
    assert "、" in found["torch"]  # "<version>、GPU なし。..." (or the GPU it found)
    assert "オフラインの既定モデル" in found["ハブ"] and "オフラインの既定モデル" in found["モデル"]
    fix = lines[lines.index(found["オフラインモデル"]) + 1]
    assert fix.strip() == "対処：python -m llmcourse fetch"
    assert lines[-1].startswith("準備ができていません") and "python -m llmcourse doctor" in lines[-1]
    ascii_out.flush()
    assert ascii_out.buffer.getvalue().decode().splitlines()[-1].startswith("Not ready")
    assert check_hub(False).detail.endswith("the offline default does not")  # English again


def test_ascii_marks_on_a_console_without_unicode(course_env):
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    assert doctor(out) is True
    out.flush()
    assert out.buffer.getvalue().decode().startswith("+ python")


@pytest.fixture
def fake_hub(monkeypatch):
    """A local server standing in for the hub: ``$HF_ENDPOINT`` points at it (plain http, no TLS)."""
    server = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", url)
    with server:
        yield server, url


def test_hub_that_answers_is_ok(fake_hub):
    _, url = fake_hub
    check = check_hub(hub.hub_reachable(timeout=2.0))
    assert check.status == "ok" and check.detail.startswith(f"{url} reachable")


def test_hub_that_refuses_is_a_warning_not_a_failure(fake_hub):
    server, url = fake_hub
    server.close()  # nobody listens there any more: the connection is refused at once
    start = time.perf_counter()
    check = check_hub(hub.hub_reachable(timeout=2.0))
    assert time.perf_counter() - start < 1.0
    assert check.status == "warn" and check.detail.startswith(f"{url} not reachable")
    assert "offline default" in check.detail


def test_hub_switched_off_is_a_warning_without_a_probe(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub.socket, "create_connection", lambda *args, **kwargs: pytest.fail("probed the hub"))
    check = check_hub(hub.hub_reachable())
    assert check.status == "warn" and "HF_HUB_OFFLINE" in check.detail


def test_hub_check_is_bounded_in_time(monkeypatch):
    """A hub that never answers (DNS or connect hanging) costs at most the 3 s timeout."""
    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(30)
        raise OSError("never answered")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setattr(hub.socket, "create_connection", hang)
    start = time.perf_counter()
    try:
        check = check_hub(doctor_module.hub_reachable(doctor_module.HUB_TIMEOUT_S))
    finally:
        release.set()
    assert time.perf_counter() - start < 3.5
    assert check.status == "warn"


def test_real_hub_probe_is_quick(monkeypatch):
    """Whatever this machine's network is, the probe answers within its timeout and the line says which."""
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    start = time.perf_counter()
    reachable = doctor_module.hub_reachable(doctor_module.HUB_TIMEOUT_S)
    assert time.perf_counter() - start < 3.5
    assert check_hub(reachable).status == ("ok" if reachable else "warn")


@pytest.mark.parametrize("value", ["", "default", "offline", "SmolLM2-135M-Instruct"])
def test_model_env_offline_names(course_env, value):
    course_env.setenv("LLMCOURSE_MODEL", value)
    check = by_name(run_checks())["model"]
    assert check.status == "ok" and check.detail.startswith("offline default")


def test_model_env_local_folder_is_ok(course_env):
    course_env.setenv("LLMCOURSE_MODEL", str(offline.checkpoint_dir()))
    assert by_name(run_checks())["model"].status == "ok"


def test_model_env_missing_folder_fails(course_env, tmp_path):
    course_env.setenv("LLMCOURSE_MODEL", str(tmp_path / "no-such-model"))
    check = by_name(run_checks())["model"]
    assert check.status == "fail" and "unset LLMCOURSE_MODEL" in check.fix


def test_model_env_hub_id_with_hub_unreachable_fails(course_env):
    course_env.setenv("LLMCOURSE_MODEL", "someone/not-a-cached-model")
    check = by_name(run_checks())["model"]
    assert check.status == "fail"
    assert "hub is not reachable" in check.detail
    assert "unset LLMCOURSE_MODEL" in check.fix and "offline default" in check.fix


def test_model_env_hub_id_with_hub_reachable_is_ok(course_env):
    course_env.setattr(doctor_module, "hub_reachable", lambda timeout: True)
    course_env.setenv("LLMCOURSE_MODEL", "someone/not-a-cached-model")
    check = by_name(run_checks())["model"]
    assert check.status == "ok" and check.detail.endswith("(downloaded on first load)")


def test_model_env_hub_id_in_the_hub_cache_is_ok_without_hub(course_env):
    course_env.setattr(loading, "in_hub_cache", lambda repo_id: repo_id == "someone/cached-model")
    course_env.setenv("LLMCOURSE_MODEL", "someone/cached-model")
    check = by_name(run_checks())["model"]
    assert check.status == "ok" and "already in the local hub cache" in check.detail


def test_the_model_line_of_lesson_00():
    """Lesson 00 prints this line with the hub switched off; its stored output must not change."""
    from unittest import mock

    with mock.patch.dict("os.environ", {"LLMCOURSE_MODEL": "HuggingFaceTB/SmolLM2-360M-Instruct"}), \
            mock.patch.object(loading, "in_hub_cache", lambda repo_id: False):
        report = format_report([doctor_module.check_model_choice(reachable=False)])
    assert report.splitlines() == [
        "✘ model  $LLMCOURSE_MODEL = hub model HuggingFaceTB/SmolLM2-360M-Instruct, but the hub is not reachable",
        "         fix: unset LLMCOURSE_MODEL to use the offline default SmolLM2-135M-Instruct "
        "(or connect to the internet)",
    ]


def test_an_unreadable_cache_is_a_failure_not_a_crash(course_env):
    def broken(*args, **kwargs):
        raise PermissionError("permission denied")

    course_env.setattr(offline, "cache_status", broken)
    check = by_name(run_checks())["offline model"]
    assert check.status == "fail" and "permission denied" in check.detail and "fetch" in check.fix


def test_a_crashing_check_becomes_a_failure_line(course_env):
    def check_transformers():
        raise RuntimeError("boom")

    course_env.setattr(doctor_module, "check_transformers", check_transformers)
    checks = run_checks()
    assert len(checks) == 8
    check = by_name(checks)["transformers"]
    assert check.status == "fail" and "boom" in check.detail and check.fix


def test_dtypes_on_a_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    check = doctor_module.check_dtypes()
    assert check.status == "ok" and check.detail.startswith("CPU: float32 by default") and "bfloat16" in check.detail


@pytest.mark.parametrize("capability, name, words", [
    ((7, 5), "Tesla T4", ["Tesla T4", "compute capability 7.5", "float16 matmuls", "no native bfloat16 before 8.0"]),
    ((8, 0), "NVIDIA A100-SXM4-40GB", ["compute capability 8.0", "bfloat16 matmuls", "native bfloat16"]),
    ((6, 0), "Tesla P100-PCIE-16GB", ["compute capability 6.0", "float16 matmuls", "8-bit needs 7.5"]),
], ids=["t4", "a100", "p100"])
def test_dtypes_name_the_gpu_its_capability_and_the_dtype(fake_gpu, capability, name, words):
    fake_gpu(capability, name)
    check = doctor_module.check_dtypes()
    assert check.status == "ok"
    for word in words:
        assert word in check.detail, check.detail


def test_a_gpu_too_old_for_4bit_fails_with_the_fix(fake_gpu):
    fake_gpu((5, 2), "Tesla M60")
    check = doctor_module.check_dtypes()
    assert check.status == "fail" and "too old for bitsandbytes 4-bit" in check.detail and "6.0" in check.detail
    assert "load_model(quantization=None)" in check.fix


def test_dtypes_in_japanese(fake_gpu):
    fake_gpu((7, 5), "Tesla T4")
    set_language("ja")
    try:
        check = doctor_module.check_dtypes()
    finally:
        set_language("en")
    assert "float16" in check.detail and "bfloat16 をネイティブに計算できません" in check.detail


def test_model_env_pointing_at_a_file_fails_with_the_folder_fix(course_env, tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    course_env.setenv("LLMCOURSE_MODEL", str(weights))
    check = by_name(run_checks())["model"]
    assert check.status == "fail" and "a file" in check.detail and "folder" in check.fix
