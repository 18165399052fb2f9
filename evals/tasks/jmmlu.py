"""JMMLU (Japanese MMLU, 53 subjects): headerless CSV question,A,B,C,D,answer; UTF-8 BOM; stray spaces."""
import csv

from uchi.evals.tasks.common import ChoiceItem, ChoiceTask


class JMMLU(ChoiceTask):
    name, language, folder = "jmmlu", "ja", "jmmlu"

    def load(self) -> list[ChoiceItem]:
        items = []
        for path in sorted(self.path.glob("*.csv")):
            with open(path, encoding="utf-8-sig", newline="") as handle:
                for i, row in enumerate(csv.reader(handle)):
                    if len(row) != 6 or row[5].strip() not in "ABCD" or not row[5].strip():
                        continue
                    items.append(ChoiceItem(id=f"jmmlu-{path.stem}-{i}", context=f"質問：{row[0].strip()}\n答え：",
                                            choices=tuple(c.strip() for c in row[1:5]),
                                            gold="ABCD".index(row[5].strip()), stratum=path.stem))
        return items
