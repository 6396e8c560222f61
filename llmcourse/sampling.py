"""Turn next-token logits into a next token: temperature, top-k, top-p, min-p, then pick.

Lesson 03 uses these in the hand-written loop (`handloop`); lesson 05 plots what each
filter keeps, with the probabilities computed here (`sampling_probs`, `temperature_probs`,
`sample_frequencies`). (Logits processors that constrain what ``generate`` may write, lesson 07,
are `llmcourse.constrain`'s.)
Each function does one thing and matches transformers' own logits warpers token for token
(tests/test_sampling.py checks it), so that the hand-written loop and ``model.generate`` pick the
same tokens under the same seed.

Logits are always a 2-D float tensor of shape ``(batch, vocab)``. A filter never
renormalizes: it sets the logits of removed tokens to ``-inf``, so that the softmax
gives them probability 0.
"""

from __future__ import annotations

import torch

from .errors import CourseError, require_whole_number
from .i18n import say

__all__ = ["process_logits"]  # what a lesson imports; the steps below are the hand-written loop's (`handloop`)

SAMPLING_SETTINGS = ("temperature", "top_k", "top_p", "min_p")  # what `process_logits` takes, in its order


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by ``temperature``: below 1 sharpens the distribution, above 1 flattens it.

    >>> apply_temperature(torch.tensor([[2.0, 1.0]]), 0.5)
    tensor([[4., 2.]])
    """
    require_logits(logits)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise CourseError(say(en=f"temperature must be a number > 0, got {temperature!r}. "
                                 "For always picking the most likely token use greedy decoding (do_sample=False).",
                              ja=f"temperature={temperature!r} は使えません。温度は 0 より大きい数にしてください。"
                                 "常に最も確率の高いトークンを選ぶなら、貪欲デコーディング（do_sample=False）を使います。"))
    return logits / temperature  # (batch, vocab)


def top_k_filter(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Keep the ``top_k`` largest logits of each row (and any tied with the k-th); the rest become -inf.

    >>> top_k_filter(torch.tensor([[1.0, 3.0, 2.0, 0.0]]), 2)
    tensor([[-inf, 3., 2., -inf]])
    """
    require_logits(logits)
    require_whole_number("top_k", top_k, hint=say(en=" To keep every token, don't filter (top_k=None).",
                                                  ja="すべてのトークンを残すなら、絞り込まないでください（top_k=None）。"))
    k = min(top_k, logits.shape[-1])  # asking for more tokens than the vocabulary keeps them all
    kth_largest = torch.topk(logits, k).values[:, -1:]  # (batch, 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))  # (batch, vocab)


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the most likely tokens whose probabilities add up to at least ``top_p`` (nucleus sampling).

    >>> top_p_filter(torch.tensor([[0.0, 2.0, 1.0]]), 0.8)  # probabilities 0.09, 0.67, 0.24
    tensor([[-inf, 2., 1.]])
    """
    require_logits(logits)
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise CourseError(say(en=f"top_p must be in (0, 1], got {top_p!r}. Typical values are 0.9 to 0.95.",
                              ja=f"top_p は (0, 1] の範囲にしてください。{top_p!r} が渡されました。"
                                 "よく使う値は 0.9〜0.95 です。"))
    # sort from least to most likely and add up the probabilities
    sorted_logits, sorted_ids = torch.sort(logits, descending=False)  # (batch, vocab) each
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)  # (batch, vocab), ends at 1
    # drop the unlikely tail whose total stays within 1 - top_p, but never the most likely token
    remove_sorted = cumulative <= (1 - top_p)
    remove_sorted[:, -1] = False
    # put the decisions back in vocabulary order
    remove = remove_sorted.scatter(1, sorted_ids, remove_sorted)  # (batch, vocab)
    return logits.masked_fill(remove, float("-inf"))


def min_p_filter(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Keep the tokens at least ``min_p`` times as likely as the most likely token.

    >>> min_p_filter(torch.tensor([[0.0, 2.0, 1.0]]), 0.2)  # probabilities 0.09, 0.67, 0.24
    tensor([[-inf, 2., 1.]])
    """
    require_logits(logits)
    if isinstance(min_p, bool) or not isinstance(min_p, (int, float)) or not 0 <= min_p <= 1:
        raise CourseError(say(en=f"min_p must be in [0, 1], got {min_p!r}. Typical values are 0.01 to 0.2.",
                              ja=f"min_p は [0, 1] の範囲にしてください。{min_p!r} が渡されました。"
                                 "よく使う値は 0.01〜0.2 です。"))
    probs = torch.softmax(logits, dim=-1)  # (batch, vocab)
    threshold = min_p * probs.amax(dim=-1, keepdim=True)  # (batch, 1)
    remove = probs < threshold
    # always keep the most likely token
    remove.scatter_(-1, probs.argmax(dim=-1, keepdim=True), False)
    return logits.masked_fill(remove, float("-inf"))  # (batch, vocab)


