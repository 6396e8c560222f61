"""llmcourse: helpers for a Jupyter course on text generation with LLMs.

The public API, the only names lessons import (tests/test_structure.py checks it; tests/test_namespaces.py
checks that each name is one a lesson imports, or a type a learner meets):

- ``llmcourse``: everything a lesson calls directly, in one flat namespace: setting up
  (`doctor`, `fetch`, `cache_status`, `checkpoint_dir`, `cache_root`), loading
  (`load_model`, `quantization_config`, `pick_dtypes`), generating (`generate`, `GenerationResult`),
  the hand-written loop (`generate_by_hand`, `generation_steps`, `format_steps`),
  the interactive next-token explorer (`explore`, `Explorer`: lessons 03 and 05),
  tokens as text (`token_labels`, `format_batch`), the lesson language (`set_language`),
  quiet logs (`captured_log`, `silence_bitsandbytes`), beam search (`beam_search_tree`, lesson 05),
  how likely given answers are (`score_continuations`, lesson 07), measuring decoding speed
  (`time_interleaved`, `StepLog`, `ForwardClock`, `truncated_copy`..., lessons 06 and 08) and what the numbers
  mean on the learner's run (`speed_verdict`, `assisted_verdict`..., lessons 06, 08, 09), an inference server and its client
  (`start_server`, `stream_chat`, `send_requests`, lesson 09) and the course's errors.
- ``llmcourse.sampling``: picking the next token: `process_logits` (temperature, top-k, top-p, min-p; lesson 05).
- ``llmcourse.constrain``: logits processors that shape what `generate` may write (lesson 07).
- ``llmcourse.plots``: every figure of the course (lessons 01, 03, 05 to 09), and nothing else.
- ``llmcourse.checks``: the exercise checks, one per exercise.

Every other module is internal: one job each, imported by the modules above.
Imports run one way: lessons -> this public API -> internals.

>>> from llmcourse import checkpoint_dir
>>> checkpoint_dir().name
'SmolLM2-135M-Instruct'
"""

from .cache import cache_root
from .checkup import doctor, format_report, probe_model_choice
from .client import RequestRun, StreamedReply, send_requests, stream_chat
from .drafts import draft_agreement, truncated_copy
from .errors import CourseError, ModelNotAvailableError
from .explorer import Explorer, explore
from .generation import GenerationResult, generate
from .handloop import Step, format_steps, generate_by_hand, generation_steps
from .i18n import set_language
from .loading import load_model
from .measure import StepLog, Timing, copy_bandwidth, decode_bytes, time_interleaved
from .offline import cache_status, checkpoint_dir, fetch
from .passes import ForwardClock, assisted_verdict
from .precision import pick_dtypes, quantization_config
from .quiet import captured_log, silence_bitsandbytes
from .scoring import ContinuationLogprobs, score_continuations
from .search import BeamTree, beam_search_tree
from .serving import Server, running_servers, start_server, stop_servers
from .tokens import format_batch, token_labels
from .verdicts import batch_verdict, cache_verdict, finish_verdict, speed_verdict

__all__ = [
    # setting up (lesson 00)
    "doctor", "probe_model_choice", "format_report", "fetch", "cache_root", "cache_status", "checkpoint_dir",
    # loading (lesson 01)
    "load_model", "pick_dtypes", "quantization_config",
    # generating (lessons 02 to 04)
    "generate", "GenerationResult", "generate_by_hand", "generation_steps", "format_steps", "Step",
    "token_labels", "format_batch",
    # the next-token explorer (lessons 03 and 05)
    "explore", "Explorer",
    # the lessons' language and logs
    "set_language", "captured_log", "silence_bitsandbytes",
    # beam search (lesson 05) and how likely given answers are (lesson 07)
    "beam_search_tree", "BeamTree", "score_continuations", "ContinuationLogprobs",
    # measuring decoding speed (lessons 06, 08) and what the numbers mean on this run (lessons 06, 08, 09)
    "time_interleaved", "Timing", "copy_bandwidth", "decode_bytes", "StepLog", "truncated_copy", "draft_agreement",
    "ForwardClock", "assisted_verdict", "speed_verdict", "cache_verdict", "batch_verdict", "finish_verdict",
    # serving (lesson 09)
    "start_server", "stop_servers", "running_servers", "Server",
    "stream_chat", "send_requests", "StreamedReply", "RequestRun",
    # errors
    "CourseError", "ModelNotAvailableError",
]
