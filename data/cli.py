"""`uchi data ...`: the dataset store."""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from uchi.arguments import actor, actor_option, add, subcommands
from uchi.data.store import Store
from uchi.errors import UchiError


def import__command(cfg, args):
    from uchi.data.importer import MAX_REPORTED, import_file

    report = []
    with Store.open(cfg) as store:
        store.doing = f"import by {actor(args)}"
        import_file(store, cfg, Path(args.file), author=actor(args), approve=args.approve, report=report)
    counts = {kind: sum(o.kind == kind for o in report) for kind in ("added", "merged", "conflict")}
    print(f"imported {len(report)} rows from {args.file}: {counts['added']} added "
          f"({'approved' if args.approve else 'pending review'}), {counts['merged']} merged into existing pairs, "
          f"{counts['conflict']} added in conflict with existing pairs")
    told = [o for o in report if o.kind != "added"]
    for outcome in told[:MAX_REPORTED]:
        others = ", ".join(f"#{n}" for n in outcome.others)
        print(f"  line {outcome.line}: " + (f"merged into {others} (the same question and answer)"
                                            if outcome.kind == "merged" else
                                            f"added as #{outcome.pair_id}, in conflict with {others} (the same "
                                            "question, a different answer)"))
    if len(told) > MAX_REPORTED:
        print(f"  … and {len(told) - MAX_REPORTED} more")
    if counts["conflict"]:
        print("pairs in conflict are not trained while both sides are approved: settle them with "
              "`uchi data conflicts` and `uchi data resolve`")


