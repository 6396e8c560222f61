"""Silence progress bars and one-time log lines at their source while loading.

Loading prints a "Loading weights" bar, a GGUF conversion bar and, with
bitsandbytes, log lines about optional kernels. They are noise in a lesson (and
would differ between machines), so the loaders wrap their work in `quiet_loading`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
from collections.abc import Iterator


def silence_bitsandbytes() -> None:
    """Raise bitsandbytes' log level so its optional-kernel messages stay quiet.

    Call before importing bitsandbytes (``load_model`` does).

    >>> silence_bitsandbytes(); logging.getLogger("bitsandbytes").level == logging.ERROR
    True
    """
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Within the block: no transformers progress bars, warnings only if errors.

    >>> with quiet_loading():
    ...     pass
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