def process_logits(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None, min_p: float | None = None) -> torch.Tensor:
    """Apply temperature, then top-k, then top-p, then min-p: the order ``model.generate`` uses.

    As in ``generate``, a setting that changes nothing is skipped: temperature 1,
    top_k None or 0, top_p None or 1, min_p None.

    >>> process_logits(torch.tensor([[1.0, 3.0, 2.0, 0.0]]), temperature=2.0, top_k=2)
    tensor([[  -inf, 1.5000, 1.0000,   -inf]])
    """
    if temperature is not None and temperature != 1.0:
        logits = apply_temperature(logits, temperature)
    if top_k is not None and top_k != 0:
        logits = top_k_filter(logits, top_k)
    if top_p is not None and top_p != 1:
        logits = top_p_filter(logits, top_p)
    if min_p is not None:
        logits = min_p_filter(logits, min_p)
    return logits  # (batch, vocab)


def sampling_probs(logits: torch.Tensor, **settings: float | int | None) -> torch.Tensor:
    """The distribution ``generate`` samples from under these settings: softmax of `process_logits`.

    Filtered tokens get probability 0; the kept ones are renormalized to add up to 1.

    >>> sampling_probs(torch.tensor([[0.0, 2.0, 1.0]]), top_k=1)
    tensor([[0., 1., 0.]])
    """
    unknown = sorted(set(settings) - set(SAMPLING_SETTINGS))
    if unknown:
        raise CourseError(say(en=f"unknown sampling setting(s) {unknown}: use {', '.join(SAMPLING_SETTINGS)}.",
                              ja=f"{unknown} はサンプリングの設定にありません。使えるのは "
                                 f"{', '.join(SAMPLING_SETTINGS)} です。"))
    require_logits(logits)
    return torch.softmax(process_logits(logits.float(), **settings), dim=-1)  # (batch, vocab)


def temperature_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / T); T = 0 gives greedy's one-hot without dividing by zero.

    >>> temperature_probs(torch.tensor([[1.0, 3.0, 2.0]]), 0)
    tensor([[0., 1., 0.]])
    """
    require_logits(logits)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0:
        raise CourseError(say(en=f"temperature must be a number >= 0, got {temperature!r}.",
                              ja=f"temperature={temperature!r} は使えません。温度は 0 以上の数にしてください。"))
    if temperature == 0:  # the limit T -> 0: all the probability on the largest logit
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).float()  # (batch, vocab)
    return torch.softmax(logits.float() / temperature, dim=-1)  # (batch, vocab)


def sample_frequencies(probs: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` tokens per row from probs (with replacement): how often each came up, as fractions.

    >>> sample_frequencies(torch.tensor([[0.0, 1.0], [0.5, 0.5]]), n=1000).sum(-1)
    tensor([1., 1.])
    >>> sample_frequencies(torch.tensor([[0.0, 1.0]]), n=10)
    tensor([[0., 1.]])
    """
    require_whole_number("n", n)
    require_logits(probs)  # the same (batch, vocab) float shape
    generator = torch.Generator().manual_seed(seed)
    draws = torch.multinomial(probs, n, replacement=True, generator=generator)  # (batch, n)
    counts = torch.zeros_like(probs).scatter_add_(1, draws, torch.ones_like(draws, dtype=probs.dtype))
    return counts / n  # (batch, vocab), each row sums to 1


def greedy_pick(logits: torch.Tensor) -> torch.Tensor:
    """The id of the largest logit in each row (greedy decoding).

    >>> greedy_pick(torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]]))
    tensor([1, 0])
    """
    require_logits(logits)
    return torch.argmax(logits, dim=-1)  # (batch,)


def sample_pick(logits: torch.Tensor) -> torch.Tensor:
    """Draw one id per row from softmax(logits), exactly as ``model.generate`` samples.

    >>> _ = torch.manual_seed(0)
    >>> sample_pick(torch.tensor([[0.0, float("-inf"), 0.0]])).item() in (0, 2)
    True
    """
    require_logits(logits)
    probs = torch.softmax(logits, dim=-1)  # (batch, vocab), each row sums to 1
    return torch.multinomial(probs, num_samples=1).squeeze(1)  # (batch,)


def require_logits(logits: torch.Tensor) -> None:
    """Refuse anything but a 2-D floating-point tensor ``(batch, vocab)``, saying how to fix it.

    >>> require_logits(torch.zeros(3))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llmcourse.errors.CourseError: logits must have shape (batch, vocab), got (3,). ... with logits[None].
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        tensor = isinstance(logits, torch.Tensor)
        got = type(logits).__name__ + (f" ({logits.dtype})" if tensor else "")
        raise CourseError(say(en=f"logits must be a float tensor, got {type(logits).__name__}"
                                 f"{'' if not tensor else ' of ' + str(logits.dtype)}.",
                              ja=f"logits は浮動小数点数のテンソルにしてください。渡されたのは {got} です。"))
    if logits.ndim != 2:
        hint = " Add a batch dimension with logits[None]." if logits.ndim == 1 else (
            " From a model's output take the last position: outputs.logits[:, -1, :]." if logits.ndim == 3 else "")
        hint_ja = "logits[None] でバッチの次元を加えてください。" if logits.ndim == 1 else (
            "モデルの出力からは最後の位置を取り出します：outputs.logits[:, -1, :]。" if logits.ndim == 3 else "")
        raise CourseError(say(en=f"logits must have shape (batch, vocab), got {tuple(logits.shape)}.{hint}",
                              ja=f"logits の形状は (batch, vocab) にしてください。渡されたのは {tuple(logits.shape)} "
                                 f"です。{hint_ja}"))
