"""The checkup behind `doctor()`: green (or warnings only) here, a fix for every failure, bounded in time."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest

from llmcourse import cache, checkup, hub, loading, offline
from llmcourse.checkup import Probe, doctor, format_report, probe_hub, run_probes
from llmcourse.i18n import set_language
from llmcourse.tokens import text_width


def by_name(probes: list[Probe]) -> dict[str, Probe]:
    return {probe.name: probe for probe in probes}


@pytest.mark.parametrize("reachable, hub_status", [(True, "ok"), (False, "warn")], ids=["hub", "no-hub"])
def test_all_probes_pass_or_warn_here(monkeypatch, ready_cache, reachable, hub_status):
    monkeypatch.setenv(cache.CACHE_ENV, ready_cache)
    monkeypatch.delenv("LLMCOURSE_MODEL", raising=False)
    monkeypatch.setattr(checkup, "hub_reachable", lambda timeout: reachable)
    probes = run_probes()
    assert [probe.name for probe in probes] == [
        "python", "torch", "bitsandbytes", "dtypes", "transformers", "offline model", "hub", "model"]
    assert {probe.status for probe in probes} <= {"ok", "warn"}, format_report(probes)
    found = by_name(probes)
    assert found["offline model"].status == "ok"
    assert found["hub"].status == hub_status and found["model"].status == "ok"
    assert "CPU" in found["bitsandbytes"].detail or "CUDA" in found["bitsandbytes"].detail


def test_no_gpu_is_ok_with_a_note(course_env):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    torch_probe = checkup.probe_torch()
    assert torch_probe.status == "ok" and "CPU" in torch_probe.detail


def test_empty_cache_fails_with_the_fetch_command(course_env, tmp_path):
    course_env.setenv(cache.CACHE_ENV, str(tmp_path))
    found = by_name(run_probes())
    assert found["offline model"].status == "fail"
    assert "not fetched yet" in found["offline model"].detail
    assert found["offline model"].fix == "python -m llmcourse fetch"


def test_a_cache_that_is_a_file_fails_with_the_folder_fix(course_env, tmp_path):
    file = tmp_path / "cache.txt"
    file.write_text("not a folder")
    course_env.setenv(cache.CACHE_ENV, str(file))
    probe = by_name(run_probes())["offline model"]
    assert probe.status == "fail" and probe.detail == f"the cache cannot hold it: {file} is a file, not a folder"
    assert probe.fix == "point $LLMCOURSE_CACHE at a folder (it is created if missing), or unset it"


def test_doctor_prints_aligned_lines_and_fixes(course_env, tmp_path):
    course_env.setenv(cache.CACHE_ENV, str(tmp_path))
    out = io.StringIO()
    assert doctor(out) is False
    lines = out.getvalue().splitlines()
    report = [line for line in lines if line[:1] in {"✔", "!", "✘"}]
    assert len(report) == 8
    column = 2 + max(len(probe.name) for probe in run_probes()) + 2
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
    course_env.setenv(cache.CACHE_ENV, str(tmp_path))
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
    assert probe_hub(False).detail.endswith("the offline default does not")  # English again


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
    probe = probe_hub(hub.hub_reachable(timeout=2.0))
    assert probe.status == "ok" and probe.detail.startswith(f"{url} reachable")


def test_hub_that_refuses_is_a_warning_not_a_failure(fake_hub):
    server, url = fake_hub
    server.close()  # nobody listens there any more: the connection is refused at once
    start = time.perf_counter()
    probe = probe_hub(hub.hub_reachable(timeout=2.0))
    assert time.perf_counter() - start < 1.0
    assert probe.status == "warn" and probe.detail.startswith(f"{url} not reachable")
    assert "offline default" in probe.detail


def test_hub_switched_off_is_a_warning_without_a_probe(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub.socket, "create_connection", lambda *args, **kwargs: pytest.fail("probed the hub"))
    probe = probe_hub(hub.hub_reachable())
    assert probe.status == "warn" and "HF_HUB_OFFLINE" in probe.detail


def test_hub_probe_is_bounded_in_time(monkeypatch):
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
        probe = probe_hub(checkup.hub_reachable(checkup.HUB_TIMEOUT_S))
    finally:
        release.set()
    assert time.perf_counter() - start < 3.5
    assert probe.status == "warn"


def test_real_hub_probe_is_quick(monkeypatch):
    """Whatever this machine's network is, the probe answers within its timeout and the line says which."""
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    start = time.perf_counter()
    reachable = checkup.hub_reachable(checkup.HUB_TIMEOUT_S)
    assert time.perf_counter() - start < 3.5
    assert probe_hub(reachable).status == ("ok" if reachable else "warn")


@pytest.mark.parametrize("value", ["", "default", "offline", "SmolLM2-135M-Instruct"])
def test_model_env_offline_names(course_env, value):
    course_env.setenv("LLMCOURSE_MODEL", value)
    probe = by_name(run_probes())["model"]
    assert probe.status == "ok" and probe.detail.startswith("offline default")


def test_model_env_local_folder_is_ok(course_env):
    course_env.setenv("LLMCOURSE_MODEL", str(offline.checkpoint_dir()))
    assert by_name(run_probes())["model"].status == "ok"


