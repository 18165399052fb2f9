"""`uchi data import`: CSV or JSONL files of Q&A pairs, all rows checked before anything is written.

Columns: question, answer (required); language (en/ja), category, facts (JSON list, or "a|b" in CSV),
paraphrase or paraphrases (evaluation-only rewordings), status and author (as `uchi data export` writes
them, so that an export imports back as it was; id, split and source are recomputed). Every bad row is
reported with its file and line, and an import with any error writes nothing. Parsing is strict: an
unknown or repeated column, a quote left open, text that is not text are errors, never guessed at.
A CSV cell that export protected from spreadsheets ('=..., '+..., '-..., '@...) is read back as it was.
"""
from __future__ import annotations

import csv
import difflib
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from uchi.config import Config
from uchi.data import split
from uchi.data.pairs import STATUSES, NewPair, add_pairs
from uchi.data.store import Store
from uchi.data.text import question_key
from uchi.errors import UchiError
from uchi.language import LANGUAGES

MAX_REPORTED = 25
COLUMNS = ("question", "answer", "language", "category", "facts", "paraphrase", "paraphrases", "status", "author")
IGNORED = ("id", "split", "source")  # written by export, recomputed on import
# Characters a spreadsheet reads as the start of a formula; export prefixes such a cell with ' (and a cell
# already starting with ', so that import can always take exactly one off).
FORMULA = ("=", "+", "-", "@", "\t", "\r", "'")


def protect(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA) else cell


def unprotect(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA) else cell