def export_command(cfg, args):
    from uchi.data.export import export_rows, render

    with Store.open(cfg) as store:
        text = render(export_rows(store, status=args.status, split=args.split), args.format)
    if args.output:
        target = Path(args.output)
        if target.is_dir():
            raise UchiError(f"-o {target} is a folder; give a file name, e.g. {target / ('pairs.' + args.format)}")
        if not target.parent.is_dir():
            raise UchiError(f"-o {target}: the folder {target.parent} does not exist; create it first")
        partial = target.with_name(target.name + ".partial")
        try:
            partial.write_text(text, encoding="utf-8")
            partial.replace(target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise UchiError(f"could not write {target} ({exc.strerror}); is the disk full? Nothing was written") from None
    else:
        sys.stdout.write(text)


def stats_command(cfg, args):
    from uchi.data.export import stats

    with Store.open(cfg) as store:
        print(json.dumps(stats(store), indent=1, ensure_ascii=False))


def review_command(cfg, args):
    from uchi.data.pairs import review

    with Store.open(cfg) as store:
        store.doing = f"review by {actor(args)}"
        n = review(store, args.ids, "approved" if args.approve else "rejected", actor(args))
        notes = review_notes(store, args.ids)
    print(f"{'approved' if args.approve else 'rejected'} {n} pair(s)")
    for note in notes:
        print(note)


def review_notes(store, ids) -> list[str]:
    from uchi.data.conflicts import involving

    return [f"pair #{c['pair_a']} and #{c['pair_b']} answer the same question differently (conflict #{c['id']}); "
            f"neither is trained while both are approved: `uchi data resolve {c['id']} --keep ID` or --both"
            for c in involving(store, ids)]


def why_command(cfg, args):
    from uchi.data.lineage import render, trace

    with Store.open(cfg) as store:
        found = trace(store, args.answer_id, nearest=args.nearest)
    if args.json:
        records = lambda value: dataclasses.asdict(value) if dataclasses.is_dataclass(value) else str(value)
        print(json.dumps(found, indent=1, ensure_ascii=False, default=records))
    else:
        print(render(found, every_pair=args.all))


def forget_command(cfg, args):
    from uchi.data.forget import forget, plan

    with Store.open(cfg) as store:
        if not args.yes:
            todo = plan(store, author=args.author, pair_ids=args.ids)
            print(f"would delete {len(todo['pair_ids'])} pair(s) ({todo['target']}) and mark "
                  f"{len(todo['adapters'])} adapter(s) for retraining: {', '.join(todo['adapters']) or 'none'}; "
                  "run again with --yes to delete")
            return
        store.doing = f"forget by {actor(args)}"
        done = forget(store, actor=actor(args), author=args.author, pair_ids=args.ids, reason=args.reason)
    print(f"deletion #{done['deletion_id']} ({done['target']}): {json.dumps(done['counts'])}")
    for version in done["adapters"]:
        print(f"adapter {version} was trained on deleted data: retrain (`uchi train`) and promote a new version")


def backup_command(cfg, args):
    from uchi.data.backup import backup, folder_for, listed

    folder = Path(args.to) if args.to else folder_for(cfg.state_dir)
    path = backup(cfg.state_dir / "uchi.db", folder, keep=cfg.data.backup_keep if args.keep is None else args.keep)
    print(f"backed up to {path} ({path.stat().st_size:,} bytes); {len(listed(folder))} backup(s) kept in {folder}")


def backups_command(cfg, args):
    from uchi.data.backup import folder_for, leftovers, listed

    for path in listed(folder_for(cfg.state_dir)):
        print(f"{path}  {path.stat().st_size:,} bytes")
    for path in leftovers(folder_for(cfg.state_dir)):
        print(f"{path}  {path.stat().st_size:,} bytes  (unfinished copy: not a backup; the next backup prunes it "
              "after an hour)")


def restore_command(cfg, args):
    from uchi.data.backup import folder_for, listed, restore

    folder = folder_for(cfg.state_dir)
    if args.latest == bool(args.backup):
        raise UchiError("restore what? give a backup file or --latest")
    source = Path(args.backup) if args.backup else (listed(folder) or [None])[-1]
    if source is None:
        raise UchiError(f"no backups in {folder}; take one with `uchi data backup`")
    done = restore(source, cfg.state_dir / "uchi.db", folder, force=args.force, doing=f"restore by {actor(args)}")
    with Store.open(cfg):
        pass  # migrates a backup taken by an older uchi
    saved = f"; the replaced store was saved as {done['replaced_backup']}" if done["replaced_backup"] else ""
    if done["moved_aside"]:
        saved = f"; the live store was damaged and was moved aside to {done['moved_aside']}"
    print(f"restored {source} ({done['pairs']} pairs){saved}")


def conflicts_command(cfg, args):
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


def resolve_command(cfg, args):
    from uchi.data.conflicts import resolve

    with Store.open(cfg) as store:
        done = resolve(store, args.conflict_id, keep=None if args.both else args.keep, reviewer=actor(args))
    print(f"conflict #{done['id']} resolved: {done['resolution']}")


def dedup_command(cfg, args):
    from uchi.data.merge import scan

    with Store.open(cfg) as store:
        found = scan(store, cfg.data)
    print(f"merged {found['merged']} duplicate pair(s); flagged {found['conflicts']} new conflict(s)")


def snapshot_command(cfg, args):
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


def paraphrases_command(cfg, args):
    from uchi.data import paraphrases as found
    from uchi.data.split import shortfall

    with Store.open(cfg) as store:
        if args.confirm or args.reject:
            n = found.decide(store, args.confirm or args.reject, bool(args.confirm), actor(args))
            print(f"{'confirmed' if args.confirm else 'rejected'} {n} paraphrase(s)")
            return
        offered = found.suggest_from_answers(store)
        waiting, total = found.suggestions(store, args.limit)
        counts, short = found.counts(store), shortfall(store, cfg.data.heldout_min_per_language)
    if offered:
        print(f"{offered} new employee question(s) offered as paraphrases")
    for source in found.SOURCES:
        if source in counts:
            print(f"{source}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts[source].items())))
    for language, (held, floor) in sorted(short.items()):
        print(f"held-out {language}: {held} approved pair(s), under the floor of {floor}; pairs already stored "
              "are never moved out of training: the next import tops it up from its new pairs")
    for p in waiting:
        print(f"#{p.id} another way to ask pair {p.pair_id}? {p.question!r} (pair: {p.pair_question!r})")
    if total:
        print(f"{total} waiting; keep them with `uchi data paraphrases --confirm ID...`, drop with --reject ID...")


def register(commands) -> None:
    data = subcommands(commands, "data", "the dataset store: import, export, stats, review, conflicts, lineage, "
                       "deletion, backups")
    sub = add(data, "import", import__command, "import Q&A pairs from a .csv (with header) or .jsonl file; any bad row "
              "aborts the whole import")
    sub.add_argument("file", help="file with question and answer columns")
    sub.add_argument("--approve", action="store_true", help="approve on import (you act as the reviewer)")
    actor_option(sub)
    sub = add(data, "export", export_command, "export pairs in the import format")
    sub.add_argument("--status", choices=["pending", "approved", "rejected"], help="only pairs in this status")
    sub.add_argument("--split", choices=["train", "heldout"], help="only pairs in this split")
    sub.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="output format")
    sub.add_argument("-o", "--output", help="file to write (default: standard output)")
    add(data, "stats", stats_command, "count pairs by status, split and language")
    sub = add(data, "review", review_command, "approve or reject pairs by id")
    sub.add_argument("ids", nargs="+", type=int, help="pair ids")
    verdict = sub.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--approve", action="store_true", help="approve: the pairs may be trained on")
    verdict.add_argument("--reject", action="store_true", help="reject: the pairs are never trained on")
    actor_option(sub)
    sub = add(data, "paraphrases", paraphrases_command, "evaluation paraphrases by source; employees' questions whose "
              "answer cited an approved pair and got a thumbs up, offered as another way to ask it: confirm or reject")
    sub.add_argument("--confirm", nargs="+", type=int, metavar="ID", help="keep these suggested paraphrases")
    sub.add_argument("--reject", nargs="+", type=int, metavar="ID", help="drop these suggested paraphrases")
    sub.add_argument("--limit", type=int, default=20, help="how many waiting suggestions to list")
    actor_option(sub)
    _register_quality(data)


def _register_quality(data) -> None:
    sub = add(data, "why", why_command, "why did uchi say that: answer -> adapter -> run -> snapshot -> pairs and their "
              "authors, and the training pairs nearest to the question")
    sub.add_argument("answer_id", type=int, help="the answer's id (logged with every answer)")
    sub.add_argument("--nearest", type=int, default=5, help="how many nearest training pairs to show")
    sub.add_argument("--all", action="store_true", help="also list every pair of the snapshot")
    sub.add_argument("--json", action="store_true", help="the whole trace as JSON")
    sub = add(data, "forget", forget_command, "delete an author's contributions or some pairs, record the deletion, and "
              "mark the adapters trained on them for retraining (shows the plan unless --yes)")
    sub.add_argument("ids", nargs="*", type=int, help="pair ids to delete")
    sub.add_argument("--author", help="delete everything this author contributed (e.g. a Slack user ID)")
    sub.add_argument("--reason", default="", help="why, for the audit record (e.g. 'erasure request 2026-04')")
    sub.add_argument("--yes", action="store_true", help="really delete")
    actor_option(sub)
    sub = add(data, "backup", backup_command, "back up the store while it is in use (SQLite online backup), verify the copy, "
              "keep the newest data.backup_keep; run it nightly, e.g. cron `0 3 * * * uchi data backup`")
    sub.add_argument("--to", help="folder for the backup (default: <state>/backups)")
    sub.add_argument("--keep", type=int, help="backups to keep in that folder (default: data.backup_keep)")
    add(data, "backups", backups_command, "list the backups in <state>/backups, oldest first")
    sub = add(data, "restore", restore_command, "replace the store with a backup after checking its integrity; a store "
              "holding data is replaced only with --force, and is backed up first")
    sub.add_argument("backup", nargs="?", help="the backup file (see `uchi data backups`)")
    sub.add_argument("--latest", action="store_true", help="restore the newest backup in <state>/backups")
    sub.add_argument("--force", action="store_true", help="replace a store that holds data")
    add(data, "conflicts", conflicts_command, "list open conflicts: pairs answering the same question differently; while "
        "both are approved, neither is trained")
    sub = add(data, "resolve", resolve_command, "settle a conflict: keep one pair (the other is rejected), or both")
    sub.add_argument("conflict_id", type=int, help="the conflict's id (see `uchi data conflicts`)")
    choice = sub.add_mutually_exclusive_group(required=True)
    choice.add_argument("--keep", type=int, metavar="PAIR_ID", help="the pair that is right")
    choice.add_argument("--both", action="store_true", help="they do not really disagree: train both")
    actor_option(sub)
    add(data, "dedup", dedup_command, "look for near-duplicates among the stored pairs: merge repeats with their votes, "
        "flag conflicting answers")
    add(data, "snapshot", snapshot_command, "what the next training run would learn: pairs, top authors, what is held back "
        "(conflicts, author cap) and adapters that need retraining")
