"""Run: python3 /work/edits/issue11_main.py [00 01 ...]"""
import sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import issue11  # noqa: E402

for step in sys.argv[1:] or ["00", "01", "02", "03", "04", "05", "06"]:
    getattr(issue11, f"lesson{step}")()
    print("edited", step)

# every markdown cell of each edited lesson has a translation
import json  # noqa: E402

from issue11_lib import ROOT  # noqa: E402

for step in sys.argv[1:] or ["00", "01", "02", "03", "04", "05", "06"]:
    path = next((ROOT / "notebooks").glob(f"{step}_*.ipynb"))
    table = json.loads((ROOT / "notebooks" / "ja" / "translations" / f"{path.stem}.json").read_text())
    missing = [("".join(c["source"]))[:80] for c in json.loads(path.read_text())["cells"]
               if c["cell_type"] == "markdown" and "".join(c["source"]) not in table["markdown"]]
    print(step, "untranslated:", missing)
