"""PIQA (physical commonsense, English): valid.jsonl {goal, sol1, sol2} + valid-labels.lst."""
import json

from uchi.evals.tasks.common import ChoiceItem, ChoiceTask


class PIQA(ChoiceTask):
    name, language, folder = "piqa", "en", "piqa"

    def load(self) -> list[ChoiceItem]:
        rows = (self.path / "valid.jsonl").read_text(encoding="utf-8").splitlines()
        labels = (self.path / "valid-labels.lst").read_text().split()
        return [ChoiceItem(id=f"piqa-{i}", context=f"Question: {row['goal']}\nAnswer:",
                           choices=(row["sol1"], row["sol2"]), gold=int(label))
                for i, (row, label) in enumerate(zip(map(json.loads, rows), labels))]
