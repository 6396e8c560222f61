"""Plots of a server at work: when each request waited and when its answer streamed in (lesson 09).

The numbers come from `llmcourse.client.send_requests`, which times every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..errors import CourseError, describe
from ..i18n import say
from .style import BLUE, LIGHT_GREY, new_figure, plot_style, points


def plot_request_timeline(runs: Mapping[str, Any]) -> Figure:
    """One panel per run, one bar per request: waiting for the first token (grey), then streaming (blue).

    ``runs`` maps a label to what `send_requests` returned; time 0 is when the run's first request
    was sent, so the panels share one clock.

    >>> from llmcourse.client import RequestRun, StreamedReply
    >>> reply = StreamedReply("Hi", ["Hi"], arrived=[0.5], seconds=1.0, finish_reason="stop", sent_at=10.0)
    >>> plot_request_timeline({"one request": RequestRun([reply], seconds=1.0, concurrent=False)})
    <CourseFigure size 800x220 with 1 Axes>
    """
    if not isinstance(runs, Mapping) or not runs:
        mapping = isinstance(runs, Mapping)
        raise CourseError(say(en=f'runs must map a label to what send_requests returned, e.g. '
                                 f'{{"one after another": run}}, got {describe(runs) if not mapping else "an empty mapping"}.',
                              ja=f'runs はラベルから send_requests の戻り値への辞書（たとえば {{"1 件ずつ": run}}）に'
                                 f'してください。{describe(runs) if not mapping else "空の辞書"}が渡されました。'))
    end = max((start + total for run in runs.values() for start, _, total in _bars(run)), default=0.0)
    with plot_style():
        fig, axes = new_figure((8, 0.6 + 1.6 * len(runs)), nrows=len(runs), squeeze=False)
        for ax, (label, run) in zip(axes[:, 0], runs.items(), strict=True):
            bars = _bars(run)
            rows = range(len(bars))
            ax.barh(rows, [wait for _, wait, _ in bars], left=[start for start, _, _ in bars], color=LIGHT_GREY)
            ax.barh(rows, [total - wait for _, wait, total in bars],
                    left=[start + wait for start, wait, _ in bars], color=BLUE)
            ax.set_yticks(list(rows), [say(en=f"request {row + 1}", ja=f"リクエスト {row + 1}") for row in rows])
            ax.invert_yaxis()  # request 1 on top
            ax.set_xlim(0, 1.02 * end if end > 0 else 1)
            ax.set_title(say(en=f"{label}: {len(bars)} requests, {run.seconds:.1f} s in all",
                             ja=f"{label}：{len(bars)} 件のリクエスト、合計 {run.seconds:.1f} 秒"), loc="left")
        axes[-1, 0].set_xlabel(say(en="seconds since the first request was sent",
                                   ja="最初のリクエストを送ってからの秒数"))
        waiting = Patch(color=LIGHT_GREY, label=say(en="waiting for the first token", ja="最初のトークンを待っている"))
        streaming = Patch(color=BLUE, label=say(en="streaming the answer", ja="回答をストリーミング中"))
        axes[0, 0].legend(handles=[waiting, streaming], loc="lower right", fontsize=points(8))
    return fig


def _bars(run: Any) -> list[tuple[float, float, float]]:
    """(start, time to first token, total seconds) of each reply, the start counted from the run's first request."""
    replies = getattr(run, "replies", None)
    if not isinstance(replies, list):
        raise CourseError(say(en=f"each run must be what send_requests returned (a RequestRun), got {describe(run)}.",
                              ja=f"それぞれの run は send_requests の戻り値（RequestRun）にしてください。"
                                 f"{describe(run)}が渡されました。"))
    first = min((reply.sent_at for reply in replies), default=0.0)
    return [(reply.sent_at - first, reply.ttft, reply.seconds) for reply in replies]
