#!/usr/bin/env python3
"""Issue 12, part 1: lesson 03 shows a minimal greedy loop with the KV cache, and the learner writes it.

Run from the repository root (or pass it): ``python /work/edits/lesson03_loop.py [/work/main]``.
It edits, in place:

- ``notebooks/03_generating.ipynb`` (English): the printed source of ``generate_by_hand`` (its markdown
  and ``print(inspect.getsource(...))`` cells) becomes a 13-line greedy loop with the cache inline,
  one comment per step (the nanoGPT way), run on the lesson's prompt, then compared with
  ``generate_by_hand``; ``import inspect`` goes when nothing else uses it; the objectives name the
  exercise; and Exercise 3 (markdown, solution cell with BEGIN/END SOLUTION, check cell) follows
  Exercise 2, with ``check_greedy_loop`` added to the exercises' import cell.
- ``notebooks/ja/translations/03_generating.json``: the Japanese of every new markdown cell and comment.

Cells are found by their content, so the script still works after other edits to the lesson; it stops
with a message if one is missing, and running it twice changes nothing. Afterwards run
``python -m scripts.run_notebooks notebooks/03_generating.ipynb``, ``python -m scripts.translate``
(then execute ``notebooks/ja/03_generating.ipynb`` too) and ``python -m scripts.exercises``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OLD_LOOP_MARKDOWN = "### The whole loop in one function"  # start of the cell that introduced the printed source
OLD_LOOP_CODE = "print(inspect.getsource(generate_by_hand))"
HAND_RUN = "hand_ids = generate_by_hand("  # the cell that runs generate_by_hand on the lesson's prompt
CHECK_2 = "check_new_text_only(my_decode, model, tokenizer)"
CHECK_IMPORT = "from llmcourse.checks import check_new_text_only, check_next_token_fn"

LOOP_MARKDOWN = """### The whole loop, with the cache