def test_model_env_missing_folder_fails(course_env, tmp_path):
    course_env.setenv("LLMCOURSE_MODEL", str(tmp_path / "no-such-model"))
    probe = by_name(run_probes())["model"]
    assert probe.status == "fail" and "unset LLMCOURSE_MODEL" in probe.fix


def test_model_env_hub_id_with_hub_unreachable_fails(course_env):
    course_env.setenv("LLMCOURSE_MODEL", "someone/not-a-cached-model")
    probe = by_name(run_probes())["model"]
    assert probe.status == "fail"
    assert "hub is not reachable" in probe.detail
    assert "unset LLMCOURSE_MODEL" in probe.fix and "offline default" in probe.fix


def test_model_env_hub_id_with_hub_reachable_is_ok(course_env):
    course_env.setattr(checkup, "hub_reachable", lambda timeout: True)
    course_env.setenv("LLMCOURSE_MODEL", "someone/not-a-cached-model")
    probe = by_name(run_probes())["model"]
    assert probe.status == "ok" and probe.detail.endswith("(downloaded on first load)")


def test_model_env_hub_id_in_the_hub_cache_is_ok_without_hub(course_env):
    course_env.setattr(loading, "in_hub_cache", lambda repo_id: repo_id == "someone/cached-model")
    course_env.setenv("LLMCOURSE_MODEL", "someone/cached-model")
    probe = by_name(run_probes())["model"]
    assert probe.status == "ok" and "already in the local hub cache" in probe.detail


def test_the_model_line_of_lesson_00():
    """Lesson 00 prints this line with the hub switched off; its stored output must not change."""
    from unittest import mock

    with mock.patch.dict("os.environ", {"LLMCOURSE_MODEL": "HuggingFaceTB/SmolLM2-360M-Instruct"}), \
            mock.patch.object(loading, "in_hub_cache", lambda repo_id: False):
        report = format_report([checkup.probe_model_choice(reachable=False)])
    assert report.splitlines() == [
        "✘ model  $LLMCOURSE_MODEL = hub model HuggingFaceTB/SmolLM2-360M-Instruct, but the hub is not reachable",
        "         fix: unset LLMCOURSE_MODEL to use the offline default SmolLM2-135M-Instruct "
        "(or connect to the internet)",
    ]


def test_an_unreadable_cache_is_a_failure_not_a_crash(course_env):
    def broken(*args, **kwargs):
        raise PermissionError("permission denied")

    course_env.setattr(offline, "cache_status", broken)
    probe = by_name(run_probes())["offline model"]
    assert probe.status == "fail" and "permission denied" in probe.detail and "fetch" in probe.fix


def test_a_crashing_probe_becomes_a_failure_line(course_env):
    def probe_transformers():
        raise RuntimeError("boom")

    course_env.setattr(checkup, "probe_transformers", probe_transformers)
    probes = run_probes()
    assert len(probes) == 8
    probe = by_name(probes)["transformers"]
    assert probe.status == "fail" and "boom" in probe.detail and probe.fix


def test_dtypes_on_a_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    probe = checkup.probe_dtypes()
    assert probe.status == "ok" and probe.detail.startswith("CPU: float32 by default") and "bfloat16" in probe.detail


@pytest.mark.parametrize("capability, name, words", [
    ((7, 5), "Tesla T4", ["Tesla T4", "compute capability 7.5", "float16 matmuls", "no native bfloat16: that needs 8.0"]),
    ((8, 0), "NVIDIA A100-SXM4-40GB", ["compute capability 8.0", "bfloat16 matmuls", "native bfloat16"]),
    ((6, 0), "Tesla P100-PCIE-16GB", ["compute capability 6.0", "float16 matmuls", "8-bit needs 7.5"]),
], ids=["t4", "a100", "p100"])
def test_dtypes_name_the_gpu_its_capability_and_the_dtype(fake_gpu, capability, name, words):
    fake_gpu(capability, name)
    probe = checkup.probe_dtypes()
    assert probe.status == "ok"
    for word in words:
        assert word in probe.detail, probe.detail


def test_a_gpu_too_old_for_4bit_fails_with_the_fix(fake_gpu):
    fake_gpu((5, 2), "Tesla M60")
    probe = checkup.probe_dtypes()
    assert probe.status == "fail" and "too old for bitsandbytes 4-bit" in probe.detail and "6.0" in probe.detail
    assert "load_model(quantization=None)" in probe.fix


def test_dtypes_in_japanese(fake_gpu):
    fake_gpu((7, 5), "Tesla T4")
    set_language("ja")
    try:
        probe = checkup.probe_dtypes()
    finally:
        set_language("en")
    assert "float16" in probe.detail and "bfloat16 をネイティブに計算できません" in probe.detail


def test_model_env_pointing_at_a_file_fails_with_the_folder_fix(course_env, tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    course_env.setenv("LLMCOURSE_MODEL", str(weights))
    probe = by_name(run_probes())["model"]
    assert probe.status == "fail" and "a file" in probe.detail and "folder" in probe.fix
