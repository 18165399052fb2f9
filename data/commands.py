"""`uchi data ...`: the dataset store."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from uchi.cli import actor, actor_option, add, open_store, subcommands


def import_(cfg, args):
    from uchi.data.importer import import_file

    with open_store(cfg) as store:
        ids = import_file(store, cfg, Path(args.file), author=actor(args), approve=args.approve)
    print(f"imported {len(ids)} pairs from {args.file} ({'approved' if args.approve else 'pending review'})")


def export(cfg, args):
    from uchi.data.export import export_rows, render

    with open_store(cfg) as store:
        text = render(export_rows(store, status=args.status, split=args.split), args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def stats(cfg, args):
    from uchi.data.export import stats as count

    with open_store(cfg) as store:
        print(json.dumps(count(store), indent=1, ensure_ascii=False))


def review(cfg, args):
    from uchi.data.pairs import review as decide

    with open_store(cfg) as store:
        n = decide(store, args.ids, "approved" if args.approve else "rejected", actor(args))
    print(f"{'approved' if args.approve else 'rejected'} {n} pair(s)")


def register(commands) -> None:
    data = subcommands(commands, "data", "the dataset store: import, export, stats, review")
    sub = add(data, "import", import_, "import Q&A pairs from a .csv (with header) or .jsonl file; any bad row "
              "aborts the whole import")
    sub.add_argument("file", help="file with question and answer columns")
    sub.add_argument("--approve", action="store_true", help="approve on import (you act as the reviewer)")
    actor_option(sub)
    sub = add(data, "export", export, "export pairs in the import format")
    sub.add_argument("--status", choices=["pending", "approved", "rejected"], help="only pairs in this status")
    sub.add_argument("--split", choices=["train", "heldout"], help="only pairs in this split")
    sub.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="output format")
    sub.add_argument("-o", "--output", help="file to write (default: standard output)")
    add(data, "stats", stats, "count pairs by status, split and language")
    sub = add(data, "review", review, "approve or reject pairs by id")
    sub.add_argument("ids", nargs="+", type=int, help="pair ids")
    verdict = sub.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--approve", action="store_true", help="approve: the pairs may be trained on")
    verdict.add_argument("--reject", action="store_true", help="reject: the pairs are never trained on")
    actor_option(sub)
