"""The next-token explorer against the real thing: generate's scores, generate's tokens, one pass per token."""

from __future__ import annotations

import pytest
import torch

from llmcourse import explore, set_language
from llmcourse.errors import CourseError
from llmcourse.explorer_settings import RANGES
from llmcourse.explorer_text import format_explorer

PROMPT = "A list of colors: red, blue"
SETTINGS = [  # what generate is told; the explorer gets the same
    dict(do_sample=False),
    dict(do_sample=False, repetition_penalty=1.3),
    dict(do_sample=True),  # generate's hidden top_k=50
    dict(do_sample=True, temperature=0.7, top_k=5),
    dict(do_sample=True, top_k=0, top_p=0.8),
    dict(do_sample=True, top_k=0, min_p=0.1),
    dict(do_sample=True, temperature=1.5, top_k=20, top_p=0.9, min_p=0.05, repetition_penalty=1.2),
]


def settings_id(settings: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in settings.items())


def generated(model, tokenizer, prompt: str, seed: int, steps: int, **settings):
    """generate's ids and processed scores, seeded as the explorer seeds its draws."""
    inputs = tokenizer([prompt], return_tensors="pt")
    torch.manual_seed(seed)
    out = model.generate(**inputs, max_new_tokens=steps, return_dict_in_generate=True, output_scores=True,
                         pad_token_id=tokenizer.eos_token_id, **settings)
    return out.sequences[0, inputs.input_ids.shape[1]:].tolist(), [s[0] for s in out.scores]


class PassCounter:
    """Counts the model's forward passes (calls of its top module)."""

    def __init__(self, model):
        self.count = 0
        self.handle = model.register_forward_hook(self.hook)

    def hook(self, module, args, output):
        self.count += 1


@pytest.fixture
def passes(offline_model):
    counter = PassCounter(offline_model[0])
    yield counter
    counter.handle.remove()


@pytest.mark.parametrize("settings", SETTINGS, ids=settings_id)
def test_processed_scores_are_generates_output_scores(offline_model, settings):
    """Following generate's tokens, the explorer's processed scores equal generate's at every step."""
    model, tokenizer = offline_model
    ids, scores = generated(model, tokenizer, PROMPT, seed=0, steps=6, **settings)
    explorer = explore(model, tokenizer, PROMPT, **settings)
    for step, (token_id, theirs) in enumerate(zip(ids, scores, strict=True)):
        ours = explorer.next_token().scores
        assert torch.equal(torch.isinf(ours), torch.isinf(theirs)), f"step {step}: different tokens filtered out"
        finite = torch.isfinite(theirs)
        assert torch.allclose(ours[finite], theirs[finite], atol=1e-4), f"step {step}: scores differ"
        explorer.take(token_id)


@pytest.mark.parametrize("prompt, chat", [(PROMPT, False), ("What is the capital of France?", True)])
def test_greedy_run_equals_generate_token_for_token(offline_model, prompt, chat):
    """Taking the most likely token N times gives generate's greedy ids (the chat prompt ends with EOS)."""
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, prompt, chat=chat)
    inputs = {"input_ids": torch.tensor([explorer.prompt_ids])}
    reference = model.generate(**inputs, attention_mask=torch.ones_like(inputs["input_ids"]), max_new_tokens=30,
                               do_sample=False, pad_token_id=tokenizer.eos_token_id)
    explorer.run(30)
    assert explorer.new_ids == reference[0, len(explorer.prompt_ids):].tolist()
    if chat:
        assert explorer.finished and explorer.new_ids[-1] == tokenizer.eos_token_id


@pytest.mark.parametrize("settings", [s for s in SETTINGS if s["do_sample"]], ids=settings_id)
@pytest.mark.parametrize("seed", [0, 7])
def test_seeded_run_equals_generate_do_sample(offline_model, settings, seed):
    """run(N) while sampling draws what torch.manual_seed(seed) + generate(do_sample=True) draws."""
    model, tokenizer = offline_model
    ids, _ = generated(model, tokenizer, PROMPT, seed=seed, steps=12, **settings)
    explorer = explore(model, tokenizer, PROMPT, seed=seed, **settings).run(12)
    assert explorer.new_ids == ids


