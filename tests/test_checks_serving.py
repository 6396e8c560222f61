"""Lesson 09's exercise checks: correct answers pass (two ways each), typical wrong answers get their hint."""

from __future__ import annotations

import json

import pytest
from check_cases import assert_fails_with, right, wrong

from llmcourse.checks import check_request_fields, check_sse_reader
from llmcourse.checks.lesson09_serving import DONE_STREAM, FIELD_CASES, PING_STREAM, PLAIN_STREAM
from llmcourse.client import read_events
from llmcourse.i18n import set_language

# ---------------------------------------------------------------- exercise 1: reading the stream


def read_stream(lines):
    """The lesson's solution: one line at a time."""
    pieces = []
    for line in lines:
        if not line.startswith("data: "):
            continue  # a blank line ends an event; ":" starts a comment
        data = line.removeprefix("data: ").strip()
        if data == "[DONE]":
            break
        content = json.loads(data)["choices"][0]["delta"].get("content")
        if content:
            pieces.append(content)
    return pieces


def read_stream_with_the_package(lines):
    """The same with the course's own reader, as a generator."""
    return (chunk["choices"][0]["delta"]["content"] for chunk in read_events(lines)
            if chunk["choices"][0]["delta"].get("content"))


def test_the_streams_are_what_servers_send():
    assert PLAIN_STREAM[0].startswith('data: {"id"') and PLAIN_STREAM[1] == "\n"
    assert DONE_STREAM[-2:] == ["data: [DONE]\n", "\n"] and PING_STREAM[0] == ": ping\n"


@pytest.mark.parametrize("answer", [right("check_sse_reader", "line by line", read_stream),
                                    right("check_sse_reader", "the package's reader", read_stream_with_the_package)])
def test_sse_reader_correct_answers_pass(answer):
    report = check_sse_reader(answer)
    assert report.passed, report
    assert len(report.lines) == 3


def test_sse_reader_passes_in_japanese():
    set_language("ja")
    assert repr(check_sse_reader(read_stream)).endswith("すべてのチェックに合格しました！")


def parse_every_data_line(lines):  # no stop at [DONE]
    return [c for line in lines if line.startswith("data: ")
            if (c := json.loads(line[6:])["choices"][0]["delta"].get("content"))]


def parse_every_line(lines):  # no skipping of blank lines
    return [c for line in lines if (c := json.loads(line.removeprefix("data: "))["choices"][0]["delta"]
                                    .get("content"))]


def keep_the_prefix(lines):
    return [json.loads(line)["choices"][0]["delta"]["content"] for line in lines if line.strip()]


def index_content(lines):
    return [json.loads(line[6:])["choices"][0]["delta"]["content"] for line in lines if line.startswith("data: ")]


def keep_none(lines):
    return [json.loads(line[6:])["choices"][0]["delta"].get("content") for line in lines
            if line.startswith("data: ") and "[DONE]" not in line]


def join_them(lines):
    return "".join(read_stream(lines))


def keep_role_and_finish(lines):
    pieces = []
    for line in lines:
        if line.startswith("data: ") and "[DONE]" not in line:
            choice = json.loads(line[6:])["choices"][0]
            pieces.append(choice["delta"].get("content") or choice["delta"].get("role") or choice["finish_reason"])
    return pieces


def keep_chunks(lines):
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ") and "[DONE]" not in line]


def skip_only_blank_lines(lines):
    pieces = []
    for line in lines:
        if not line.strip():
            continue
        data = line.removeprefix("data: ").strip()
        if data == "[DONE]":
            break
        if content := json.loads(data)["choices"][0]["delta"].get("content"):
            pieces.append(content)
    return pieces


def reader_mistake(answer, hint):
    return wrong("check_sse_reader", answer.__name__, answer, hint)


@pytest.mark.parametrize("answer, hint", [
    reader_mistake(parse_every_data_line, r'"data: \[DONE\]", which is not JSON: stop there'),
    reader_mistake(parse_every_line, "a blank line ends each event"),
    reader_mistake(keep_the_prefix, r'remove the "data: " in front'),
    reader_mistake(index_content, r'delta.get\("content"\) gives None there'),
    reader_mistake(keep_none, "leave out chunks without text"),
    reader_mistake(join_them, "return the list of pieces, not the joined text"),
    reader_mistake(keep_role_and_finish, "not the role or the finish_reason"),
    reader_mistake(keep_chunks, "take the text out of each chunk"),
    reader_mistake(skip_only_blank_lines, 'lines that start with ":" are comments'),
])
def test_sse_reader_wrong_answers_get_their_hint(answer, hint):
    assert_fails_with(check_sse_reader(answer), hint)


