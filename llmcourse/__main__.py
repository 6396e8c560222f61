"""``python -m llmcourse``: runs the command line in `llmcourse.cli`."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
