"""Exercise checks: after each exercise, call its check to see what passed, or a hint toward the fix.

Every lesson ends with exercises (as in ARENA). The learner writes a value or a
function, then runs the check the exercise names. A check tests properties of the
answer, not exact text, and returns a `Report` that the notebook shows as the
cell's value::

    >>> check_left_padding(my_tokenizer)                       # doctest: +SKIP
    Left padding
    ✔ padding_side is "left"
    ✔ has a pad token: '<|im_end|>'
    ✔ "1, 2, 3" is padded on the left: attention_mask [0, 0, 1, 1, 1, 1, 1, 1, 1]
    All checks passed!

A check never raises on a wrong answer (None, a wrong type, a function that
raises): each problem is a ✘ line with a hint. Messages follow `set_language`.
Where the skill is code, the exercise asks for a function, and the check runs it on the
lesson's input and on inputs the learner has not seen: a value typed in never passes by itself.

Which lesson uses which check (one module per lesson; the shared machinery is in `base`):

- 00 setting up (`lesson00_setup`): `check_model_folder`, `check_classroom_env`
- 01 loading (`lesson01_loading`): `check_4bit_model`, `check_8bit_config`
- 02 tokenizing (`lesson02_tokenizing`): `check_left_padding`, `check_chat_prompt` (`my_chat_prompt(question)`)
- 03 generating (`lesson03_generating`): `check_next_token_fn`, `check_new_text_only`
- 04 pitfalls (`lesson04_pitfalls`, `lesson04_batch`): `check_max_new_tokens`, `check_reproducible_sampling`,
  `check_padded_batch`
- 05 decoding strategies (`lesson05_decoding`): `check_top_p_filter`, `check_temperature`
- 06 streaming and performance (`lesson06_streaming`): `check_streamed_chunks` (`my_stream_chunks(prompt)`),
  `check_tokens_per_second`
- 07 controlling the output (`lesson07_controlling`): `check_token_logprobs`, `check_digits_processor`,
  `check_presence_frequency`; lesson 03's write-the-loop exercise (`loop`): `check_greedy_loop`
- 08 faster decoding (`lesson08_faster`): `check_prompt_lookup`, `check_speculative_sampling`, `check_speedup`
- 09 serving (`lesson09_serving`): `check_sse_reader`, `check_request_fields`
"""

from .base import Report
from .lesson00_setup import check_classroom_env, check_model_folder
from .lesson01_loading import check_4bit_model, check_8bit_config
from .lesson02_tokenizing import check_chat_prompt, check_left_padding
from .lesson03_generating import check_new_text_only, check_next_token_fn
from .lesson04_batch import check_padded_batch
from .lesson04_pitfalls import check_max_new_tokens, check_reproducible_sampling
from .lesson05_decoding import check_temperature, check_top_p_filter
from .lesson06_streaming import check_streamed_chunks, check_tokens_per_second
from .lesson07_controlling import check_digits_processor, check_presence_frequency, check_token_logprobs
from .lesson08_faster import check_prompt_lookup, check_speculative_sampling, check_speedup
from .lesson09_serving import check_request_fields, check_sse_reader
from .loop import check_greedy_loop

__all__ = [
    "Report",
    "check_model_folder", "check_classroom_env",
    "check_4bit_model", "check_8bit_config",
    "check_left_padding", "check_chat_prompt",
    "check_next_token_fn", "check_new_text_only",
    "check_max_new_tokens", "check_reproducible_sampling", "check_padded_batch",
    "check_top_p_filter", "check_temperature",
    "check_streamed_chunks", "check_tokens_per_second",
    "check_greedy_loop",
    "check_token_logprobs", "check_digits_processor", "check_presence_frequency",
    "check_prompt_lookup", "check_speculative_sampling", "check_speedup",
    "check_sse_reader", "check_request_fields",
]
