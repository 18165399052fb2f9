"""General-ability benchmarks. Adding one is one file here: a ChoiceTask subclass that reads its items
from the configured benchmark directory, plus one line in TASKS."""
from __future__ import annotations

from uchi.evals.tasks.common import ChoiceItem, ChoiceTask
from uchi.evals.tasks.jcommonsenseqa import JCommonsenseQA
from uchi.evals.tasks.jmmlu import JMMLU
from uchi.evals.tasks.mmlu import MMLU
from uchi.evals.tasks.piqa import PIQA

TASKS: dict[str, type[ChoiceTask]] = {task.name: task for task in (PIQA, JCommonsenseQA, JMMLU, MMLU)}

__all__ = ["TASKS", "ChoiceItem", "ChoiceTask"]
