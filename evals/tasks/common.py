"""The task interface: a task yields multiple-choice items; a model scores each choice by log-likelihood."""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ChoiceItem:
    id: str
    context: str
    choices: tuple[str, ...]
    gold: int
    stratum: str = ""


class ChoiceTask:
    """Subclasses set name, language, folder and implement load(); sampling and chance level are shared."""

    name = ""
    language = "en"
    folder = ""

    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def path(self) -> Path:
        return self.root / self.folder

    def available(self) -> bool:
        return self.path.exists()

    def load(self) -> list[ChoiceItem]:
        raise NotImplementedError

    def sample(self, n: int, seed: int) -> list[ChoiceItem]:
        """A fixed, seeded subsample, stratified (e.g. by subject) so that small samples stay balanced."""
        items = self.load()
        if len(items) <= n:
            return items
        rng = random.Random(f"{self.name}:{seed}")
        strata: dict[str, list[ChoiceItem]] = {}
        for item in items:
            strata.setdefault(item.stratum, []).append(item)
        for group in strata.values():
            rng.shuffle(group)
        chosen, keys = [], sorted(strata)
        rng.shuffle(keys)
        while len(chosen) < n:
            for key in keys:
                if strata[key] and len(chosen) < n:
                    chosen.append(strata[key].pop())
        return sorted(chosen, key=lambda item: item.id)

    @staticmethod
    def chance(items: list[ChoiceItem]) -> float:
        return sum(1 / len(item.choices) for item in items) / len(items) if items else 0.0