def test_sse_reader_not_a_function():
    assert_fails_with(check_sse_reader(read_stream(PLAIN_STREAM)), "pass the function itself")


# ---------------------------------------------------------------- exercise 2: settings as request fields


def request_fields(settings):
    """The lesson's solution."""
    sampling = settings.get("do_sample", False)
    fields = {"max_tokens": settings.get("max_new_tokens", 20)}  # generate's default, said out loud
    if not sampling:
        fields["temperature"] = 0  # greedy
    else:
        fields["temperature"] = settings.get("temperature", 1.0)
        if "top_p" in settings:
            fields["top_p"] = settings["top_p"]
        top_k = settings.get("top_k", 50)  # generate's hidden top_k=50
        if top_k:
            fields["top_k"] = top_k
    if "stop_strings" in settings:
        fields["stop"] = settings["stop_strings"]
    return fields


NAMES = {"max_new_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
         "stop_strings": "stop"}


def request_fields_by_table(settings):
    """A renaming table, with the defaults first; top_k -1 means off, as in vLLM."""
    settings = {"max_new_tokens": 20, "do_sample": False, **settings}
    if settings["do_sample"]:
        settings.setdefault("top_k", 50)
    else:
        settings["temperature"] = 0.0
    fields = {NAMES[name]: value for name, value in settings.items() if name in NAMES}
    if fields.get("top_k") == 0:
        fields["top_k"] = -1
    return fields


def request_fields_with_defaults_said(settings):
    """Every field always sent, defaults spelled out (issue 26: the default top_p=1.0 was refused)."""
    sampling = settings.get("do_sample", False)
    return {"max_tokens": settings.get("max_new_tokens", 20),
            "temperature": settings.get("temperature", 1.0) if sampling else 0,
            "top_p": settings.get("top_p", 1.0), "top_k": settings.get("top_k", 50) if sampling else -1,
            "stop": settings.get("stop_strings")}


@pytest.mark.parametrize("answer", [right("check_request_fields", "if and else", request_fields),
                                    right("check_request_fields", "a renaming table", request_fields_by_table),
                                    right("check_request_fields", "defaults spelled out",
                                          request_fields_with_defaults_said)])
def test_request_fields_correct_answers_pass(answer):
    report = check_request_fields(answer)
    assert report.passed, report
    assert len(report.lines) == len(FIELD_CASES)


def renamed_only(settings):
    return {NAMES.get(name, name): value for name, value in settings.items()}


def no_default_length(settings):
    fields = request_fields(settings)
    if "max_new_tokens" not in settings:
        del fields["max_tokens"]
    return fields


def no_greedy_temperature(settings):
    return {name: value for name, value in request_fields(settings).items() if value != 0}


def no_hidden_top_k(settings):
    fields = request_fields(settings)
    if "top_k" not in settings:
        fields.pop("top_k", None)
    return fields


def top_k_zero_kept(settings):
    fields = request_fields(settings)
    if settings.get("top_k") == 0:
        fields["top_k"] = 50
    return fields


def stop_strings_dropped(settings):
    return {name: value for name, value in request_fields(settings).items() if name != "stop"}


def kept_max_new_tokens(settings):
    fields = request_fields(settings)
    fields["max_new_tokens"] = fields.pop("max_tokens")
    return fields


def fields_mistake(answer, hint, name=""):
    return wrong("check_request_fields", name or answer.__name__, answer, hint)


@pytest.mark.parametrize("answer, hint", [
    fields_mistake(renamed_only, "servers have no do_sample"),
    fields_mistake(kept_max_new_tokens, "servers have no max_new_tokens"),
    fields_mistake(no_default_length, "generate makes 20 new tokens when max_new_tokens is not given"),
    fields_mistake(no_greedy_temperature, "vLLM and the OpenAI API sample unless temperature=0"),
    fields_mistake(no_hidden_top_k, "its hidden top_k=50"),
    fields_mistake(top_k_zero_kept, "top_k=0 turns top-k off in generate"),
    fields_mistake(stop_strings_dropped, r'"stop": \["\."\]'),
    fields_mistake(lambda settings: json.dumps(request_fields(settings)), "return a dict of request fields",
                   "the request body as JSON text"),
])
def test_request_fields_wrong_answers_get_their_hint(answer, hint):
    assert_fails_with(check_request_fields(answer), hint)


def test_request_fields_function_that_raises():
    def broken(settings):
        return {"max_tokens": settings["max_new_tokens"]}  # KeyError when it is not given

    assert_fails_with(check_request_fields(broken), r"my_request_fields\(settings\)")


def test_request_fields_hint_in_japanese():
    set_language("ja")
    assert_fails_with(check_request_fields(no_hidden_top_k), "暗黙の top_k=50")
