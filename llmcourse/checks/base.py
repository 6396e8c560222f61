"""The machinery every exercise check shares, written once: the `Report`, the `exercise_check`
decorator that builds one, and the tests of a learner's answer that add a ✘ line with a hint.

A check is a function of ``report`` and the learner's answer that adds one line per property;
`exercise_check` turns it into the public check, which takes only the answer and returns the report::

    @exercise_check(en="Temperature", ja="温度", answer=is_function)
    def check_temperature(report, my_apply_temperature): ...

Hints are graded: a failed line first explains the idea; the line of code that fixes it is shown
only when the learner asks for it (``check_temperature(my_fn, hint=2)``), never by itself. A check
refuses to judge an answer whose exercise cell last stopped with an error (the answer in memory is
then an older one), every time it runs, until that cell runs cleanly (`history`).

Nothing here may raise on a wrong answer: a wrong type, a function that raises, or a
check that cannot finish all become ✘ lines.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from ..errors import describe
from ..i18n import say
from .history import last_failure
from .inputs import changed, snapshot
from .values import error_text

AnswerTest = Callable[["Report", Any, str], bool]  # (report, answer, its name) -> did it pass


class Line(NamedTuple):
    """One checked property: did it hold, what it says, and (only when it failed) a hint and its code line."""

    passed: bool
    message: str
    hint: str = ""  # the idea behind the fix, shown on the first failure
    code: str = ""  # the line of code that fixes it, shown only when asked for (hint=2)


class Report:
    """What a check returns: a title and one `Line` per property, shown as ✔/✘ lines.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> report = Report("Demo")
    >>> report.add(True, "pads on the left")
    True
    >>> _ = report.add(False, "has no pad token", "tokenizer.pad_token = tokenizer.eos_token")
    >>> report.passed
    False
    >>> print(report)
    Demo
    ✔ pads on the left
    ✘ has no pad token — hint: tokenizer.pad_token = tokenizer.eos_token
    1 of 2 checks failed

    A hint may come in two grades: the idea, and the code line shown only at ``level`` 2:

    >>> report = Report("Demo", ask="check_demo(..., hint=2)")
    >>> _ = report.add(False, "pads on the right", "the pads must come first", 'padding_side="left"')
    >>> print(report)
    Demo
    ✘ pads on the right — hint: the pads must come first
    1 of 1 checks failed (to see the line of code: check_demo(..., hint=2))
    >>> report.level = 2; print(report.lines[0].hint, "|", report.lines[0].code)
    the pads must come first | padding_side="left"
    """

    def __init__(self, title: str, *, level: int = 1, ask: str = "") -> None:
        self.title = title
        self.lines: list[Line] = []
        self.level = level  # 1: the idea of each fix; 2: its code line too
        self.ask = ask  # how to ask for the code lines, e.g. "check_temperature(..., hint=2)"

    def add(self, passed: Any, message: str, hint: str = "", code: str = "") -> bool:
        """Record one property (hint and code are kept only if it failed); returns whether it passed."""
        passed = bool(passed)
        self.lines.append(Line(passed, message, "" if passed else hint, "" if passed else code))
        return passed

    @property
    def passed(self) -> bool:
        """True when at least one property was checked and every one passed."""
        return bool(self.lines) and all(line.passed for line in self.lines)

    @property
    def failures(self) -> list[Line]:
        """The lines that failed."""
        return [line for line in self.lines if not line.passed]

    def __repr__(self) -> str:
        rows = [self.title]
        for line in self.lines:
            shown = [line.hint] + ([line.code] if self.level >= 2 else [])
            hint = say(en="; ", ja="。コードの行：").join(part for part in shown if part)
            hint = say(en=" — hint: ", ja=" — ヒント：") + hint if hint else ""
            rows.append(f"✔ {line.message}" if line.passed else f"✘ {line.message}{hint}")
        failed, total = len(self.failures), len(self.lines)
        hidden = self.level < 2 and self.ask and any(line.code for line in self.failures)
        more = say(en=f" (to see the line of code: {self.ask})", ja=f"（コードの行を見るには：{self.ask}）") if hidden else ""
        rows.append(say(en="All checks passed!", ja="すべてのチェックに合格しました！") if self.passed else
                    say(en=f"{failed} of {total} checks failed", ja=f"{total} 件中 {failed} 件が不合格です") + more)
        return "\n".join(rows)

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows the report as plain lines, the cell's value."""
        printer.text(repr(self))


