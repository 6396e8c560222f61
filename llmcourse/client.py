"""A small client for OpenAI-compatible servers: a streamed chat request, read line by line (lesson 09).

A streamed answer (``"stream": true``) comes back as server-sent events: lines
``data: {json chunk}``, each event ended by a blank line. The first chunk carries the
role, the next ones a piece of text each (``choices[0].delta.content``), the last one the
``finish_reason`` (and, from some servers, the token ``usage``); vLLM and the OpenAI API
then send ``data: [DONE]``. Lines starting with ``:`` are comments (keep-alive pings).

`stream_chat` sends one request with nothing but the standard library and times every
piece; `send_requests` sends several, one after another or all at once. A stream that
breaks off before its ``finish_reason`` (the server crashed or was stopped) raises a
`CourseError` that says so, with the server's last log lines when it knows the server.

>>> [chunk["choices"][0]["delta"] for chunk in read_events(['data: {"choices": [{"delta": {"content": "Hi"}}]}',
...                                                         '', 'data: [DONE]', ''])]
[{'content': 'Hi'}]
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .errors import CourseError
from .i18n import say

Messages = str | list[dict[str, str]]  # a question, or the chat messages themselves


@dataclass
class StreamedReply:
    """One streamed answer: its text, the pieces with their arrival times, and how it ended."""

    text: str
    pieces: list[str]  # the text pieces, in order
    arrived: list[float]  # seconds from sending the request to each piece
    seconds: float  # from sending the request to the end of the stream
    finish_reason: str  # "stop" (an end token or a stop string), "length" (max_tokens reached)
    usage: dict[str, int] | None = None  # prompt_tokens, completion_tokens, total_tokens, if the server sent them
    sent_at: float = field(default=0.0, repr=False)  # time.perf_counter() when the request was sent

    @property
    def ttft(self) -> float:
        """Time to first token: seconds from sending the request to the first piece of text."""
        return self.arrived[0] if self.arrived else self.seconds

    @property
    def token_count(self) -> int:
        """New tokens: the server's count when it sent one, else the number of pieces."""
        return int(self.usage["completion_tokens"]) if self.usage else len(self.pieces)

    @property
    def tokens_per_second(self) -> float:
        """New tokens per second of this request, waiting included."""
        return self.token_count / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class RequestRun:
    """Several requests sent together (``concurrent``) or one after another, and the wall time of it all."""

    replies: list[StreamedReply]
    seconds: float  # from the first request sent to the last answer finished
    concurrent: bool
    started_at: float = field(default=0.0, repr=False)  # time.perf_counter() when the first request was sent

    @property
    def finished(self) -> list[float]:
        """Seconds from the start of the run to the end of each answer, in the order of the requests."""
        return [reply.sent_at + reply.seconds - self.started_at for reply in self.replies]

    @property
    def token_count(self) -> int:
        """New tokens of all the answers together."""
        return sum(reply.token_count for reply in self.replies)

    @property
    def tokens_per_second(self) -> float:
        """Throughput: new tokens of all answers per second of wall time."""
        return self.token_count / self.seconds if self.seconds > 0 else float("nan")


def read_events(lines: Iterable[str | bytes]) -> Iterator[dict[str, Any]]:
    """The JSON chunks of a stream of server-sent events, read line by line; stops at ``data: [DONE]``.

    Blank lines, comments (``: ping``) and other fields (``event:``, ``id:``) are skipped; an
    ``{"error": ...}`` chunk raises a `CourseError` with the server's message.

    >>> list(read_events([b': ping\\n', b'data: {"choices": []}\\n', b'\\n']))
    [{'choices': []}]
    """
    for raw in lines:
        line = (raw.decode("utf-8") if isinstance(raw, bytes) else raw).rstrip("\r\n")
        if not line.startswith("data:"):
            continue  # a blank line ends an event; ':' starts a comment; event:/id:/retry: are not needed here
        data = line[len("data:"):].strip()
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        if "error" in chunk:
            error = chunk["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise CourseError(say(en=f"The server reported an error in the middle of the stream: {message}",
                                  ja=f"ストリームの途中でサーバーがエラーを返しました：「{message}」"))
        yield chunk