@dataclass
class Outcome:
    """What happened to one imported row: "added", "merged" (into an existing pair) or "conflict"."""
    line: int
    pair_id: int
    kind: str
    others: list[int] = field(default_factory=list)


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
        unknown = _unknown_columns(value)
        if unknown:
            errors += [f"{path}:{number}: {problem}" for problem in unknown]
            continue
        rows.append((number, value))
    return rows, errors


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    # A field may be as long as the file; the length limits (data.max_*_chars) then say what is too long.
    csv.field_size_limit(max(131072, len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, header, started = [], None, 1
    try:
        for record in reader:
            # reader.line_num is the line the record ends on; a record may span lines inside quotes.
            if header is None:
                header = _header(path, record)
            elif record:
                row = {name: unprotect(value) for name, value in zip(header, record)}
                if len(record) > len(header):
                    row["__extra__"] = record[len(header):]
                _swallowed(row, header, started, reader.line_num)
                rows.append((started, row))
            started = reader.line_num + 1
    except csv.Error as exc:
        raise UchiError(f"{path}:{started}: the row starting here does not parse ({exc}, at line {reader.line_num}); "
                        "a quote opened on this line is probably never closed, or a quote inside a value is not "
                        'doubled (write "" for a quote inside a quoted value); nothing was imported') from None
    if header is None:
        raise UchiError(f"{path}: empty file; the first row must be a header with question,answer")
    return rows


def _header(path: Path, record: list[str]) -> list[str]:
    names = [name.strip() for name in record]
    problems = []
    for n, name in enumerate(names):
        if name in names[:n]:
            problems.append(f"column {name!r} appears twice (columns {names.index(name) + 1} and {n + 1}); keep one")
    problems += [f"missing column {name!r}" for name in ("question", "answer") if name not in names]
    problems += _unknown_columns(names)
    if problems:
        raise UchiError(f"{path}:1: bad header ({','.join(record)}): " + "; ".join(problems) + "; nothing was imported")
    return names


def _unknown_columns(names) -> list[str]:
    problems = []
    for name in names:
        if name not in COLUMNS and name not in IGNORED and not name.startswith("__"):
            close = difflib.get_close_matches(name, COLUMNS, n=1, cutoff=0.6)
            problems.append(f"unknown column {name!r}" + (f": did you mean {close[0]!r}?" if close else
                                                          f"; columns are {', '.join(COLUMNS)}"))
    return problems


def _swallowed(row: dict, header: list[str], first: int, last: int) -> None:
    """A quote left open takes the following lines into one value until some later quote closes it; a
    question never spans lines, and a value holding a line shaped like a whole row is that symptom."""
    if last == first:
        return
    commas = len(header) - 1
    for name, value in row.items():
        if not isinstance(value, str) or "\n" not in value:
            continue
        if name == "question" or any(line.count(",") >= commas > 0 for line in value.split("\n")[1:]):
            row["__swallowed__"] = f"{name} runs from line {first} to line {last}: a quote opened on line {first} " \
                                   "is probably not closed where it should be, and the rows after it became part " \
                                   "of this value; close the quote (write \"\" for a quote inside a value)"
            return


def parse_row(row: dict, cfg: Config) -> tuple[NewPair | None, list[str]]:
    problems = []
    for column in ("question", "answer"):
        if column not in row or row[column] is None:
            shown = ",".join(name for name in row if not name.startswith("__"))
            problems.append(f"missing column {column!r} (the columns are: {shown}); name the columns "
                            "question,answer")
    if "__extra__" in row:
        problems.append("more fields than the header has; quote values that contain commas")
    if "__swallowed__" in row:
        problems.append(row["__swallowed__"])
    if problems:
        return None, problems
    for name, value in row.items():
        if name in ("question", "answer", "language", "category", "status", "author") and value is not None \
                and not isinstance(value, str):
            problems.append(f"{name} must be text, not {type(value).__name__} ({json.dumps(value)[:60]})")
        elif isinstance(value, str) and not _encodable(value):
            problems.append(f"{name} contains a lone surrogate (a broken \\ud8xx escape); fix the text")
    if problems:
        return None, problems
    question, answer = row["question"].strip(), row["answer"].strip()
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
    if any(not _encodable(text) for text in facts + paraphrases):
        problems.append("facts or paraphrases contain a lone surrogate (a broken \\ud8xx escape); fix the text")
    status = (row.get("status") or "").strip()
    if status and status not in STATUSES:
        problems.append(f"status {status!r}: use one of {', '.join(STATUSES)} or leave it empty")
    if problems:
        return None, problems
    return NewPair(question=question, answer=answer, language=language,
                   category=(row.get("category") or "").strip(), facts=facts,
                   paraphrases=[p for p in paraphrases if question_key(p) != question_key(question)],
                   status=status, author=(row.get("author") or "").strip()), []


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


def import_file(store: Store, cfg: Config, path: Path, *, author: str, approve: bool = False,
                report: list[Outcome] | None = None) -> list[int]:
    """Check every row, then insert all of them in one transaction; returns each row's pair id (a row that
    repeats a stored pair returns that pair's), and, into `report`, what happened to each row."""
    rows, errors = read_rows(path)
    if not rows and not errors:
        raise UchiError(f"{path}: no rows to import")
    pairs, lines, seen = [], [], {}
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
            lines.append(number)
    if errors:
        errors.sort(key=lambda line: int(line[len(str(path)) + 1:].split(":", 1)[0]))
        raise UchiError(_summary(path, errors))
    outcomes: list[tuple[int, str, list[int]]] = []
    ids = add_pairs(store, pairs, source=f"import:{path.name}", author=author,
                    heldout_percent=cfg.data.heldout_percent,
                    status="approved" if approve else "pending", reviewer=author, progress=True, outcomes=outcomes)
    with store.transaction():
        split.apply_floor(store, ids, cfg.data.heldout_min_per_language)
    if report is not None:
        report += [Outcome(line, *outcome) for line, outcome in zip(lines, outcomes)]
    return ids


def _summary(path: Path, errors: list[str]) -> str:
    shown = errors[:MAX_REPORTED]
    more = f"\n  … and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
    return (f"{path}: {len(errors)} problem(s); nothing was imported. Fix them and import again:\n  "
            + "\n  ".join(shown) + more)
