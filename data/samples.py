"""Data shipped with uchi: the sample company used by the demo and the tests."""
from __future__ import annotations

import importlib.resources
from pathlib import Path


def company_file() -> Path:
    """Harbor Lantern Robotics' handbook: invented Q&A pairs in English and Japanese, each with a paraphrase."""
    return Path(str(importlib.resources.files("uchi.data") / "sample" / "company.jsonl"))