def test_one_forward_pass_per_token_none_for_settings_undo_draws(offline_model, passes):
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, PROMPT)
    assert passes.count == explorer.forward_passes == 1  # the prompt, once
    explorer.run(5)
    assert passes.count == 6
    explorer.set(do_sample=True, temperature=0.5, top_k=3, top_p=0.9, min_p=0.1, repetition_penalty=1.2)
    explorer.draw(100)
    explorer.undo().undo()
    assert passes.count == explorer.forward_passes == 6
    explorer.sample()
    assert passes.count == 7


def test_undo_restores_the_cache_and_the_generator(offline_model):
    """After undo, the same actions give the same tokens and the same scores as the first time."""
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, PROMPT, do_sample=True, temperature=1.3)
    explorer.run(6)
    first, scores = explorer.new_ids, explorer.next_token().scores
    explorer.undo().undo().undo()
    assert explorer.new_ids == first[:3]
    explorer.run(3)
    assert explorer.new_ids == first
    assert torch.allclose(explorer.next_token().scores, scores, atol=1e-5)


def test_reset_starts_over_from_the_seed(offline_model):
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, PROMPT, do_sample=True, seed=3)
    first = explorer.run(5).new_ids
    assert explorer.reset().new_ids == []
    assert explorer.run(5).new_ids == first


def test_draws_converge_and_never_pick_a_filtered_token(offline_model):
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, "Once upon a time, there was a", do_sample=True, top_k=5)
    before = explorer.new_ids
    for _ in range(40):
        explorer.draw(100)
    probs = explorer.next_token().processed
    shares = explorer.draws / explorer.draws.sum()
    assert int(explorer.draws.sum()) == 4000 and explorer.new_ids == before  # draws append nothing
    assert int((explorer.draws[probs == 0]).sum()) == 0
    assert float((shares - probs).abs().max()) < 0.03


def test_removed_tokens_are_named_by_their_filter(offline_model):
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, PROMPT, do_sample=True, top_k=2)
    step = explorer.next_token()
    ids = step.rows(10)
    removed = explorer.removed_by(ids)
    kept = [i for i in ids if step.processed[i] > 0]
    assert len(kept) == 2 and set(removed) == set(ids) - set(kept) and set(removed.values()) == {"top-k"}
    assert "✕ removed by top-k" in format_explorer(explorer)


def test_eos_ends_the_text_and_undo_reopens_it(offline_model):
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, PROMPT)
    explorer.take(tokenizer.eos_token_id)
    assert explorer.finished
    with pytest.raises(CourseError, match="ended"):
        explorer.take_most_likely()
    assert "EOS" in format_explorer(explorer)
    explorer.undo()
    assert not explorer.finished and explorer.forward_passes == 1  # EOS was never fed to the model
    explorer.take_most_likely()


