"""`uchi data import`: CSV or JSONL files of Q&A pairs, all rows checked before anything is written.

Columns: question, answer (required); language (en/ja), category, facts (JSON list, or "a|b" in CSV),
paraphrase or paraphrases (evaluation-only rewordings). Every bad row is reported with its file and
line, and an import with any error writes nothing.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from uchi.config import Config
from uchi.data.pairs import NewPair, add_pairs
from uchi.data.store import Store
from uchi.data.text import question_key
from uchi.errors import UchiError
from uchi.language import LANGUAGES

MAX_REPORTED = 25


def read_rows(path: Path) -> tuple[list[tuple[int, dict]], list[str]]:
    """(line number, raw row) for every record, and the lines that are no record at all."""
    if not path.is_file():
        raise UchiError(f"{path}: no such file")
    raw = path.read_bytes()
    errors = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(f"{path}:{number}: not valid UTF-8 (byte {exc.start + 1}); save the file as UTF-8")
    if errors:
        raise UchiError(_summary(path, errors))
    text = raw.decode("utf-8-sig")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_rows(path, text)
    if suffix == ".csv":
        return _csv_rows(path, text), []
    raise UchiError(f"{path}: unknown file type {suffix!r}; use .csv (with a header row) or .jsonl")


def _jsonl_rows(path: Path, text: str) -> tuple[list[tuple[int, dict]], list[str]]:
    rows, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{path}:{number}: not valid JSON ({exc.msg}); each line must be one JSON object")
            continue
        if not isinstance(value, dict):
            errors.append(f"{path}:{number}: expected a JSON object with question and answer")
            continue
        rows.append((number, value))
    return rows, errors


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise UchiError(f"{path}: empty file; the first row must be a header with question,answer")
    rows = []
    for row in reader:
        # reader.line_num is the line the record ends on; a record may span lines inside quotes.
        if None in row:
            row["__extra__"] = row.pop(None)
        rows.append((reader.line_num, row))
    return rows


def parse_row(row: dict, cfg: Config) -> tuple[NewPair | None, list[str]]:
    problems = []
    for column in ("question", "answer"):
        if column not in row or row[column] is None:
            problems.append(f"missing column {column!r}")
    if "__extra__" in row:
        problems.append("more fields than the header has; quote values that contain commas")
    if problems:
        return None, problems
    question, answer = row["question"], row["answer"]
    if not isinstance(question, str) or not isinstance(answer, str):
        return None, ["question and answer must be text"]
    question, answer = question.strip(), answer.strip()
    for column, value, limit in (("question", question, cfg.data.max_question_chars),
                                 ("answer", answer, cfg.data.max_answer_chars)):
        if not value:
            problems.append(f"empty {column}")
        elif len(value) > limit:
            problems.append(f"{column} is {len(value):,} characters, over the limit of {limit:,} "
                            f"(data.max_{column}_chars); shorten it")
        if "\ufffd" in value or "\x00" in value:
            problems.append(f"{column} contains broken characters (U+FFFD or NUL); fix the file's encoding")
    language = str(row.get("language") or "").strip()
    if language and language not in LANGUAGES:
        problems.append(f"language {language!r}: use one of {', '.join(LANGUAGES)} or leave it empty")
    facts = _list_field(row.get("facts"), "facts", problems)
    for fact in facts:
        if fact not in answer:
            problems.append(f"fact {fact!r} does not appear in the answer; facts are exact parts of it")
    paraphrases = _list_field(row.get("paraphrases"), "paraphrases", problems)
    paraphrases += _list_field(row.get("paraphrase"), "paraphrase", problems)
    if problems:
        return None, problems
    return NewPair(question=question, answer=answer, language=language,
                   category=str(row.get("category") or "").strip(), facts=facts,
                   paraphrases=[p for p in paraphrases if question_key(p) != question_key(question)]), []


def _list_field(value, name: str, problems: list[str]) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                problems.append(f"{name} looks like a JSON list but does not parse")
                return []
        else:
            return [part.strip() for part in value.split("|") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(f"{name} must be a list of strings")
        return []
    return [item.strip() for item in value if item.strip()]


def import_file(store: Store, cfg: Config, path: Path, *, author: str, approve: bool = False) -> list[int]:
    """Check every row, then insert all of them in one transaction; returns the new pair ids."""
    rows, errors = read_rows(path)
    if not rows and not errors:
        raise UchiError(f"{path}: no rows to import")
    pairs, seen = [], {}
    for number, row in rows:
        pair, problems = parse_row(row, cfg)
        if pair is not None:
            key = question_key(pair.question)
            existing = store.one("SELECT id FROM pairs WHERE question_key = ?", [key])
            if key in seen:
                problems.append(f"duplicate question: same as line {seen[key]}")
            elif existing:
                problems.append(f"duplicate question: already in the store as pair #{existing['id']}")
            seen.setdefault(key, number)
        errors += [f"{path}:{number}: {problem}" for problem in problems]
        if pair is not None and not problems:
            pairs.append(pair)
    if errors:
        errors.sort(key=lambda line: int(line[len(str(path)) + 1:].split(":", 1)[0]))
        raise UchiError(_summary(path, errors))
    return add_pairs(store, pairs, source=f"import:{path.name}", author=author,
                     heldout_percent=cfg.data.heldout_percent,
                     status="approved" if approve else "pending", reviewer=author if approve else None)


def _summary(path: Path, errors: list[str]) -> str:
    shown = errors[:MAX_REPORTED]
    more = f"\n  … and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
    return (f"{path}: {len(errors)} problem(s); nothing was imported. Fix them and import again:\n  "
            + "\n  ".join(shown) + more)
