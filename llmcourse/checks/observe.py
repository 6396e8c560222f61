"""What a learner's function does while it runs: the seeds it sets and the generate calls it makes.

Used by lesson 04's sampling check. Nothing stays changed after a block: transformers' ``generate`` is
wrapped only inside `observe`, and `kept_random_state` gives the session its random state back.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

SEED_MARK = 0x5EED_C0FFEE  # torch's seed before the first call (+1 for each next one): a seed the learner sets replaces it


@contextlib.contextmanager
def observe(events: list, mark: int = SEED_MARK) -> Iterator[None]:
    """Record, in order, the seeds set and the generate calls made while the block runs.

    Events: ("seed", value) when ``torch.initial_seed()`` changed (manual_seed, transformers.set_seed), ("other
    seed", None) when Python's or numpy's state did, at each generate call and at the end; ("generate", samples,
    input_ids, output_ids, max_new_tokens) for each call of ``generate``: transformers' ``GenerationMixin.generate``
    is wrapped while the block runs (only then: put back even on an error), so a model is seen however the learner's
    function reaches it. Seeds are read off the generators' state: no seed function is patched. All start from seed
    ``mark``, so unseeded draws differ.

    >>> import torch; events = []
    >>> with kept_random_state(), observe(events):
    ...     _ = torch.manual_seed(7)
    >>> events
    [('seed', 7)]
    """
    import numpy
    import torch

    torch.manual_seed(mark), random.seed(mark), numpy.random.seed(mark % 2**32)
    seen = {"torch": mark, "python": random.getstate(), "numpy": numpy.random.get_state()[1].copy()}

    def look() -> None:  # add the seeds set since the last look
        if torch.initial_seed() != seen["torch"]:
            seen["torch"] = torch.initial_seed()
            events.append(("seed", seen["torch"]))
        python, numpy_keys = random.getstate(), numpy.random.get_state()[1]
        if python != seen["python"] or not numpy.array_equal(numpy_keys, seen["numpy"]):
            seen["python"], seen["numpy"] = python, numpy_keys.copy()
            events.append(("other seed", None))

    from transformers import GenerationMixin

    original = GenerationMixin.generate

    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        look()
        config = kwargs.get("generation_config") or getattr(self, "generation_config", None)
        samples = kwargs.get("do_sample", getattr(config, "do_sample", False))
        asked = kwargs.get("max_new_tokens", getattr(config, "max_new_tokens", None))
        output = original(self, *args, **kwargs)
        ids = getattr(output, "sequences", output)  # (batch, prompt + new), also with return_dict_in_generate
        events.append(("generate", bool(samples), kwargs.get("input_ids", args[0] if args else None), ids, asked))
        return output

    GenerationMixin.generate = generate  # every model, however my_sample reaches it (a dict, a class, a pipeline)
    try:
        yield
        look()
    finally:
        GenerationMixin.generate = original  # put back even when my_sample raises (tests/test_checks.py)


@contextlib.contextmanager
def generate_calls(calls: list) -> Iterator[None]:
    """Record ``(thread name, batch size, streamer)`` for every ``generate`` call made while the block runs.

    Lesson 04's batch check asks for one call on the whole batch; lesson 06's streaming check asks
    for generate to run in a thread of its own. ``GenerationMixin.generate`` is wrapped only inside
    the block (put back even on an error).

    >>> calls = []
    >>> with generate_calls(calls):
    ...     pass
    >>> calls
    []
    """
    import threading

    from transformers import GenerationMixin

    original = GenerationMixin.generate

    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        ids = kwargs.get("input_ids", args[0] if args else None)
        calls.append((threading.current_thread().name, int(ids.shape[0]) if hasattr(ids, "shape") else None,
                      kwargs.get("streamer")))
        return original(self, *args, **kwargs)

    GenerationMixin.generate = generate
    try:
        yield
    finally:
        GenerationMixin.generate = original


@contextlib.contextmanager
def kept_random_state() -> Iterator[None]:
    """Restore the random state of torch, Python and numpy after the block."""
    import numpy
    import torch

    python_state, numpy_state = random.getstate(), numpy.random.get_state()
    with torch.random.fork_rng():
        try:
            yield
        finally:
            random.setstate(python_state)
            numpy.random.set_state(numpy_state)


# Lesson 04, exercise 3: a batch whose short row goes wrong both ways, padded on the right (it continues after
# 9 pad tokens) and padded on the left without the attention mask (the model reads the pads as text): only the
# left-padded batch with its mask goes on with "Wednesday"
