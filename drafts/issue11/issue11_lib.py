"""Helpers for /work/edits/issue11.py: edit an English lesson and its translation table together."""
from __future__ import annotations

import json
from pathlib import Path

import os
ROOT = Path(os.environ.get("ISSUE11_ROOT", "/work/main"))


class Lesson:
    def __init__(self, stem: str):
        self.path = ROOT / "notebooks" / f"{stem}.ipynb"
        self.table_path = ROOT / "notebooks" / "ja" / "translations" / f"{stem}.json"
        self.nb = json.loads(self.path.read_text(encoding="utf-8"))
        self.table = json.loads(self.table_path.read_text(encoding="utf-8"))

    # ------------------------------------------------------------ finding cells
    def text(self, i: int) -> str:
        return "".join(self.nb["cells"][i]["source"])

    def find(self, needle: str, kind: str | None = None) -> int:
        hits = [i for i, c in enumerate(self.nb["cells"])
                if needle in "".join(c["source"]) and (kind is None or c["cell_type"] == kind)]
        if len(hits) != 1:
            raise SystemExit(f"{self.path.name}: {len(hits)} cells contain {needle!r}")
        return hits[0]

    def has(self, needle: str) -> bool:
        return any(needle in "".join(c["source"]) for c in self.nb["cells"])

    # ------------------------------------------------------------ markdown, both languages
    def set_md(self, i: int, en: str, ja: str) -> None:
        old = self.text(i)
        assert self.nb["cells"][i]["cell_type"] == "markdown"
        self.table["markdown"].pop(old, None)
        self.nb["cells"][i]["source"] = en.splitlines(keepends=True)
        self.table["markdown"][en] = ja

    def sub_md(self, needle: str, pairs: list[tuple[str, str, str, str]]) -> None:
        """In the markdown cell holding ``needle``: replace en_old->en_new and ja_old->ja_new for each pair."""
        i = self.find(needle, "markdown")
        en, ja = self.text(i), self.table["markdown"][self.text(i)]
        for en_old, en_new, ja_old, ja_new in pairs:
            assert en.count(en_old) == 1, (self.path.name, en_old)
            assert ja.count(ja_old) == 1, (self.path.name, ja_old)
            en, ja = en.replace(en_old, en_new), ja.replace(ja_old, ja_new)
        self.set_md(i, en, ja)

    def replace_md(self, needle: str, en: str, ja: str) -> None:
        self.set_md(self.find(needle, "markdown"), en, ja)

    def objectives(self, en_bullets: str, ja_bullets: str, en_heading="**What you will learn**",
                   ja_heading="**このレッスンで学ぶこと**") -> None:
        """Swap the bullet list under the heading of cell 0 (keeps title, badge and any paragraph after it)."""
        en, ja = self.text(0), self.table["markdown"][self.text(0)]
        def swap(text, heading, new_heading, bullets):
            head, rest = text.split(heading, 1)
            lines = rest.split("\n")
            j = 1
            while j < len(lines) and (lines[j].startswith("- ") or lines[j].startswith("  ")):
                j += 1
            return head + new_heading + "\n" + bullets.rstrip("\n") + ("\n" + "\n".join(lines[j:]) if j < len(lines) else "")
        self.set_md(0, swap(en, en_heading, "**Objectives**", en_bullets),
                    swap(ja, ja_heading, "**目標**", ja_bullets))

    # ------------------------------------------------------------ inserting cells
    def insert(self, at: int, cells: list[dict]) -> None:
        self.nb["cells"][at:at] = cells

    def md(self, en: str, ja: str) -> dict:
        self.table["markdown"][en] = ja
        return {"cell_type": "markdown", "metadata": {}, "source": en.splitlines(keepends=True)}

    def code(self, source: str, ja_fragments: dict[str, str] | None = None) -> dict:
        self.table["code"].update(ja_fragments or {})
        return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                "source": source.splitlines(keepends=True)}

    def set_code(self, i: int, source: str, ja_fragments: dict[str, str] | None = None) -> None:
        assert self.nb["cells"][i]["cell_type"] == "code"
        self.nb["cells"][i]["source"] = source.splitlines(keepends=True)
        self.nb["cells"][i]["outputs"], self.nb["cells"][i]["execution_count"] = [], None
        self.table["code"].update(ja_fragments or {})

    def resources(self, en: str, ja: str) -> None:
        if self.has("## Further resources"):
            self.replace_md("## Further resources", en, ja)
        else:
            self.nb["cells"].append(self.md(en, ja))

    def save(self) -> None:
        self.path.write_text(json.dumps(self.nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        self.table_path.write_text(json.dumps(self.table, indent=1, ensure_ascii=False), encoding="utf-8")
