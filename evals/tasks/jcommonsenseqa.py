"""JCommonsenseQA v1.3 (JGLUE, Japanese commonsense): JSON lines {q_id, question, choice0..4, label}."""
import json

from uchi.evals.tasks.common import ChoiceItem, ChoiceTask


class JCommonsenseQA(ChoiceTask):
    name, language, folder = "jcommonsenseqa", "ja", "jcommonsenseqa"

    def load(self) -> list[ChoiceItem]:
        rows = (self.path / "valid-v1.3.json").read_text(encoding="utf-8").splitlines()
        return [ChoiceItem(id=f"jcqa-{row['q_id']}", context=f"質問：{row['question']}\n答え：",
                           choices=tuple(row[f"choice{i}"] for i in range(5)), gold=int(row["label"]))
                for row in map(json.loads, filter(None, rows))]
