"""`explore`: drive the model one token at a time, by hand, and see each next-token distribution.

An `Explorer` holds one prompt, the tokens taken so far and the model's KV cache: each
new token costs one forward pass, and moving a setting costs none, because the
processors are re-applied to the logits already computed. The processors are the ones
``model.generate`` builds for the same settings (from a `GenerationConfig`, by
generate's own code), so what the explorer shows is what generate picks from; the
tests check it against ``generate(output_scores=True)``, token for token.

The actions are methods (a lesson cell can call them) and buttons of the widget
(`explorer_view`): `take_most_likely`, `sample` (seeded), `take` (a token of your choice),
`run`, `undo`, `reset`, `draw` (many draws at once, to compare with the distribution).

>>> explorer = explore(model, tokenizer, "A list of colors: red, blue")  # doctest: +SKIP
>>> explorer.run(3).text                                                # doctest: +SKIP
'A list of colors: red, blue, and green'
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch

from .errors import CourseError, describe
from .explorer_settings import ARGUMENTS, generation_settings, model_defaults, validated
from .generation import encode_left_padded
from .i18n import say
from .limits import context_size, require_model, require_room
from .tokens import show_token

TOP_BARS = 10  # how many of the most likely tokens the bars show, unless told


@dataclass(frozen=True)
class Taken:
    """One token the explorer appended: its id, its text and how likely it was when it was taken."""

    id: int
    text: str
    raw_prob: float  # under the model's own distribution
    prob: float  # under the processed distribution it was picked from (0: a filter had removed it)
    rank: int  # its rank under the model's distribution, 0 = most likely (as lesson 03's chosen_rank)
    how: str  # "most likely", "sampled" or "chosen"


@dataclass(frozen=True)
class NextToken:
    """The next-token distributions at the current position, over the whole vocabulary."""

    raw: torch.Tensor  # (vocab,) softmax of the model's logits
    processed: torch.Tensor  # (vocab,) softmax of the processed scores: what generate would pick from
    scores: torch.Tensor  # (vocab,) the processed scores themselves (-inf where a filter removed a token)

    @property
    def entropy(self) -> tuple[float, float]:
        """Entropy (nats) of the raw and of the processed distribution."""
        return (float(torch.special.entr(self.raw).sum()), float(torch.special.entr(self.processed).sum()))

    def rows(self, bars: int) -> list[int]:
        """Token ids for the bars: the ``bars`` most likely under either distribution, most likely (raw) first."""
        ids = set(self.raw.topk(bars).indices.tolist())
        kept = int((self.processed > 0).sum())
        ids |= set(self.processed.topk(min(bars, kept)).indices.tolist())
        return sorted(ids, key=lambda i: -float(self.raw[i]))


class Explorer:
    """One prompt, the tokens taken so far, the KV cache and the settings; see the module's docstring."""

    def __init__(self, model: Any, tokenizer: Any, prompt_ids: list[int], *, seed: int = 0, bars: int = TOP_BARS,
                 **settings: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.prompt_ids = list(prompt_ids)
        self.eos_ids = _eos_ids(model, tokenizer)
        self.limit = context_size(model)
        defaults = model_defaults(model.generation_config)  # what generate would use unless told otherwise
        chosen = validated({**defaults, **settings, "seed": seed, "bars": bars}, len(tokenizer), ARGUMENTS)
        self.seed, self.bars = chosen.pop("seed"), chosen.pop("bars")
        self._settings = chosen
        self._processors = self._build_processors()
        self._views: list[Any] = []
        self.reset()

    # --- state -------------------------------------------------------------------------------------------
    @property
    def settings(self) -> MappingProxyType:
        """The generate settings in force (read-only: change them with `set`)."""
        return MappingProxyType(self._settings)

    @property
    def new_ids(self) -> list[int]:
        """The ids taken so far (not the prompt)."""
        return [t.id for t in self.taken]

    @property
    def text(self) -> str:
        """Prompt and new tokens as one text (special tokens kept, so an EOS shows)."""
        return self.tokenizer.decode(self.prompt_ids + self.new_ids)

    @property
    def finished(self) -> bool:
        """True after an EOS token, or when the model's context is full."""
        ended = bool(self.taken) and self.taken[-1].id in self.eos_ids
        full = self.limit is not None and len(self.prompt_ids) + len(self.taken) >= self.limit
        return ended or full

    def next_token(self) -> NextToken:
        """The distributions the next token is picked from, under the current settings."""
        self._require_open()
        logits = self._logits[-1]
        ids = torch.tensor([self.prompt_ids + self.new_ids], device=logits.device)
        scores = self._processors(ids, logits[None].clone())[0]
        return NextToken(raw=torch.softmax(logits, -1), processed=torch.softmax(scores, -1), scores=scores)

    def removed_by(self, ids: list[int]) -> dict[int, str]:
        """Which filter removed each of ``ids`` (probability 0 after it), e.g. {6354: 'top-k'}; kept ids are absent."""
        from .explorer_text import filter_name

        ids = [self._token_id(i) for i in (ids if isinstance(ids, (list, tuple)) else [ids])]
        logits = self._logits[-1]
        sequence = torch.tensor([self.prompt_ids + self.new_ids], device=logits.device)
        scores, removed = logits[None].clone(), {}
        for processor in self._processors:
            scores = processor(sequence, scores)
            for token_id in ids:
                if token_id not in removed and scores[0, token_id] == float("-inf"):
                    removed[token_id] = filter_name(processor)
        return removed

    # --- settings ----------------------------------------------------------------------------------------
    def set(self, **settings: Any) -> Explorer:
        """Change settings (do_sample, temperature, top_k, top_p, min_p, repetition_penalty, seed, bars).

        No forward pass: the processors are rebuilt and re-applied to the logits already computed.
        """
        merged = validated({**self._settings, "seed": self.seed, "bars": self.bars, **settings},
                           len(self.tokenizer), ARGUMENTS)
        seed, self.bars = merged.pop("seed"), merged.pop("bars")
        if merged != self._settings or seed != self.seed:  # the draws were of another distribution or seed
            self.draws = None
        if seed != self.seed:  # the next sample draws from the new seed's first number
            self.seed, self._rng = seed, torch.Generator(device=self.model.device).manual_seed(seed)
        self._settings = merged
        self._processors = self._build_processors()
        return self._changed()

    def _build_processors(self) -> Any:
        """The logits processors generate builds for these settings (its own code, not a copy of it)."""
        config, model_kwargs = self.model._prepare_generation_config(None, **generation_settings(self._settings))
        device = self.model.device
        self.model._prepare_special_tokens(config, True, device=device)
        mask = torch.ones(1, len(self.prompt_ids), dtype=torch.long, device=device)
        return self.model._get_logits_processor(generation_config=config, input_ids_seq_length=len(self.prompt_ids),
                                                device=device, model_kwargs={**model_kwargs, "attention_mask": mask})

    # --- actions -----------------------------------------------------------------------------------------
    def take(self, token: int | str) -> Explorer:
        """Append one token, given by id or by its text (which must be one token); one forward pass."""
        return self._take(self._token_id(token), "chosen")

    def _take(self, token_id: int, how: str) -> Explorer:
        """Append ``token_id``, taken ``how`` ("most likely", "sampled" or "chosen")."""
        step = self.next_token()
        rank = int((step.raw > step.raw[token_id]).sum())
        taken = Taken(token_id, self.tokenizer.decode([token_id]), float(step.raw[token_id]),
                      float(step.processed[token_id]), rank, how)
        full = self.limit is not None and len(self.prompt_ids) + len(self.taken) + 1 >= self.limit
        if token_id not in self.eos_ids and not full:  # the model reads the token only if the text goes on
            self._forward([token_id])
        self.taken.append(taken)
        self._rng_states.append(self._rng.get_state())
        self.draws = None
        return self._changed()

    def take_most_likely(self) -> Explorer:
        """Append the most likely token under the processed distribution (what greedy generate picks)."""
        return self._take(int(self.next_token().scores.argmax()), "most likely")

    def sample(self) -> Explorer:
        """Append a token drawn from the processed distribution, with the explorer's seeded generator.

        The draws are those of ``torch.manual_seed(seed)`` followed by ``generate(do_sample=True)``.
        """
        probs = self._sampling_probs()
        state = self._rng.get_state()
        token_id = int(torch.multinomial(probs[None], 1, generator=self._rng)[0, 0])
        self._take(token_id, "sampled")
        self._rng_states[-1] = state  # undo restores the generator from before this draw
        return self

    def run(self, steps: int) -> Explorer:
        """Take ``steps`` tokens as generate would (sampled if do_sample, else the most likely); stop at EOS."""
        validated({"steps": steps}, vocabulary=len(self.tokenizer))
        self._require_open()
        for _ in range(steps):
            if self.finished:
                break
            self.sample() if self.settings["do_sample"] else self.take_most_likely()
        return self

    def undo(self) -> Explorer:
        """Remove the last token taken; no forward pass (the cache is cropped)."""
        if not self.taken:
            raise CourseError(say(en="Nothing to undo: the text is the prompt alone (reset clears the tokens taken).",
                                  ja="元に戻すものがありません。テキストはプロンプトだけです（リセットすると選んだトークンは"
                                     "消えます）。"))
        self.taken.pop()
        self._rng.set_state(self._rng_states.pop())
        if len(self._logits) > len(self.taken) + 1:  # the token had been fed to the model: forget it
            self._logits.pop()
            self._cache.crop(-1)
        self.draws = None
        return self._changed()

    def reset(self) -> Explorer:
        """Back to the prompt alone: one forward pass over it; the generator starts again from the seed."""
        from transformers import DynamicCache

        self.taken: list[Taken] = []
        self._rng = torch.Generator(device=self.model.device).manual_seed(self.seed)
        self._rng_states: list[torch.Tensor] = []
        self._cache = DynamicCache(config=self.model.config)
        self._logits: list[torch.Tensor] = []
        self.draws: torch.Tensor | None = None
        self.forward_passes = 0
        self._forward(self.prompt_ids)
        return self._changed()

    def draw(self, n: int = 100) -> Explorer:
        """Draw ``n`` more tokens from the processed distribution at once (not appended); counts in ``draws``.

        The draws use their own generator, seeded with the seed, so they never change what `sample` picks.
        """
        validated({"draws": n}, vocabulary=len(self.tokenizer))
        probs = self._sampling_probs()
        if self.draws is None:
            self.draws = torch.zeros_like(probs)
            self._draw_rng = torch.Generator(device=probs.device).manual_seed(self.seed)
        picks = torch.multinomial(probs, n, replacement=True, generator=self._draw_rng)
        self.draws += torch.bincount(picks, minlength=len(probs)).to(probs.dtype)
        return self._changed()

    # --- internals ---------------------------------------------------------------------------------------
    @torch.inference_mode()
    def _forward(self, ids: list[int]) -> None:
        """Feed ``ids`` after what the cache holds; keep the logits of the last position (float32, as generate)."""
        past = self._cache.get_seq_length()
        input_ids = torch.tensor([ids], device=self.model.device)
        mask = torch.ones(1, past + len(ids), dtype=torch.long, device=self.model.device)
        out = self.model(input_ids=input_ids, attention_mask=mask, cache=self._cache, use_cache=True,
                         logits_to_keep=1)
        self.forward_passes += 1
        self._logits.append(out.logits[0, -1].to(dtype=torch.float32, copy=True))

    def _token_id(self, token: int | str) -> int:
        """An id from an id (a Python or a one-element tensor's int) or a one-token text; a course error otherwise."""
        if hasattr(token, "item") and getattr(token, "numel", lambda: 1)() == 1:
            token = token.item()  # probs.argmax() gives a tensor
        if isinstance(token, str):
            ids = self.tokenizer.encode(token, add_special_tokens=False)
            if len(ids) != 1:
                raise CourseError(say(
                    en=f"{token!r} is {len(ids)} tokens, not one: pass its id, or the text of a single token "
                       f"(e.g. {show_token(self.tokenizer.decode(ids[:1])) if ids else '␣green'!r}).",
                    ja=f"{token!r} は 1 トークンではなく {len(ids)} トークンです。ID か、1 トークンのテキストを渡して"
                       "ください。"))
            return ids[0]
        if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token < len(self.tokenizer):
            raise CourseError(say(en=f"token must be a token id from 0 to {len(self.tokenizer) - 1} or one token's "
                                     f"text, got {token!r}.",
                                  ja=f"token には 0 から {len(self.tokenizer) - 1} までのトークン ID か、1 トークンの"
                                     f"テキストを渡してください。{token!r} が渡されました。"))
        return token

    def _sampling_probs(self) -> torch.Tensor:
        """The processed distribution, which only sampling draws from; greedy decoding never draws."""
        if not self._settings["do_sample"]:
            raise CourseError(say(en="Sampling is off (do_sample=False): greedy decoding never draws. Tick do_sample, "
                                     "or call set(do_sample=True), to sample or draw.",
                                  ja="サンプリングがオフです（do_sample=False）。貪欲デコーディングは抽選しません。サンプリングや"
                                     "抽選をするには、do_sample にチェックを入れるか、set(do_sample=True) を呼んでください。"))
        return self.next_token().processed

    def _require_open(self) -> None:
        """Refuse a new token after EOS or at the end of the context."""
        if self.finished:
            raise CourseError(say(en="The text has ended (EOS, or the model's context is full): undo() or reset().",
                                  ja="テキストは終わっています（EOS か、モデルのコンテキストがいっぱいです）。"
                                     "undo() か reset() を使ってください。"))

    def _changed(self) -> Explorer:
        """Redraw every widget showing this explorer."""
        for view in self._views:
            view.refresh()
        return self

    def __str__(self) -> str:
        """The state as a table (what ``print(explorer)`` shows)."""
        from .explorer_text import format_explorer

        return format_explorer(self)

    def __repr__(self) -> str:
        return f"<Explorer: {len(self.taken)} new tokens, {dict(self._settings)}; print() it for the table>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The live widget, with a picture and a table of the same state where widgets do not render."""
        from .explorer_view import mimebundle

        return mimebundle(self)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """The ids that end the text, as generate reads them from the model's generation config."""
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    return set() if eos is None else {int(eos)} if isinstance(eos, int) else {int(i) for i in eos}


def explore(model: Any, tokenizer: Any, prompt: str, *, chat: bool = False, seed: int = 0, bars: int = TOP_BARS,
            **settings: Any) -> Explorer:
    """An interactive next-token explorer for ``prompt``: shown as a widget, driven by buttons or by its methods.

    Settings as in ``generate``, with generate's defaults: what the model's generation config sets, else
    transformers' own: ``do_sample`` (False), ``temperature`` (1.0), ``top_k`` (50, applied when sampling; 0 turns
    it off), ``top_p`` (1.0), ``min_p`` (0: off), ``repetition_penalty`` (1.0).
    ``chat=True`` wraps the prompt in the chat template as a user message.

    >>> explorer = explore(model, tokenizer, "A list of colors: red, blue", do_sample=True, temperature=0.7)  # doctest: +SKIP
    >>> explorer.sample().new_ids                                                                             # doctest: +SKIP
    [28]
    """
    require_model(model, tokenizer, where="explore")
    _require_prompt(prompt)
    if not isinstance(chat, bool):
        raise CourseError(say(en=f"chat must be True or False, got {chat!r}.",
                              ja=f"chat は True か False にしてください。{chat!r} が渡されました。"))
    ids = encode_left_padded(tokenizer, [prompt], chat=chat)["input_ids"][0].tolist()
    require_room(model, len(ids), 1)
    return Explorer(model, tokenizer, ids, seed=seed, bars=bars, **settings)


def _require_prompt(prompt: Any) -> None:
    """One prompt, a string with more than spaces in it; a chat message list is pointed to chat=True."""
    if isinstance(prompt, str) and prompt.strip():
        return
    if isinstance(prompt, list) and prompt and all(isinstance(m, dict) and "role" in m for m in prompt):
        got = say(en="a list of chat messages (pass the question's text with chat=True: explore applies the chat "
                     "template)",
                  ja="チャットのメッセージのリスト（質問のテキストを chat=True で渡せば、explore がチャットテンプレートを"
                     "適用します）")
    elif isinstance(prompt, str):
        got = say(en="a string with nothing but spaces" if prompt else "an empty string",
                  ja="空白だけの文字列" if prompt else "空の文字列")
    else:
        got = describe(prompt)
    raise CourseError(say(en=f"explore takes one prompt, a non-empty string, got {got}: e.g. "
                             "explore(model, tokenizer, 'A list of colors: red, blue').",
                          ja=f"explore に渡すプロンプトは空でない文字列 1 つです。{got}が渡されました。"
                             "たとえば explore(model, tokenizer, 'A list of colors: red, blue') とします。"))
