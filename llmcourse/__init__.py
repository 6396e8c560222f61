"""llmcourse: helpers for a Jupyter course on text generation with LLMs.

The public API, the only names lessons import (tests/test_structure.py checks it):

- ``llmcourse``: everything a lesson calls directly, in one flat namespace: setting up
  (`doctor`, `fetch`, `cache_status`, `checkpoint_dir`, `resolve_model`), loading
  (`load_model`, `quantization_config`, `pick_dtypes`), generating (`generate`, `GenerationResult`),
  the hand-written loop (`generate_by_hand`, `generation_steps`, `format_steps`),
  tokens as text (`show_token`, `token_labels`, `format_batch`), the lesson language (`set_language`),
  quiet logs (`captured_log`, `silence_bitsandbytes`), an inference server and its client
  (`start_server`, `stream_chat`, `send_requests`, lesson 09) and the course's errors.
- ``llmcourse.sampling``: temperature, top-k, top-p, min-p and the picks (lessons 03, 05).
- ``llmcourse.plots``: every figure of the course (lessons 01, 03, 05, 06), plus
  `plot_style`, `new_figure` and `COLOURS` for a learner's own figures.
- ``llmcourse.checks``: the exercise checks, one per exercise.

Every other module is internal: one job each, imported by the modules above.
Imports run one way: lessons -> this public API -> internals.

>>> import llmcourse
>>> llmcourse.MODEL_NAME
'SmolLM2-135M-Instruct'
"""

from .cache import cache_root
from .checkup import doctor, format_report, probe_model_choice
from .client import RequestRun, StreamedReply, read_events, send_requests, stream_chat
from .drafts import draft_agreement, truncated_copy
from .errors import CourseError, ModelNotAvailableError, SetupError
from .generation import GenerationResult, generate
from .handloop import Step, format_steps, generate_by_hand, generation_steps
from .i18n import get_language, set_language
from .loading import load_model, resolve_model
from .measure import StepLog, Timing, copy_bandwidth, decode_bytes, time_interleaved, time_runs
from .offline import MODEL_NAME, cache_status, checkpoint_dir, fetch
from .precision import pick_device, pick_dtypes, quantization_config
from .quiet import captured_log, silence_bitsandbytes
from .serving import Server, running_servers, start_server, stop_servers
from .tokens import format_batch, show_token, token_labels

__all__ = [
    # setting up
    "MODEL_NAME", "doctor", "probe_model_choice", "format_report", "fetch", "cache_root", "cache_status",
    "checkpoint_dir", "resolve_model",
    # loading
    "load_model", "pick_device", "pick_dtypes", "quantization_config",
    # generating
    "generate", "GenerationResult", "generate_by_hand", "generation_steps", "format_steps", "Step",
    "show_token", "token_labels", "format_batch",
    # the lessons' language and logs
    "set_language", "get_language", "captured_log", "silence_bitsandbytes",
    # serving (lesson 09)
    "start_server", "stop_servers", "running_servers", "Server",
    "stream_chat", "send_requests", "read_events", "StreamedReply", "RequestRun",
    # measuring faster decoding (lesson 08)
    "time_runs", "time_interleaved", "Timing", "copy_bandwidth", "decode_bytes", "StepLog", "truncated_copy",
    "draft_agreement",
    # errors
    "CourseError", "ModelNotAvailableError", "SetupError",
]
