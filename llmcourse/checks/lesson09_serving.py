"""Checks for lesson 09 (serving): reading a streamed answer line by line, and generate settings as request fields."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from ..i18n import say
from .base import Report, call, exercise_check, is_function
from .inputs import changed, snapshot
from .values import error_text, show


def _event(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
    """One server-sent event line of a chat-completion chunk, as a server writes it."""
    chunk = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "model": "SmolLM2-135M-Instruct",
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra}
    return f"data: {json.dumps(chunk)}\n"


PIECES = ["The", " sky", " is", " blue", "."]
# each stream carries other pieces, so that no list typed in passes them all (issue 26, rule 1)
STREAM_PIECES = {"transformers serve": PIECES, "vLLM": ["Paris", " is", " the", " capital", "."],
                 "keep-alive": ["2", " +", " 2", " =", " 4"]}


def _plain(pieces: list[str]) -> list[str]:
    """transformers serve: a role chunk, one chunk per piece, a last chunk with finish_reason and usage; no [DONE]."""
    events = ([_event({"role": "assistant"})] + [_event({"content": p}) for p in pieces]
              + [_event({}, "stop", usage={"completion_tokens": len(pieces)})])
    return [line for event in events for line in (event, "\n")]


def _done(pieces: list[str]) -> list[str]:
    """vLLM and the OpenAI API: the role chunk carries "content": "", a chunk may carry "content": null; [DONE]."""
    return ([_event({"role": "assistant", "content": ""}), "\n"]
            + [line for p in pieces for line in (_event({"content": p}), "\n")]
            + [_event({"content": None}, "length"), "\n", "data: [DONE]\n", "\n"])


def _ping(pieces: list[str]) -> list[str]:
    """A server that keeps the connection alive with comment lines while the model thinks."""
    done = _done(pieces)
    return [": ping\n", "\n"] + done[:6] + [": ping\n", "\n"] + done[6:]


PLAIN_STREAM, DONE_STREAM, PING_STREAM = (_plain(STREAM_PIECES["transformers serve"]), _done(STREAM_PIECES["vLLM"]),
                                          _ping(STREAM_PIECES["keep-alive"]))
STREAMS = {"transformers serve": PLAIN_STREAM, "vLLM": DONE_STREAM, "keep-alive": PING_STREAM}


def ja_stream(name: str) -> str:
    """How a Japanese message names one of `STREAMS`: the keep-alive one by what it holds (comment lines).

    >>> ja_stream("keep-alive"), ja_stream("vLLM")
    ('コメント行（keep-alive）を含むストリーム', 'vLLM のストリーム')
    """
    return "コメント行（keep-alive）を含むストリーム" if name == "keep-alive" else f"{name} のストリーム"


@exercise_check(en="Reading a streamed answer", ja="ストリーミングされた回答を読む", answer=is_function)
def check_sse_reader(report: Report, my_read_stream: Callable[[list[str]], Any]) -> None:
    """Lesson 09: ``my_read_stream(lines)`` returns the text pieces of a chat-completion stream, in order.

    >>> def read(lines):
    ...     pieces = []
    ...     for line in lines:
    ...         if line.startswith("data: ") and line.strip() != "data: [DONE]":
    ...             pieces.append(json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
    ...     return [piece for piece in pieces if piece]
    >>> check_sse_reader(read).passed
    True
    """
    usage = say(en="it is called as my_read_stream(lines) with a list of str lines, each ending in a newline",
                ja="my_read_stream(lines) の形で呼ばれます。lines は改行で終わる str の行のリストです")
    for name, lines in STREAMS.items():
        given = (list(lines),)
        kept = snapshot(given)
        try:
            pieces = my_read_stream(*given)
            pieces = list(pieces) if not isinstance(pieces, (str, bytes)) and hasattr(pieces, "__iter__") else pieces
        except Exception as error:
            report.add(False, say(en=f"on a {name} stream, my_read_stream raised {error_text(error)}",
                                  ja=f"{ja_stream(name)}で my_read_stream がエラーになりました："
                                     f"{error_text(error)}"),
                       _error_hint(error, name) or usage)
            return
        if changed(report, "my_read_stream", my_read_stream, given, kept):
            return
        expected = STREAM_PIECES[name]
        right = pieces == expected or (isinstance(pieces, list) and all(isinstance(p, str) for p in pieces)
                                       and "".join(pieces) == "".join(expected))
        report.add(right, say(en=f"a {name} stream gives the pieces {pieces}",
                              ja=f"{ja_stream(name)}から {pieces} が得られます") if right else
                   say(en=f"a {name} stream gives {show(pieces)}, not the pieces {expected}",
                       ja=f"{ja_stream(name)}から {show(pieces)} が得られました。正しくは {expected} です"),
                   _pieces_hint(pieces))
        if not right:
            return


def _error_hint(error: Exception, stream: str) -> str:
    """What a typical reader trips over: [DONE], blank lines, comments, the 'data: ' prefix, a delta without text."""
    text = str(error)
    if isinstance(error, KeyError) and "content" in text:
        return say(en="the first chunk carries only the role and the last one only finish_reason: "
                      'delta.get("content") gives None there; skip it',
                   ja='最初のチャンクには role だけ、最後のチャンクには finish_reason だけがあります。'
                      'delta.get("content") は None を返すので飛ばします')
    if isinstance(error, TypeError) and "None" in text:
        return say(en='a chunk may carry "content": null: keep only pieces that are text',
                   ja='"content": null のチャンクがあります。テキストのものだけを残します')
    if not isinstance(error, ValueError):  # json.JSONDecodeError is a ValueError
        return ""
    document = getattr(error, "doc", "")
    if document.strip().startswith("[DONE]"):
        return say(en='vLLM and the OpenAI API end the stream with "data: [DONE]", which is not JSON: stop there',
                   ja='vLLM と OpenAI API はストリームの最後に "data: [DONE]" を送ります。'
                      "JSON ではないので、そこで止めます")
    if document.strip().startswith(":"):
        return say(en='lines that start with ":" are comments (keep-alive pings): skip them, as every line that '
                      'does not start with "data: "',
                   ja='":" で始まる行はコメント（接続維持の ping）です。"data: " で始まらない行と同じく飛ばします')
    if document.strip().startswith("data:"):
        return say(en='remove the "data: " in front before json.loads: line.removeprefix("data: ")',
                   ja='json.loads の前に先頭の "data: " を取り除きます：line.removeprefix("data: ")')
    if not document.strip():
        return say(en="a blank line ends each event: skip lines that do not start with \"data: \"",
                   ja='各イベントは空行で終わります。"data: " で始まらない行は飛ばします')
    return ""


def _pieces_hint(pieces: Any) -> str:
    """A joined string, the role or finish_reason kept, empty or None pieces, the JSON kept."""
    if isinstance(pieces, str):
        return say(en="return the list of pieces, not the joined text",
                   ja="つなげたテキストではなく、チャンクごとのテキストのリストを返します")
    if not isinstance(pieces, list):
        return say(en="return a list of str: the content of each chunk's delta",
                   ja="str のリストを返します：各チャンクの delta の content です")
    if any(piece is None or piece == "" for piece in pieces):
        return say(en="leave out chunks without text (the role chunk, the finish_reason chunk): keep a piece only "
                      "when its content is a non-empty string",
                   ja="テキストのないチャンク（role や finish_reason のチャンク）は除きます。content が空でない"
                      "文字列のときだけ残します")
    if any(piece in ("assistant", "stop", "length") for piece in pieces):
        return say(en='keep only choices[0]["delta"]["content"], not the role or the finish_reason',
                   ja='choices[0]["delta"]["content"] だけを残し、role や finish_reason は入れません')
    if any(isinstance(piece, (dict, list)) for piece in pieces):
        return say(en='take the text out of each chunk: chunk["choices"][0]["delta"].get("content")',
                   ja='各チャンクからテキストを取り出します：chunk["choices"][0]["delta"].get("content")')
    return say(en='one piece per chunk with text: chunk["choices"][0]["delta"].get("content"), in order',
               ja='テキストのあるチャンクごとに 1 つずつ、届いた順に並べます：chunk["choices"][0]["delta"].get("content")')


# ---------------------------------------------------------------- generate settings -> request fields

FIELD_CASES = [  # (generate settings, the request fields that ask a server for the same thing)
    ({"max_new_tokens": 32}, {"max_tokens": 32, "temperature": 0}),
    ({}, {"max_tokens": 20, "temperature": 0}),
    ({"max_new_tokens": 64, "do_sample": True, "temperature": 0.7, "top_p": 0.9},
     {"max_tokens": 64, "temperature": 0.7, "top_p": 0.9, "top_k": 50}),
    ({"max_new_tokens": 16, "do_sample": True, "top_k": 0}, {"max_tokens": 16}),
    ({"max_new_tokens": 24, "do_sample": False, "stop_strings": ["."]}, {"max_tokens": 24, "temperature": 0,
                                                                        "stop": ["."]}),
    ({"max_new_tokens": 12, "temperature": 0.7}, {"max_tokens": 12, "temperature": 0}),  # no do_sample: greedy
]
TOP_K_OFF = (None, 0, -1)  # no top_k field, or the value that turns it off (vLLM: -1 or 0)


@exercise_check(en="Request fields for generate settings", ja="generate の設定をリクエストのフィールドに",
                answer=is_function)
def check_request_fields(report: Report, my_request_fields: Callable[[dict], Any]) -> None:
    """Lesson 09: ``my_request_fields(settings)`` turns generate keyword arguments into chat-completion fields.

    >>> def fields(settings):
    ...     sampling = settings.get("do_sample", False)
    ...     out = {"max_tokens": settings.get("max_new_tokens", 20)}
    ...     out["temperature"] = settings.get("temperature", 1.0) if sampling else 0
    ...     out.update({k: settings[k] for k in ("top_p",) if k in settings})
    ...     if sampling and settings.get("top_k", 50):
    ...         out["top_k"] = settings.get("top_k", 50)
    ...     if "stop_strings" in settings:
    ...         out["stop"] = settings["stop_strings"]
    ...     return out
    >>> check_request_fields(fields).passed
    True
    """
    usage = say(en="it is called as my_request_fields(settings) with a dict of generate keyword arguments",
                ja="my_request_fields(settings) の形で呼ばれます。settings は generate のキーワード引数の dict です")
    for settings, expected in FIELD_CASES:
        ok, fields = call(report, "my_request_fields", my_request_fields, (dict(settings),), usage)
        if not ok:
            return
        right = isinstance(fields, dict) and _same_fields(fields, expected, settings.get("do_sample", False))
        report.add(right, say(en=f"{settings} -> {fields}", ja=f"{settings} → {fields}") if right else
                   say(en=f"{settings} -> {show(fields) if not isinstance(fields, dict) else fields}; expected "
                          f"{expected}",
                       ja=f"{settings} → {show(fields) if not isinstance(fields, dict) else fields}。正しくは "
                          f"{expected} です"),
                   _fields_hint(fields, settings, expected))


def _same_fields(fields: dict, expected: dict, sampling: bool) -> bool:
    """The expected fields; a default spelled out is as good as left out: top_k off, top_p 1.0, no stop,
    temperature 1 when sampling.

    >>> _same_fields({"max_tokens": 20, "temperature": 0, "top_p": 1.0, "stop": None},
    ...              {"max_tokens": 20, "temperature": 0}, sampling=False)
    True
    """
    fields = _renamed(fields)
    if not sampling and fields.get("temperature") == 0:  # greedy: a server ignores top_k and top_p then
        fields.pop("top_k", None), fields.pop("top_p", None)
    if "top_k" not in expected and fields.get("top_k") in TOP_K_OFF:
        fields.pop("top_k", None)
    if "top_p" not in expected and fields.get("top_p", 1.0) == 1.0:
        fields.pop("top_p", None)
    if "stop" not in expected and fields.get("stop") in (None, [], ()):
        fields.pop("stop", None)
    if sampling and "temperature" not in expected and fields.get("temperature") == 1.0:
        fields.pop("temperature")
    if set(fields) != set(expected):
        return False
    return all(fields[name] == value or (isinstance(value, float) and isinstance(fields[name], (int, float))
                                         and math.isclose(fields[name], value)) for name, value in expected.items())


def _renamed(fields: dict) -> dict:
    """The fields with OpenAI's newer name for the length, max_completion_tokens, read as max_tokens.

    >>> _renamed({"max_completion_tokens": 20})
    {'max_tokens': 20}
    """
    fields = dict(fields)
    if "max_completion_tokens" in fields and "max_tokens" not in fields:
        fields["max_tokens"] = fields.pop("max_completion_tokens")
    return fields


def _fields_hint(fields: Any, settings: dict, expected: dict) -> str:
    """The first thing a typical answer gets wrong, in the order the lesson teaches them."""
    if not isinstance(fields, dict):
        return say(en='return a dict of request fields, e.g. {"max_tokens": 32, "temperature": 0}',
                   ja='リクエストのフィールドの dict を返します。例：{"max_tokens": 32, "temperature": 0}')
    fields = _renamed(fields)
    leftovers = [name for name in ("max_new_tokens", "do_sample", "stop_strings") if name in fields]
    if leftovers:
        return say(en=f"servers have no {leftovers[0]}: max_new_tokens is max_tokens, stop_strings is stop, and "
                      "greedy is temperature=0 (there is no do_sample)",
                   ja=f"サーバーの API に {leftovers[0]} というフィールドはありません。max_new_tokens は max_tokens、"
                      "stop_strings は stop、貪欲デコーディングは temperature=0 です（do_sample はありません）")
    if fields.get("max_tokens") != expected["max_tokens"] and "max_new_tokens" in settings:
        return say(en=f"max_new_tokens={settings['max_new_tokens']} asks for that many new tokens; a request asks "
                      "with max_tokens (or max_completion_tokens)",
                   ja=f"max_new_tokens={settings['max_new_tokens']} は新しいトークンの数です。リクエストでは max_tokens"
                      "（または max_completion_tokens）で指定します")
    if fields.get("max_tokens") != expected["max_tokens"]:
        return say(en="generate makes 20 new tokens when max_new_tokens is not given; a server's own default "
                      "differs (1024 on transformers serve, the rest of the context on vLLM): send max_tokens=20",
                   ja="max_new_tokens がなければ generate は 20 トークンを作ります。サーバーの既定値は違う"
                      "（transformers serve は 1024、vLLM はコンテキストの残り全部）ので max_tokens=20 を送ります")
    if expected.get("temperature") == 0 and fields.get("temperature") != 0:
        return say(en="generate is greedy unless do_sample=True; vLLM and the OpenAI API sample unless temperature=0: "
                      "send it",
                   ja="generate は do_sample=True でなければ貪欲デコーディングですが、vLLM や OpenAI の API は "
                      "temperature=0 でなければサンプリングします。temperature=0 を送ります")
    if "top_k" in expected and fields.get("top_k") != 50:
        return say(en="sampling without top_k, generate keeps only the 50 most likely tokens (its hidden top_k=50); "
                      "vLLM keeps them all unless told: send top_k=50 to draw the same way",
                   ja="top_k なしでサンプリングすると generate は上位 50 トークンだけを残します（暗黙の top_k=50）。"
                      "vLLM は指定がなければすべて残すので、同じ引き方にするには top_k=50 を送ります")
    if "top_k" not in expected and fields.get("top_k") not in TOP_K_OFF:
        return say(en="top_k=0 turns top-k off in generate: leave top_k out of the request",
                   ja="generate では top_k=0 で top-k が無効になります。リクエストに top_k を入れません")
    if "stop" in expected and fields.get("stop") != expected["stop"]:
        return say(en='stop_strings=["."] is "stop": ["."] in a request', ja='stop_strings=["."] はリクエストでは '
                                                                            '"stop": ["."] です')
    return say(en="copy temperature and top_p as they are; greedy is temperature=0",
               ja="温度（temperature）と top_p はそのまま渡します。貪欲デコーディングは temperature=0 です")
