"""llmcourse: helpers for a Jupyter course on text generation with LLMs.

Modules, one job each: `offline` (the offline default model), `loading`
(`load_model`), `generation` (`generate` and its per-step record), `sampling` and
`handloop` (the hand-written loop), `plots`, `checks` (exercise checks), `doctor`.

>>> import llmcourse
>>> llmcourse.MODEL_NAME
'SmolLM2-135M-Instruct'
"""

from .errors import CourseError, ModelNotAvailableError, SetupError
from .generation import GenerationResult, generate
from .loading import load_model, pick_device
from .offline import MODEL_NAME, fetch

__all__ = [
    "CourseError", "ModelNotAvailableError", "SetupError",
    "GenerationResult", "generate", "load_model", "pick_device", "MODEL_NAME", "fetch",
]