def exercise_check(*, en: str, ja: str,
                   answer: AnswerTest | None = None) -> Callable[[Callable], Callable[..., Report]]:
    """Make a public check from its body ``(report, answer, *arguments) -> None``.

    The check builds a `Report` titled ``say(en=en, ja=ja)`` (a title may name an argument:
    ``"{n} new tokens"``), runs ``answer(report, value, name)`` on the learner's answer first
    when given (`is_function`, say), then the body under `guard`, and returns the report.
    The body adds lines, and simply returns when there is nothing more worth checking.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> @exercise_check(en="Double of {x}", ja="{x} の 2 倍", answer=is_function)
    ... def check_double(report, my_double, x=3):
    ...     report.add(my_double(x) == 2 * x, f"my_double({x}) is {my_double(x)}", "x * 2")
    >>> print(check_double(lambda x: x + x))
    Double of 3
    ✔ my_double(3) is 6
    All checks passed!
    >>> check_double(None).failures[0].message
    'my_double is None, not a function'
    """
    def decorate(body: Callable) -> Callable[..., Report]:
        parameters = list(inspect.signature(body).parameters.values())[1:]  # all but the report
        grade = inspect.Parameter("hint", inspect.Parameter.KEYWORD_ONLY, default=1, annotation=int)
        public = inspect.Signature([*parameters, grade], return_annotation=Report)
        name = parameters[0].name  # the learner's answer, as the exercise names it

        @functools.wraps(body)
        def check(*args: Any, **kwargs: Any) -> Report:
            bound = public.bind(*args, **kwargs)
            bound.apply_defaults()
            asked = bound.arguments.pop("hint") not in (None, False, 0, 1)
            level = 2 if asked else 1
            report = Report(say(en=en, ja=ja).format(**bound.arguments), level=level,
                            ask=f"{body.__name__}(..., hint=2)")
            if stale(report, name):
                return report
            with guard(report):
                if answer is None or answer(report, bound.arguments[name], name):
                    body(report, **bound.arguments)
            return report

        check.__signature__ = public  # help() shows the learner's arguments, without the report
        return check

    return decorate


def stale(report: Report, name: str) -> bool:
    """In IPython, when the last run of the cell that defines ``name`` stopped with an error, say so and refuse.

    The learner's variable then holds an earlier run's answer (or the placeholder), or one from a
    cell that stopped after defining it: the check judges neither, every time it runs, until that
    cell runs without an error (`history.last_failure`). Outside IPython nothing is known about cells: False.

    >>> stale(Report("Demo"), "my_fn")
    False
    """
    error = last_failure(name)
    if error is None:
        return False
    report.add(False, say(en=f"the last run of the cell that defines {name} stopped with {error}: an answer from a "
                             "cell that did not run to its end is not judged",
                          ja=f"{name} を定義するセルの前回の実行が {error} で止まりました。最後まで実行されなかった"
                             "セルの答えは判定しません"),
               say(en="run the exercise cell again first (fix the error it shows), then this check",
                   ja="まず演習のセルをもう一度実行し（表示されたエラーを直して）、それからこのチェックを実行します"))
    return True


@contextlib.contextmanager
def guard(report: Report) -> Iterator[None]:
    """Turn an unexpected error inside a check into a failed line instead of a traceback.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> report = Report("Demo")
    >>> with guard(report):
    ...     1 / 0
    >>> report.failures[0].message
    'the check could not finish: ZeroDivisionError: division by zero'
    """
    try:
        yield
    except Exception as error:  # a check must never raise on a learner's answer
        report.add(False, say(en=f"the check could not finish: {error_text(error)}",
                              ja=f"チェックを最後まで実行できませんでした：{error_text(error)}"),
                   say(en="look at the values passed to the check; if they look right, rerun the lesson from the top",
                       ja="チェックに渡した値を確かめます。正しく見えるなら、レッスンを最初から実行し直します"))


