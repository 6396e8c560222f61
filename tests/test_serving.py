"""The inference server of lesson 09: a real `transformers serve`, its streams, its errors, and no orphans.

The tests marked slow start real servers on free ports (``port=0``), so they never meet a
lesson's server on port 8765; every server they start is stopped, and the last test
asserts that none is left.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import psutil
import pytest

from llmcourse import client, serving
from llmcourse.client import StreamedReply, read_events, send_requests, stream_chat
from llmcourse.errors import CourseError, ModelNotAvailableError, SetupError
from llmcourse.serving import running_servers, start_server, stop_servers

QUESTIONS = ["Why is the sky blue?", "Name three colors.", "What is 2 + 2?", "Say hello in French."]
SERVE = "transformers.cli.transformers"  # in the command line of every server process


def serve_processes() -> list[psutil.Process]:
    """Server processes that are children of this test process."""
    children = psutil.Process().children(recursive=True)
    return [child for child in children if _is_server(child)]


def _is_server(process: psutil.Process) -> bool:
    try:
        return SERVE in " ".join(process.cmdline()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:  # gone meanwhile
        return False


def raw_stream(base_url: str, question: str, **fields) -> list[str]:
    """Every line of one streamed chat completion, as the server sent it."""
    body = {"messages": [{"role": "user", "content": question}], "stream": True, **fields}
    request = urllib.request.Request(f"{base_url}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return [line.decode("utf-8") for line in response]


def assert_well_formed(lines: list[str], max_tokens: int) -> dict:
    """Server-sent events of one complete chat-completion stream; return its last chunk."""
    events = [line for line in lines if line.strip()]
    assert all(line.startswith("data: ") and line.endswith("\n") for line in events), events
    assert all(lines[lines.index(event) + 1] == "\n" for event in events), "each event ends with a blank line"
    chunks = [json.loads(line[len("data: "):]) for line in events if line.strip() != "data: [DONE]"]
    assert len({chunk["id"] for chunk in chunks}) == 1 and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    finished = [chunk for chunk in chunks if chunk["choices"][0].get("finish_reason")]
    assert finished == [chunks[-1]], "exactly one finish_reason, in the last chunk"
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert all(chunk["choices"][0]["delta"].get("content") for chunk in chunks[1:-1])
    usage = chunks[-1]["usage"]
    assert 0 < usage["completion_tokens"] <= max_tokens
    if chunks[-1]["choices"][0]["finish_reason"] == "length":
        assert usage["completion_tokens"] == max_tokens
    return chunks[-1]


# ---------------------------------------------------------------- no server needed


def test_read_events_skips_blank_lines_comments_and_other_fields_and_stops_at_done():
    lines = [b": ping\n", b"event: message\n", b'data: {"choices": [{"delta": {"content": "Hi"}}]}\r\n', b"\n",
             "data: [DONE]\n", 'data: {"never": "read"}\n']
    assert list(read_events(lines)) == [{"choices": [{"delta": {"content": "Hi"}}]}]


def test_an_error_event_in_the_stream_is_a_course_error():
    with pytest.raises(CourseError, match="error in the middle of the stream: CUDA out of memory"):
        list(read_events(['data: {"error": "CUDA out of memory"}\n']))
    with pytest.raises(CourseError, match="stream: overloaded"):
        list(read_events(['data: {"error": {"message": "overloaded"}}\n']))


def test_nothing_listening_is_a_clear_message():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nothing listens once it is closed
    with pytest.raises(CourseError, match=rf"Nothing answers at http://127.0.0.1:{port}/v1/chat/completions .*"
                                          r"start_server\(\)"):
        stream_chat(f"http://127.0.0.1:{port}/v1", "Hi", max_tokens=2)


def test_wrong_targets_and_messages_are_refused():
    with pytest.raises(CourseError, match="Pass the server"):
        stream_chat("127.0.0.1:8765", "Hi")
    with pytest.raises(CourseError, match="messages must be a question"):
        stream_chat("http://127.0.0.1:1/v1", [{"content": "no role"}])


def test_a_taken_port_is_a_clear_message(monkeypatch):
    monkeypatch.setattr(serving, "_started", {})  # as if this process ran no server
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        port = other_program.getsockname()[1]
        with pytest.raises(CourseError, match=rf"Port {port} on 127.0.0.1 is taken by another program\. Stop it, or "
                                              rf"start on another port: start_server\(port={port + 1}\)"):
            start_server(port=port)
    assert serve_processes() == []


@pytest.mark.parametrize("port", [-1, 70000, "8765", True])
def test_a_port_must_be_a_port_number(port):
    with pytest.raises(CourseError, match="port must be a whole number"):
        serving._checked_port(port)


def test_missing_serving_extras_say_what_to_install(monkeypatch):
    real = serving.importlib.util.find_spec
    monkeypatch.setattr(serving.importlib.util, "find_spec", lambda name: None if name == "fastapi" else real(name))
    with pytest.raises(SetupError, match=r'needs fastapi \(its serving extras\).*"transformers\[serving\]=='):
        start_server()


def test_a_folder_without_a_model_is_refused(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="not a model folder"):
        start_server(tmp_path)


def test_reply_and_run_numbers():
    reply = StreamedReply("Hi there", ["Hi", " there"], [0.5, 0.75], 1.0, "stop", {"completion_tokens": 3})
    assert (reply.ttft, reply.token_count, reply.tokens_per_second) == (0.5, 3, 3.0)
    assert StreamedReply("", [], [], 2.0, "length").ttft == 2.0  # nothing arrived: waited the whole time
    run = client.RequestRun([reply, reply], seconds=2.0, concurrent=True)
    assert (run.token_count, run.tokens_per_second) == (6, 3.0)


def test_the_timeline_draws_each_request_from_its_start():
    from llmcourse.plots import plot_request_timeline

    replies = [StreamedReply("a", ["a"], [1.0], 3.0, "stop", sent_at=100.0),
               StreamedReply("b", ["b"], [2.5], 4.0, "stop", sent_at=100.5)]
    fig = plot_request_timeline({"together": client.RequestRun(replies, 4.5, True)})
    ax = fig.axes[0]
    waiting, streaming = ax.patches[:2], ax.patches[2:4]
    assert [(bar.get_x(), bar.get_width()) for bar in waiting] == [(0.0, 1.0), (0.5, 2.5)]
    assert [(bar.get_x(), bar.get_width()) for bar in streaming] == [(1.0, 2.0), (3.0, 1.5)]
    assert ax.get_title(loc="left") == "together: 2 requests, 4.5 s in all"
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["request 1", "request 2"]
    with pytest.raises(CourseError, match="runs must map a label"):
        plot_request_timeline([])


# ---------------------------------------------------------------- a real server


@pytest.fixture(scope="module")
def server():
    """One real server for this module, on a free port, stopped at the end."""
    started = start_server(port=0)
    yield started
    started.stop()


@pytest.mark.slow
def test_four_concurrent_streams_are_well_formed_and_complete(server):
    results: dict[int, list[str]] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, raw_stream(
        server.url, QUESTIONS[i], max_tokens=8, temperature=0))) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert sorted(results) == [0, 1, 2, 3], "every request answered"
    last_chunks = [assert_well_formed(results[i], max_tokens=8) for i in range(4)]
    assert len({chunk["id"] for chunk in last_chunks}) == 4, "one id per request"


@pytest.mark.slow
def test_concurrent_replies_match_sequential_ones_and_generate_greedy(server, offline_model):
    from llmcourse import generate

    together = send_requests(server, QUESTIONS[:2], concurrent=True, max_tokens=8, temperature=0)
    apart = send_requests(server, QUESTIONS[:2], concurrent=False, max_tokens=8, temperature=0)
    assert [r.text for r in together.replies] == [r.text for r in apart.replies]
    assert all(r.finish_reason == "length" and r.token_count == 8 for r in together.replies + apart.replies)
    model, tokenizer = offline_model
    expected = generate(model, tokenizer, QUESTIONS[0], chat=True, max_new_tokens=8).texts[0]
    assert together.replies[0].text == expected


@pytest.mark.slow
def test_starting_twice_is_a_clear_message(server):
    with pytest.raises(CourseError, match=r"already running: Server\(http://127.0.0.1:\d+/v1.*server\.stop\(\)"):
        start_server(port=0)
    assert running_servers() == [server]


@pytest.mark.slow
def test_a_port_held_by_another_server_says_so(server, monkeypatch):
    monkeypatch.setattr(serving, "_started", {})  # as if it came from another kernel
    with pytest.raises(CourseError, match=rf"Port {server.port} .* taken by an inference server \(GET /health "
                                          "answers\\), not started by this notebook"):
        start_server(port=server.port)


@pytest.mark.slow
def test_a_field_the_server_does_not_know_is_refused_with_its_reason(server):
    with pytest.raises(CourseError, match=r"refused the request \(HTTP 422\): Unexpected fields .*top_k"):
        stream_chat(server, "Hi", max_tokens=2, top_k=50)


@pytest.mark.slow
def test_a_server_dying_mid_stream_is_a_clear_message(monkeypatch):
    monkeypatch.setattr(serving, "_started", {})  # a second server of its own, to kill
    doomed = start_server(port=0)
    real = client.read_events

    def kill_after_two(lines):
        for count, chunk in enumerate(real(lines)):
            yield chunk
            if count == 2:  # the role chunk and two pieces have arrived
                os.killpg(doomed.process.pid, signal.SIGKILL)

    monkeypatch.setattr(client, "read_events", kill_after_two)
    try:
        with pytest.raises(CourseError, match=r"broke off after 2 pieces of text, before the answer was finished "
                                              r"\(no finish_reason\).*The server has exited \(exit code -9\)"):
            stream_chat(doomed, "Why is the sky blue?", max_tokens=200, temperature=0)
    finally:
        doomed.stop()
    assert not doomed.running


def test_a_server_dies_with_the_process_that_started_it(tmp_path):
    """A Jupyter kernel killed (kill -9, a restart) takes its server with it: no orphan."""
    script = tmp_path / "kernel.py"
    script.write_text(textwrap.dedent("""
        from llmcourse.serving import start_server
        start_server(port=0, timeout=600)
    """))
    kernel = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, servers = time.monotonic() + 120, []
        while not servers and time.monotonic() < deadline:
            servers = [c for c in psutil.Process(kernel.pid).children() if _is_server(c)]
            time.sleep(0.1)
        assert servers, "the kernel started no server"
        kernel.kill()  # as `kill -9` would: no atexit, no cleanup code runs
        kernel.wait()
        gone, alive = psutil.wait_procs(servers, timeout=30)
        assert alive == [], "the server outlived the process that started it"
    finally:
        kernel.kill()


@pytest.mark.slow
def test_no_server_process_is_left_behind(server):
    """Runs last: stopping stops every server these tests started, and none of their processes is left."""
    assert stop_servers() == [server.port]
    assert not server.running and running_servers() == []
    assert serve_processes() == []