Repeating that step is all there is to greedy generation. One more idea makes it fast: the **cache** (the
*KV cache*) keeps the keys and values the model computed for the tokens it has already read, so after the first
pass only the newest token goes through the model. Here is the whole loop, one comment per step, the way
[nanoGPT](https://github.com/karpathy/nanoGPT/blob/master/model.py) writes its `generate`:"""

LOOP_CODE = """@torch.no_grad()
def greedy_generate(model, input_ids, max_new_tokens):
    cache, new_ids = None, input_ids  # the first pass reads the whole prompt
    for _ in range(max_new_tokens):
        # run the model on the tokens it has not seen yet; the cache holds the others
        out = model(input_ids=new_ids, cache=cache, use_cache=True)
        # pluck the logits at the final position and take the most likely token
        next_id = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)  # (1, 1)
        # append it to the sequence
        input_ids = torch.cat([input_ids, next_id], dim=-1)
        # next round: only the new token goes in, the cache remembers the rest
        cache, new_ids = out.cache, next_id
    return input_ids

loop_ids = greedy_generate(model, tokenizer(["A list of colors: red, blue"], return_tensors="pt").input_ids, 10)
tokenizer.decode(loop_ids[0])"""

HAND_MARKDOWN = """`generate_by_hand` is the course's fuller version of this loop, in the package: it also takes a batch with its
attention mask, samples (section 4), and stops each row at EOS (section 3). For greedy decoding it picks the same
tokens:"""

COMPARE_CODE = "torch.equal(hand_ids, loop_ids)"

EXERCISE_MARKDOWN = """**Exercise 3.** Write the loop yourself: `my_greedy_loop(model, input_ids, attention_mask, max_new_tokens,
eos_token_id)`, greedy decoding with the cache like `greedy_generate` above, plus two things `model.generate` does:
pass `attention_mask` on every call, one column longer after each new token
(`torch.cat([attention_mask, torch.ones_like(next_id)], dim=-1)`), and stop right after appending the token
`eos_token_id`. It takes one prompt (`input_ids` of shape (1, length)) and returns the prompt followed by the new
tokens, as `model.generate` does. The check compares your ids with `model.generate`'s, token for token, on three
prompts: a plain one, a chat question that the model ends with EOS, and a prompt padded on the left, where only
the attention mask tells the model to skip the padding (lesson 04)."""

EXERCISE_CODE = """# Exercise 3: the greedy loop, with the cache, the attention mask and EOS.
my_greedy_loop = None  # replace None with your answer
### BEGIN SOLUTION
@torch.no_grad()
def my_greedy_loop(model, input_ids, attention_mask, max_new_tokens, eos_token_id):
    cache, new_ids = None, input_ids  # the first pass reads the whole prompt
    for _ in range(max_new_tokens):
        # run the model on the new tokens, with the mask of every token so far
        out = model(input_ids=new_ids, attention_mask=attention_mask, cache=cache, use_cache=True)
        # the most likely token at the final position
        next_id = out.logits[:, -1, :].argmax(dim=-1, keepdim=True)  # (1, 1)
        # append it, and extend the mask by one
        input_ids = torch.cat([input_ids, next_id], dim=-1)
        attention_mask = torch.cat([attention_mask, torch.ones_like(next_id)], dim=-1)
        # stop once the model has written its end-of-sequence token
        if next_id.item() == eos_token_id:
            break
        # next round: only the new token goes in, the cache remembers the rest
        cache, new_ids = out.cache, next_id
    return input_ids
### END SOLUTION"""

CHECK_CODE = "check_greedy_loop(my_greedy_loop, model, tokenizer)"

OBJECTIVE_OLD = ("- autoregressive generation: pick a token, append it, run the model again; step by step, then as one readable\n"
                 "  loop (`generate_by_hand`) that returns exactly what `model.generate` returns;")
OBJECTIVE_NEW = ("- autoregressive generation: pick a token, append it, run the model again; step by step, then as a loop of a\n"
                 "  dozen lines with the KV cache, which you then write yourself and check against `model.generate` token\n"
                 "  for token;")
OBJECTIVE_JA_OLD = ("まず 1 ステップずつ、次に `model.generate` とまったく同じ結果を返す読みやすいループ"
                    "（`generate_by_hand`）として")
OBJECTIVE_JA_NEW = ("まず 1 ステップずつ、次に KV キャッシュを使う十数行のループとして。そのループを自分でも書き、"
                    "`model.generate` とトークン単位で一致することを確かめる")

MARKDOWN_JA = {
    LOOP_MARKDOWN: """### キャッシュを使うループ全体

このステップを繰り返すことが、貪欲デコーディングによる生成のすべてです。もう 1 つの工夫で速くなります。**キャッシュ**
（*KV キャッシュ*）は、モデルがすでに読んだトークンについて計算したキーとバリューを保持するので、最初のフォワードパスの後は
最新のトークンだけをモデルに通せば済みます。ループ全体を、[nanoGPT](https://github.com/karpathy/nanoGPT/blob/master/model.py)
の `generate` と同じように、ステップごとに 1 つのコメントを付けて示します:""",
    HAND_MARKDOWN: """`generate_by_hand` は、このループをパッケージの中でより完全にしたものです。アテンションマスク付きのバッチを受け取り、
サンプリングもでき（4 節）、行ごとに EOS で止まります（3 節）。貪欲デコーディングでは同じトークンを選びます:""",
    EXERCISE_MARKDOWN: """**演習 3.** ループを自分で書いてください: `my_greedy_loop(model, input_ids, attention_mask, max_new_tokens,
eos_token_id)`。上の `greedy_generate` と同じくキャッシュを使う貪欲デコーディングに、`model.generate` が行う 2 つのことを
加えます。毎回の呼び出しで `attention_mask` を渡し、新しいトークンごとに 1 列ずつ伸ばすこと
（`torch.cat([attention_mask, torch.ones_like(next_id)], dim=-1)`）、そしてトークン `eos_token_id` を付け足した直後に
止まることです。プロンプトは 1 つ（`input_ids` の形状は (1, length)）で、`model.generate` と同じくプロンプトの後に新しい
トークンが続く ID を返します。チェックは 3 つのプロンプトで、あなたの ID を `model.generate` の ID とトークン単位で比べます。
普通のプロンプト、モデルが EOS で終える chat 形式の質問、そして左パディングしたプロンプトです。左パディングでは、
パディングを無視させるのはアテンションマスクだけです（レッスン 04）。""",
}

CODE_JA = {
    "# the first pass reads the whole prompt": "# 最初のフォワードパスはプロンプト全体を読む",
    "# run the model on the tokens it has not seen yet; the cache holds the others":
        "# まだ読んでいないトークンでモデルを実行する。ほかのトークンはキャッシュが保持している",
    "# pluck the logits at the final position and take the most likely token":
        "# 最後の位置のロジットを取り出し、最も確率の高いトークンを選ぶ",
    "# append it to the sequence": "# それを系列に付け足す",
    "# next round: only the new token goes in, the cache remembers the rest":
        "# 次の回: 入力は新しいトークンだけ。残りはキャッシュが覚えている",
    "# Exercise 3: the greedy loop, with the cache, the attention mask and EOS.":
        "# 演習 3: キャッシュ、アテンションマスク、EOS を使う貪欲デコーディングのループ。",
    "# run the model on the new tokens, with the mask of every token so far":
        "# 新しいトークンでモデルを実行する。マスクはそれまでのすべてのトークンの分",
    "# the most likely token at the final position": "# 最後の位置で最も確率の高いトークン",
    "# append it, and extend the mask by one": "# それを付け足し、マスクを 1 つ伸ばす",
    "# stop once the model has written its end-of-sequence token": "# モデルが終了シーケンストークンを書いたら止まる",
}


def markdown(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source.splitlines(keepends=True)}


def code(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": source.splitlines(keepends=True), "outputs": [],
            "execution_count": None}


def text(cell: dict) -> str:
    return "".join(cell["source"])


def find(cells: list[dict], start: str, kind: str) -> int:
    """The index of the one cell of ``kind`` whose source starts with (code: contains) ``start``."""
    found = [i for i, c in enumerate(cells) if c["cell_type"] == kind
             and (text(c).startswith(start) if kind == "markdown" else start in text(c))]
    if len(found) != 1:
        raise SystemExit(f"lesson03_loop: expected one {kind} cell with {start!r}, found {len(found)}")
    return found[0]


def edit_notebook(notebook: dict) -> bool:
    """Apply the edits; False if they were applied already."""
    cells = notebook["cells"]
    if any(text(c) == COMPARE_CODE for c in cells):
        return False
    # 1. the printed source becomes the minimal loop
    at = find(cells, OLD_LOOP_MARKDOWN, "markdown")
    if OLD_LOOP_CODE not in text(cells[at + 1]):
        raise SystemExit(f"lesson03_loop: the cell after {OLD_LOOP_MARKDOWN!r} is not {OLD_LOOP_CODE!r}")
    cells[at:at + 2] = [markdown(LOOP_MARKDOWN), code(LOOP_CODE), markdown(HAND_MARKDOWN)]
    # 2. generate_by_hand's run, then the comparison
    hand = find(cells, HAND_RUN, "code")
    cells.insert(hand + 1, code(COMPARE_CODE))
    # 3. `import inspect` goes when nothing else uses it
    if not any("inspect." in text(c) for c in cells if c["cell_type"] == "code"):
        for cell in cells:
            if cell["cell_type"] == "code" and "import inspect\n" in text(cell):
                source = text(cell).replace("import inspect\n\n", "").replace("import inspect\n", "")
                cell["source"] = source.splitlines(keepends=True)
    # 4. the objectives name the exercise
    intro = cells[0]
    if OBJECTIVE_OLD in text(intro):
        intro["source"] = text(intro).replace(OBJECTIVE_OLD, OBJECTIVE_NEW).splitlines(keepends=True)
    else:
        print("lesson03_loop: objectives line not found; left the first cell as it is", file=sys.stderr)
    # 5. the exercise, after exercise 2's check, and its check in the import cell
    check = find(cells, CHECK_2, "code")
    cells[check + 1:check + 1] = [markdown(EXERCISE_MARKDOWN), code(EXERCISE_CODE), code(CHECK_CODE)]
    imports = find(cells, CHECK_IMPORT, "code")
    cells[imports]["source"] = text(cells[imports]).replace(
        CHECK_IMPORT, "from llmcourse.checks import check_greedy_loop, check_new_text_only, check_next_token_fn"
    ).splitlines(keepends=True)
    return True


def edit_translations(table: dict, intro_english: str | None) -> None:
    """Add the Japanese of the new cells and comments; update the objectives cell's key and text."""
    table["markdown"].update(MARKDOWN_JA)
    for key in [key for key in table["markdown"] if key.startswith(OLD_LOOP_MARKDOWN)]:
        del table["markdown"][key]  # the cell it translated is gone
    table["code"].update(CODE_JA)
    if intro_english is None:
        return
    old_key = intro_english.replace(OBJECTIVE_NEW, OBJECTIVE_OLD)
    if old_key in table["markdown"] and intro_english not in table["markdown"]:
        japanese = table["markdown"].pop(old_key)
        if OBJECTIVE_JA_OLD not in japanese:
            print("lesson03_loop: Japanese objectives line not found; translate the first cell by hand", file=sys.stderr)
        table["markdown"][intro_english] = japanese.replace(OBJECTIVE_JA_OLD, OBJECTIVE_JA_NEW)


def main(root: Path) -> int:
    lesson = root / "notebooks" / "03_generating.ipynb"
    table_path = root / "notebooks" / "ja" / "translations" / "03_generating.json"
    notebook = json.loads(lesson.read_text(encoding="utf-8"))
    if edit_notebook(notebook):
        lesson.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"lesson03_loop: edited {lesson}")
    else:
        print(f"lesson03_loop: {lesson} already has the loop; left as it is")
    table = json.loads(table_path.read_text(encoding="utf-8"))
    intro = text(notebook["cells"][0])
    edit_translations(table, intro if OBJECTIVE_NEW in intro else None)
    table_path.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"lesson03_loop: updated {table_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()))