def call(report: Report, name: str, function: Callable, args: tuple, usage: str) -> tuple[bool, Any]:
    """Call the learner's function; if it raises, add a failed line (hint: ``usage``) and return (False, None).

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> report = Report("Demo")
    >>> call(report, "my_fn", lambda x: x + 1, (1,), "my_fn(number)")
    (True, 2)
    >>> call(report, "my_fn", lambda x: x + 1, ("a",), "my_fn(number)")
    (False, None)
    >>> report.failures[0].message
    'my_fn raised TypeError: can only concatenate str (not "int") to str'

    An input changed in place fails too (the reference functions never change theirs):

    >>> import torch
    >>> call(report, "my_fn", lambda x: x.mul_(2), (torch.ones(3),), "my_fn(tensor)")
    (False, None)
    >>> report.failures[1].message
    'my_fn changed its input x in place: 3 of 3 values differ after the call'
    """
    kept = snapshot(args)
    try:
        out = function(*args)
    except Exception as error:
        report.add(False, say(en=f"{name} raised {error_text(error)}",
                              ja=f"{name} でエラーが出ました：{error_text(error)}"), usage)
        return False, None
    if out is not None and changed(report, name, function, args, kept):  # None: the check's own hint says more
        return False, None
    return True, out


def objects_read(function: Any, depth: int = 2) -> list:
    """What a learner's function reads by name (its closure, the globals it names), and what its helpers read.

    Lesson 04's sampling check finds the model and tokenizer ``my_sample`` uses this way.

    >>> marker = object()
    >>> marker in objects_read(lambda: marker)
    True
    """
    code = getattr(function, "__code__", None)
    if code is None:
        return []
    closure = []
    for cell in function.__closure__ or ():
        with contextlib.suppress(ValueError):  # a cell not filled yet
            closure.append(cell.cell_contents)
    names = getattr(function, "__globals__", {})
    used = closure + [names[name] for name in code.co_names if name in names]
    if depth > 0:  # a helper my_sample calls (sample_text(...)) may be the one that holds the model
        used += [inner for value in list(used) if callable(value) and hasattr(value, "__code__")
                 for inner in objects_read(value, depth - 1)]
    return used


# ---------------------------------------------------------------- tests of the answer's type


def not_a(name: str, value: Any, *, en: str, ja: str) -> str:
    """The message for an answer of the wrong type, naming what it is and what it should be.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> not_a("my_kwargs", [1, 2], en="a dict", ja="dict ")
    'my_kwargs is a list of 2, not a dict'
    """
    return say(en=f"{name} is {describe(value)}, not {en}", ja=f"{name} は {describe(value)}で、{ja}ではありません")


def is_function(report: Report, value: Any, name: str) -> bool:
    """Something callable; otherwise add a failed line.

    >>> is_function(Report("Demo"), len, "my_len")
    True
    """
    if callable(value):
        return True
    report.add(False, not_a(name, value, en="a function", ja="関数"),
               say(en=f"replace the None in the exercise cell with your function (def {name}(...): ...), and run it",
                   ja=f"演習のセルの None を自分の関数（def {name}(...): ...）に置き換えて、そのセルを実行します")
               if value is None else
               say(en=f"pass the function itself, without calling it: {name}, not {name}(...)",
                   ja=f"関数そのものを呼び出さずに渡します：{name}(...) ではなく {name}"))
    return False


def is_model(report: Report, value: Any, name: str) -> bool:
    """A torch model; a (model, tokenizer) pair from load_model gets its own hint.

    >>> import torch; is_model(Report("Demo"), torch.nn.Linear(2, 2), "my_model")
    True
    """
    if hasattr(value, "modules") and hasattr(value, "parameters"):
        return True
    pair = isinstance(value, tuple) and len(value) == 2 and hasattr(value[0], "modules")
    report.add(False, not_a(name, value, en="a model", ja="モデル"),
               say(en=f"load_model returns (model, tokenizer): unpack it, {name}, tokenizer = load_model(...)",
                   ja=f"load_model は (model, tokenizer) を返します。{name}, tokenizer = load_model(...) "
                      "と分けて受け取ります")
               if pair else say(en="pass the model from AutoModelForCausalLM.from_pretrained(...)",
                                ja="AutoModelForCausalLM.from_pretrained(...) で読み込んだモデルを渡します"))
    return False


