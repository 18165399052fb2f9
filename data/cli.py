"""`uchi data ...`: the dataset store."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from uchi.arguments import actor, actor_option, add, subcommands
from uchi.data.store import Store
from uchi.errors import UchiError


def import_(cfg, args):
    from uchi.data.importer import import_file

    with Store.open(cfg) as store:
        ids = import_file(store, cfg, Path(args.file), author=actor(args), approve=args.approve)
    print(f"imported {len(ids)} pairs from {args.file} ({'approved' if args.approve else 'pending review'})")


def export(cfg, args):
    from uchi.data.export import export_rows, render

    with Store.open(cfg) as store:
        text = render(export_rows(store, status=args.status, split=args.split), args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def stats(cfg, args):
    from uchi.data.export import stats as count

    with Store.open(cfg) as store:
        print(json.dumps(count(store), indent=1, ensure_ascii=False))


def review(cfg, args):
    from uchi.data.pairs import review as decide

    with Store.open(cfg) as store:
        n = decide(store, args.ids, "approved" if args.approve else "rejected", actor(args))
        notes = review_notes(store, args.ids)
    print(f"{'approved' if args.approve else 'rejected'} {n} pair(s)")
    for note in notes:
        print(note)


def review_notes(store, ids) -> list[str]:
    from uchi.data.conflicts import involving

    return [f"pair #{c['pair_a']} and #{c['pair_b']} answer the same question differently (conflict #{c['id']}); "
            f"neither is trained while both are approved: `uchi data resolve {c['id']} --keep ID` or --both"
            for c in involving(store, ids)]


def why(cfg, args):
    from uchi.data.lineage import render, trace

    with Store.open(cfg) as store:
        found = trace(store, args.answer_id, nearest=args.nearest)
    if args.json:
        print(json.dumps(found, indent=1, ensure_ascii=False, default=str))
    else:
        print(render(found, every_pair=args.all))


def forget(cfg, args):
    from uchi.data.forget import forget as delete
    from uchi.data.forget import plan

    with Store.open(cfg) as store:
        if not args.yes:
            todo = plan(store, author=args.author, pair_ids=args.ids)
            print(f"would delete {len(todo['pair_ids'])} pair(s) ({todo['target']}) and mark "
                  f"{len(todo['adapters'])} adapter(s) for retraining: {', '.join(todo['adapters']) or 'none'}; "
                  "run again with --yes to delete")
            return
        done = delete(store, actor=actor(args), author=args.author, pair_ids=args.ids, reason=args.reason)
    print(f"deletion #{done['deletion_id']} ({done['target']}): {json.dumps(done['counts'])}")
    for version in done["adapters"]:
        print(f"adapter {version} was trained on deleted data: retrain (`uchi train`) and promote a new version")


def backup(cfg, args):
    from uchi.data.backup import backup as copy
    from uchi.data.backup import folder_for, listed

    folder = Path(args.to) if args.to else folder_for(cfg.state_dir)
    path = copy(cfg.state_dir / "uchi.db", folder, keep=args.keep or cfg.data.backup_keep)
    print(f"backed up to {path} ({path.stat().st_size:,} bytes); {len(listed(folder))} backup(s) kept in {folder}")


def backups(cfg, args):
    from uchi.data.backup import folder_for, listed

    for path in listed(folder_for(cfg.state_dir)):
        print(f"{path}  {path.stat().st_size:,} bytes")


def restore(cfg, args):
    from uchi.data.backup import folder_for, listed
    from uchi.data.backup import restore as put_back

    folder = folder_for(cfg.state_dir)
    if args.latest == bool(args.backup):
        raise UchiError("restore what? give a backup file or --latest")
    source = Path(args.backup) if args.backup else (listed(folder) or [None])[-1]
    if source is None:
        raise UchiError(f"no backups in {folder}; take one with `uchi data backup`")
    done = put_back(source, cfg.state_dir / "uchi.db", folder, force=args.force)
    with Store.open(cfg):
        pass  # migrates a backup taken by an older uchi
    saved = f"; the replaced store was saved as {done['replaced_backup']}" if done["replaced_backup"] else ""
    print(f"restored {source} ({done['pairs']} pairs){saved}")


def conflicts(cfg, args):
    from uchi.data.conflicts import open_conflicts

    with Store.open(cfg) as store:
        found = open_conflicts(store)
    for conflict in found:
        print(f"conflict #{conflict['id']} (question similarity {conflict['similarity']:.2f}):")
        for side in conflict["pairs"]:
            print(f"  #{side['id']} [{side['status']}, by {side['author']}, {side['votes']} vote(s)] "
                  f"{side['question']} -> {side['answer']}")
    print(f"{len(found)} open conflict(s)" + ("; resolve with `uchi data resolve ID --keep PAIR_ID` or --both"
                                            if found else ""))


def resolve(cfg, args):
    from uchi.data.conflicts import resolve as settle

    with Store.open(cfg) as store:
        done = settle(store, args.conflict_id, keep=None if args.both else args.keep, reviewer=actor(args))
    print(f"conflict #{done['id']} resolved: {done['resolution']}")


def dedup(cfg, args):
    from uchi.data.merge import scan

    with Store.open(cfg) as store:
        found = scan(store, cfg.data)
    print(f"merged {found['merged']} duplicate pair(s); flagged {found['conflicts']} new conflict(s)")


def snapshot(cfg, args):
    from collections import Counter

    from uchi.data.snapshot import current

    with Store.open(cfg) as store:
        snap = current(store)
        stale = store.rows("SELECT DISTINCT adapter_version FROM retrain_needed ORDER BY adapter_version")
    authors = Counter(p["author"] for p in snap.pairs).most_common(10)
    print(f"next snapshot {snap.hash}: {len(snap.pairs)} pairs; top authors: "
          + ", ".join(f"{a} ({n})" for a, n in authors))
    for reason, n in Counter(snap.held_back.values()).items():
        print(f"held back ({reason}): {n} approved pair(s)")
    for row in stale:
        print(f"adapter {row['adapter_version']} was trained on since-deleted data: retrain")


def register(commands) -> None:
    data = subcommands(commands, "data", "the dataset store: import, export, stats, review, conflicts, lineage, "
                       "deletion, backups")
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
    _register_quality(data)


def _register_quality(data) -> None:
    sub = add(data, "why", why, "why did uchi say that: answer -> adapter -> run -> snapshot -> pairs and their "
              "authors, and the training pairs nearest to the question")
    sub.add_argument("answer_id", type=int, help="the answer's id (logged with every answer)")
    sub.add_argument("--nearest", type=int, default=5, help="how many nearest training pairs to show")
    sub.add_argument("--all", action="store_true", help="also list every pair of the snapshot")
    sub.add_argument("--json", action="store_true", help="the whole trace as JSON")
    sub = add(data, "forget", forget, "delete an author's contributions or some pairs, record the deletion, and "
              "mark the adapters trained on them for retraining (shows the plan unless --yes)")
    sub.add_argument("ids", nargs="*", type=int, help="pair ids to delete")
    sub.add_argument("--author", help="delete everything this author contributed (e.g. a Slack user ID)")
    sub.add_argument("--reason", default="", help="why, for the audit record (e.g. 'erasure request 2026-04')")
    sub.add_argument("--yes", action="store_true", help="really delete")
    actor_option(sub)
    sub = add(data, "backup", backup, "back up the store while it is in use (SQLite online backup), verify the copy, "
              "keep the newest data.backup_keep; run it nightly, e.g. cron `0 3 * * * uchi data backup`")
    sub.add_argument("--to", help="folder for the backup (default: <state>/backups)")
    sub.add_argument("--keep", type=int, help="backups to keep in that folder (default: data.backup_keep)")
    add(data, "backups", backups, "list the backups in <state>/backups, oldest first")
    sub = add(data, "restore", restore, "replace the store with a backup after checking its integrity; a store "
              "holding data is replaced only with --force, and is backed up first")
    sub.add_argument("backup", nargs="?", help="the backup file (see `uchi data backups`)")
    sub.add_argument("--latest", action="store_true", help="restore the newest backup in <state>/backups")
    sub.add_argument("--force", action="store_true", help="replace a store that holds data")
    add(data, "conflicts", conflicts, "list open conflicts: pairs answering the same question differently; while "
        "both are approved, neither is trained")
    sub = add(data, "resolve", resolve, "settle a conflict: keep one pair (the other is rejected), or both")
    sub.add_argument("conflict_id", type=int, help="the conflict's id (see `uchi data conflicts`)")
    choice = sub.add_mutually_exclusive_group(required=True)
    choice.add_argument("--keep", type=int, metavar="PAIR_ID", help="the pair that is right")
    choice.add_argument("--both", action="store_true", help="they do not really disagree: train both")
    actor_option(sub)
    add(data, "dedup", dedup, "look for near-duplicates among the stored pairs: merge repeats with their votes, "
        "flag conflicting answers")
    add(data, "snapshot", snapshot, "what the next training run would learn: pairs, top authors, what is held back "
        "(conflicts, author cap) and adapters that need retraining")