def stream_chat(target: Any, messages: Messages, *, model: str | None = None, timeout: float = 300.0,
                **fields: Any) -> StreamedReply:
    """Send one chat request with ``"stream": true`` and read the answer as it arrives.

    ``target`` is a `Server` (its url and model are used, and its log explains a crash) or a
    base URL such as ``http://127.0.0.1:8765/v1``. Other keyword arguments are request fields
    (``max_tokens=32``, ``temperature=0``...).

    >>> stream_chat(server, "Why is the sky blue?", max_tokens=8, temperature=0).text   # doctest: +SKIP
    'The answer to this question lies in the'
    """
    url = f"{_base_url(target)}/chat/completions"
    body = {"model": model or getattr(target, "model", None), "messages": _messages(messages), **fields,
            "stream": True}
    request = urllib.request.Request(url, data=json.dumps({k: v for k, v in body.items() if v is not None}).encode(),
                                     headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
    sent_at = time.perf_counter()
    pieces, arrived, finish_reason, usage = [], [], None, None
    try:
        with _open(request, url, timeout) as response:
            for chunk in read_events(response):  # the HTTP response is read line by line
                choice = (chunk.get("choices") or [{}])[0]
                content = (choice.get("delta") or {}).get("content")
                if content:
                    pieces.append(content)
                    arrived.append(time.perf_counter() - sent_at)
                finish_reason = choice.get("finish_reason") or finish_reason
                usage = chunk.get("usage") or usage
    except (http.client.HTTPException, OSError) as error:  # the connection broke: reset, incomplete chunk, timeout
        raise CourseError(_broken_stream(target, url, len(pieces), error), cause=error) from None
    if finish_reason is None:
        raise CourseError(_broken_stream(target, url, len(pieces), None))
    return StreamedReply("".join(pieces), pieces, arrived, time.perf_counter() - sent_at, finish_reason, usage,
                         sent_at)


def send_requests(target: Any, conversations: list[Messages], *, concurrent: bool = True,
                  **fields: Any) -> RequestRun:
    """Stream one answer per conversation, all at once (``concurrent``) or one after another.

    >>> run = send_requests(server, ["Hi", "Why is the sky blue?"], max_tokens=8)   # doctest: +SKIP
    >>> [reply.finish_reason for reply in run.replies]                              # doctest: +SKIP
    ['length', 'length']
    """
    started = time.perf_counter()
    if concurrent:
        with ThreadPoolExecutor(max_workers=max(1, len(conversations))) as pool:
            replies = list(pool.map(lambda messages: stream_chat(target, messages, **fields), conversations))
    else:
        replies = [stream_chat(target, messages, **fields) for messages in conversations]
    return RequestRun(replies, time.perf_counter() - started, concurrent, started)


def _base_url(target: Any) -> str:
    """The base URL of a Server, or the string itself, without a trailing slash."""
    url = getattr(target, "url", target)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise CourseError(say(en=f"Pass the server (from start_server()) or its base URL, e.g. "
                                 f"'http://127.0.0.1:8765/v1'; got {url!r}.",
                              ja=f"サーバー（start_server() が返すもの）か、そのベース URL（たとえば "
                                 f"'http://127.0.0.1:8765/v1'）を渡してください。{url!r} が渡されました。"))
    return url.rstrip("/")


def _messages(messages: Messages) -> list[dict[str, str]]:
    """A question becomes one user message; a list of messages is sent as it is."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if isinstance(messages, list) and all(isinstance(m, dict) and "role" in m for m in messages):
        return messages
    raise CourseError(say(en="messages must be a question (a string) or a list of messages such as "
                             f"[{{'role': 'user', 'content': 'Hi'}}]; got {type(messages).__name__}.",
                          ja="messages は質問（文字列）か、[{'role': 'user', 'content': 'Hi'}] のようなメッセージの"
                             f"リストにしてください。渡されたのは {type(messages).__name__} です。"))


def _open(request: urllib.request.Request, url: str, timeout: float) -> Any:
    """Send the request; turn a refused connection or an HTTP error status into a CourseError."""
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", errors="replace")
        with contextlib.suppress(ValueError, AttributeError):  # FastAPI sends {"detail": ...}
            detail = json.loads(detail).get("detail", detail)
        raise CourseError(say(en=f"The server refused the request (HTTP {error.code}): {detail}",
                              ja=f"サーバーがリクエストを拒否しました（HTTP {error.code}）：「{detail}」"),
                          cause=error) from None
    except urllib.error.URLError as error:
        raise CourseError(say(en=f"Nothing answers at {url} ({error.reason}): is the server running? "
                                 "Start one with server = start_server().",
                              ja=f"{url} から応答がありません（{error.reason}）。サーバーは起動していますか？"
                                 "server = start_server() で起動してください。"),
                          cause=error) from None


def _broken_stream(target: Any, url: str, pieces: int, error: BaseException | None) -> str:
    """Why a stream ended before its finish_reason: the server's exit code and last lines when we know them."""
    how = f" ({type(error).__name__}: {error})" if error is not None else ""
    how_ja = f"（{type(error).__name__}: {error}）" if error is not None else ""
    message = say(en=f"The stream from {url} broke off after {pieces} pieces of text, before the answer was finished "
                     f"(no finish_reason){how}: the server stopped or crashed in the middle of the answer.",
                  ja=f"{url} からのストリームが、テキストのチャンクを {pieces} 個受け取ったところで、回答が終わる前に"
                     f"（finish_reason なしで）途切れました{how_ja}。サーバーが回答の途中で止まったか、クラッシュしました。")
    process = getattr(target, "process", None)
    if process is None:
        return message + say(en=" Check that it is still running, and read its log.",
                             ja="サーバーがまだ動いているか確かめ、そのログを読んでください。")
    try:
        process.wait(timeout=2)  # a killed server needs a moment to be reaped
    except Exception:  # still running: the connection broke for another reason
        return message + say(en=f" It is still running; its last lines:\n{target.log(5)}",
                             ja=f"サーバーはまだ動いています。ログの最後の行：\n{target.log(5)}")
    return message + say(en=f" The server has exited (exit code {process.returncode}); its last lines:\n{target.log(5)}",
                         ja=f"サーバーは終了しました（終了コード {process.returncode}）。ログの最後の行：\n{target.log(5)}")