def is_tokenizer(report: Report, value: Any, name: str) -> bool:
    """A transformers tokenizer; a (model, tokenizer) pair gets its own hint.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> report = Report("Demo"); is_tokenizer(report, ("model", "tokenizer"), "my_tokenizer")
    False
    >>> report.failures[0].message
    'my_tokenizer is a tuple of 2, not a tokenizer'
    """
    if callable(value) and hasattr(value, "padding_side") and not isinstance(value, type):
        return True
    pair = isinstance(value, tuple) and len(value) == 2 and hasattr(value[1], "padding_side")
    if pair:
        hint = say(en=f"load_model returns (model, tokenizer): model, {name} = load_model(...)",
                   ja=f"load_model は (model, tokenizer) を返します：model, {name} = load_model(...)")
    elif hasattr(value, "modules") and hasattr(value, "parameters"):
        hint = say(en="this is the model: pass the tokenizer loaded next to it",
                   ja="これはモデルです。一緒に読み込んだトークナイザーを渡します")
    elif isinstance(value, type):
        hint = say(en="this is the class, not a loaded tokenizer: load one with from_pretrained(path, ...)",
                   ja="これはクラスで、読み込んだトークナイザーではありません。from_pretrained(path, ...) で読み込みます")
    else:
        hint = say(en="a tokenizer loaded with AutoTokenizer.from_pretrained(path, ...)",
                   ja="AutoTokenizer.from_pretrained(path, ...) で読み込んだトークナイザーを渡します")
    report.add(False, not_a(name, value, en="a tokenizer", ja="トークナイザー"), hint,
               'AutoTokenizer.from_pretrained(path, padding_side="left")')
    return False


def is_text(report: Report, value: Any, name: str) -> bool:
    """A str; otherwise add a failed line.

    >>> is_text(Report("Demo"), "Paris", "my_text")
    True
    """
    if isinstance(value, str):
        return True
    report.add(False, not_a(name, value, en="text", ja="テキスト"), _text_hint(value))
    return False


def _text_hint(value: Any) -> str:
    """What to do with what came back instead of text: a list of texts, or ids still to decode.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> _text_hint(["Paris"])
    'that is a list holding 1 text (batch_decode returns one per row): return the text itself'
    """
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, str) for item in value):
        return say(en=f"that is a list holding {len(value)} text{'s' if len(value) > 1 else ''} (batch_decode returns "
                      "one per row): return the text itself",
                   ja=f"テキストを {len(value)} 個入れたリストです（batch_decode は行ごとに 1 つ返します）。"
                      "テキストそのものを返します")
    return say(en="decode the ids to text with the tokenizer, leaving the special tokens out",
               ja="トークナイザーで ID をテキストにデコードします。特殊トークンは除きます")


def is_text_list(report: Report, value: Any, name: str, length: int | None, hint: str = "") -> bool:
    """A list (or tuple) of str, of ``length`` items when given; otherwise add a failed line.

    >>> from llmcourse.i18n import set_language; set_language("en")
    >>> report = Report("Demo"); is_text_list(report, ["a"], "my_texts", 2)
    False
    >>> report.failures[0].message
    'my_texts is a list of 1, not a list of 2 strings'
    """
    if (isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)
            and (length is None or len(value) == length)):
        return True
    count = f"{length} " if length else ""
    report.add(False, not_a(name, value, en=f"a list of {count}strings",
                            ja=f"{count}{'個の' if length else ''}文字列のリスト"),
               hint or say(en="a list with one string per row: the tokenizer's batch_decode gives one per row "
                              "(leave the special tokens out)",
                           ja="行ごとに 1 つの文字列のリストにします：トークナイザーの batch_decode は行ごとに 1 つ"
                              "返します（特殊トークンは除きます）"))
    return False
