"""Silence progress bars, log lines and warnings at their source, where the course itself calls transformers.

Loading prints a "Loading weights" bar, a GGUF conversion bar and, with
bitsandbytes, log lines about optional kernels; an exercise check's own generate
calls may warn about settings the learner never wrote. They are noise in a lesson (and
would differ between machines), so the loaders and the checks wrap that work in `quiet`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import warnings
from collections.abc import Iterator


def silence_bitsandbytes() -> None:
    """Raise bitsandbytes' log level so its optional-kernel messages stay quiet.

    Call before importing bitsandbytes (``load_model`` does).

    >>> silence_bitsandbytes(); logging.getLogger("bitsandbytes").level == logging.ERROR
    True
    """
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Within the block: no transformers progress bars, its log at error level only, no Python warnings.

    >>> with quiet():
    ...     warnings.warn("not shown")
    """
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    silence_bitsandbytes()
    verbosity = hf_logging.get_verbosity()
    bars_were_on = hf_logging.is_progress_bar_enabled()
    original_tqdm = gguf_utils.tqdm
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    gguf_utils.tqdm = functools.partial(original_tqdm, disable=True)  # its bar ignores the switch above
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        gguf_utils.tqdm = original_tqdm
        hf_logging.set_verbosity(verbosity)
        if bars_were_on:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def captured_log(name: str = "transformers") -> Iterator[io.StringIO]:
    """Collect a library's log messages inside the block, to show them as text (lesson 04).

    >>> import logging
    >>> with captured_log("demo") as log:
    ...     logging.getLogger("demo").warning("right-padding was detected!")
    >>> log.getvalue().strip()
    'right-padding was detected!'
    """
    logger = logging.getLogger(name)
    stream, handlers = io.StringIO(), logger.handlers[:]
    logger.handlers = [logging.StreamHandler(stream)]
    try:
        yield stream
    finally:
        logger.handlers = handlers
