"""The store's schema as SQL files applied once each, in file-name order, and recorded by name.

Add a file (NNNN_what.sql) to change the schema; never edit one that has shipped.
"""
from pathlib import Path

FOLDER = Path(__file__).parent


def migrations() -> list[tuple[str, str]]:
    return [(path.stem, path.read_text(encoding="utf-8")) for path in sorted(FOLDER.glob("*.sql"))]