@pytest.mark.parametrize("call, message", [
    (lambda m, t: explore(t, m, PROMPT), "first argument must be the model"),
    (lambda m, t: explore(m, t, ""), "non-empty string"),
    (lambda m, t: explore(m, t, ["a", "b"]), "one prompt"),
    (lambda m, t: explore(m, t, PROMPT, temperature=0), "from 0.05 to 2.0"),
    (lambda m, t: explore(m, t, PROMPT, top_k=-1), "0 turns it off"),
    (lambda m, t: explore(m, t, PROMPT, do_sample="yes"), "True or False"),
    (lambda m, t: explore(m, t, PROMPT, max_new_tokens=5), "no setting 'max_new_tokens'"),
    (lambda m, t: explore(m, t, PROMPT).set(top_p=1.5), "top_p must be a number from 0.05 to 1.0"),
    (lambda m, t: explore(m, t, PROMPT).undo(), "Nothing to undo"),
    (lambda m, t: explore(m, t, PROMPT).take(" green and"), "not one"),
    (lambda m, t: explore(m, t, PROMPT).take(10**6), "token id from 0"),
    (lambda m, t: explore(m, t, PROMPT).run(0), "steps must be a whole number from 1"),
    (lambda m, t: explore(m, t, PROMPT, steps=5), "no setting 'steps'"),
    (lambda m, t: explore(m, t, PROMPT, chat="yes"), "chat must be True or False"),
    (lambda m, t: explore(m, t, "   "), "nothing but spaces"),
    (lambda m, t: explore(m, t, [{"role": "user", "content": "Hi"}]), "with chat=True"),
    (lambda m, t: explore(m, t, "a " * 9000), "context"),
    (lambda m, t: explore(m, t, PROMPT, temperature=0), "greedy decoding: do_sample=False"),
    (lambda m, t: explore(m, t, PROMPT).sample(), "Sampling is off"),
    (lambda m, t: explore(m, t, PROMPT).draw(100), "Sampling is off"),
    (lambda m, t: explore(m, t, PROMPT).take(2).run(3), "ended"),
    (lambda m, t: explore(m, t, PROMPT).removed_by(["a", "b c"]), "not one"),
    (lambda m, t: explore(m, t, PROMPT).removed_by([10**6]), "token id from 0"),
])
def test_bad_input_gets_a_course_error(offline_model, call, message):
    model, tokenizer = offline_model
    with pytest.raises(CourseError, match=message):
        call(model, tokenizer)


def test_none_turns_a_setting_off_as_in_generate_and_settings_are_read_only(offline_model):
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, PROMPT, do_sample=True, top_k=None, top_p=None)
    assert (explorer.settings["top_k"], explorer.settings["top_p"]) == (0, 1.0)
    with pytest.raises(TypeError):
        explorer.settings["temperature"] = 0.1  # set() is the way: it re-applies the processors


def test_a_token_id_as_a_tensor_and_the_model_rank_of_a_filtered_token(offline_model):
    """Lesson 03 makes ids as tensors (probs.argmax()); a token a filter removed keeps its rank in the model's eyes."""
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, "Once upon a time, there was a", do_sample=True, top_k=5)
    raw = explorer.next_token().raw
    twelfth = raw.topk(12).indices[11]
    explorer.take(twelfth)
    assert explorer.taken[-1].id == int(twelfth) and explorer.taken[-1].rank == 11 and explorer.taken[-1].prob == 0


def test_reset_counts_passes_again_and_bars_keep_the_draws(offline_model):
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, PROMPT, do_sample=True).run(3).draw(100)
    explorer.set(bars=20)
    assert explorer.draws is not None  # only the number of bars changed
    explorer.set(temperature=0.5)
    assert explorer.draws is None  # another distribution: the old draws would mislead
    assert explorer.reset().forward_passes == 1


def test_pieces_of_a_japanese_character_show_as_bytes(offline_model):
    """A byte-level tokenizer splits a Japanese character over tokens; each piece alone decodes to '�'."""
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, "日本の首都は").run(6)
    table = format_explorer(explorer)
    assert "‹e3" in table  # the first byte of a hiragana or katakana character
    assert table.splitlines()[0] == "Text: 日本の首都は⟨" + tokenizer.decode(explorer.new_ids) + "⟩"


def test_a_refused_setting_changes_nothing(offline_model):
    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, PROMPT, do_sample=True, temperature=0.7)
    with pytest.raises(CourseError):
        explorer.set(temperature=0.5, top_k=1000)
    assert explorer.settings["temperature"] == 0.7 and explorer.settings["top_k"] == 50


def test_the_widget_sliders_stop_at_the_ranges_and_buttons_act(offline_model):
    from llmcourse.explorer_view import ExplorerView

    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, PROMPT, do_sample=True)
    view = ExplorerView(explorer)  # it redraws whenever the explorer changes
    for name, slider in view.sliders.items():
        assert (slider.min, slider.max) == RANGES[name][:2]
        slider.value = RANGES[name][1] * 10  # ipywidgets clamps a value past the end
        assert slider.value == RANGES[name][1] and explorer.settings.get(name, explorer.bars) == RANGES[name][1]
    assert view.buttons["undo"].disabled
    _, button, _ = view.rows[1]
    second = button.token_id  # the second bar: not the most likely token
    button.click()
    assert explorer.new_ids == [second] and "llmc-token" in view.text.value
    view.buttons["undo"].click()
    assert explorer.new_ids == [] and view.message.value == ""
    view.buttons["undo"].click()  # nothing to undo: a message, no exception
    assert "Nothing to undo" in view.message.value


def test_the_static_output_shows_the_same_state_in_japanese(offline_model):
    from llmcourse.explorer_view import mimebundle

    model, tokenizer = offline_model
    set_language("ja")
    explorer = explore(model, tokenizer, PROMPT, do_sample=True, top_k=3).run(2)
    bundle = mimebundle(explorer)
    assert bundle["image/png"][:4] == b"\x89PNG"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == format_explorer(explorer)
    assert "テキスト：" in bundle["text/plain"] and "top-k で除外" in bundle["text/plain"]
    assert "removed" not in bundle["text/plain"] and "token" not in bundle["text/plain"].replace("top_k", "")


def test_the_widget_follows_method_calls_and_its_seed_box(offline_model):
    """A setting changed by a method shows in the controls; the seed box re-seeds the next sample."""
    from llmcourse.explorer_view import ExplorerView

    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, PROMPT, do_sample=True)
    view = ExplorerView(explorer)
    explorer.set(temperature=0.5, top_k=7, seed=4)
    assert (view.sliders["temperature"].value, view.sliders["top_k"].value, view.seed.value) == (0.5, 7, 4)
    assert view.buttons["sample"].description == "sample (seed 4)"
    view.seed.value = 9
    ids, _ = generated(model, tokenizer, PROMPT, seed=9, steps=1, do_sample=True, temperature=0.5, top_k=7)
    view.buttons["sample"].click()
    assert explorer.new_ids == ids


def test_an_unexpected_error_in_a_button_shows_in_the_widget(offline_model, monkeypatch):
    """JupyterLab sends a callback's exception to its log console, where a learner never looks."""
    from llmcourse.explorer_view import ExplorerView

    model, tokenizer = offline_model
    explorer = explore(model, tokenizer, PROMPT)
    view = ExplorerView(explorer)
    monkeypatch.setattr(explorer, "_forward", lambda ids: (_ for _ in ()).throw(RuntimeError("out of memory")))
    view.buttons["most_likely"].click()
    assert "Unexpected error (RuntimeError): out of memory" in view.message.value
    assert explorer.new_ids == []  # the token is not appended when the model could not read it


def test_defaults_are_the_models_generation_config_as_generate_reads_it(offline_model):
    """A model whose generation config samples with top_k=20: explore() without settings shows what generate does."""
    from transformers import GenerationConfig

    model, tokenizer = offline_model
    saved = model.generation_config
    model.generation_config = GenerationConfig(**{**saved.to_dict(), "do_sample": True, "top_k": 20, "temperature": 0.6})
    try:
        _, scores = generated(model, tokenizer, PROMPT, seed=0, steps=1)
        explorer = explore(model, tokenizer, PROMPT)
        assert explorer.settings["do_sample"] and explorer.settings["top_k"] == 20
        assert torch.equal(torch.isinf(explorer.next_token().scores), torch.isinf(scores[0]))
        assert "temperature=0.6, top_k=20)" in format_explorer(explorer)
    finally:
        model.generation_config = saved
