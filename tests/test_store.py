
from uchi.data import snapshot
from uchi.data.export import export_rows, render
from uchi.data.importer import import_file
from uchi.data.migrations import migrations
from uchi.data.pairs import assign_split, review
from uchi.data.samples import company_file as sample_company
from uchi.data.store import Store


def test_store_is_wal_and_migrated(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version == len(migrations())
    assert [r["name"] for r in store.rows("SELECT name FROM schema_migrations ORDER BY name")] == [
        name for name, _ in migrations()]
    assert {"pairs", "paraphrases", "answers", "ratings", "runs", "adapters", "evals", "promotions"} <= set(
        store.db.table_names())


def test_reopening_keeps_data(cfg, store, tmp_path):
    import_file(store, cfg, sample_company(), author="demo")
    with Store.open(cfg) as again:
        assert again.one("SELECT COUNT(*) AS n FROM pairs")["n"] >= 150


def test_split_is_deterministic_and_heldout_never_trained(store, cfg):
    import_file(store, cfg, sample_company(), author="demo", approve=True)
    heldout = {p["question"] for p in export_rows(store, split="heldout")}
    assert heldout and all(assign_split(q, cfg.data.heldout_percent) == "heldout" for q in heldout)
    snap = snapshot.current(store)
    trained = {p["question"] for p in snap.pairs}
    assert trained and not trained & heldout


def test_snapshot_hash_names_content(store, cfg):
    import_file(store, cfg, sample_company(), author="demo", approve=True)
    first = snapshot.current(store)
    assert snapshot.current(store).hash == first.hash
    review(store, [first.pairs[0]["id"]], "rejected", "U_REVIEWER")
    second = snapshot.current(store)
    assert second.hash != first.hash and len(second.pairs) == len(first.pairs) - 1


def test_pending_pairs_are_not_trained(store, cfg):
    import_file(store, cfg, sample_company(), author="demo")
    assert store.one("SELECT COUNT(*) AS n FROM pairs WHERE status = 'pending'")["n"] >= 150
    import pytest

    from uchi.errors import UchiError

    with pytest.raises(UchiError, match="no approved training pairs"):
        snapshot.current(store)


def test_export_round_trips_through_import(store, cfg, tmp_path, isolated_state):
    import_file(store, cfg, sample_company(), author="demo")
    for fmt in ("jsonl", "csv"):
        path = tmp_path / f"out.{fmt}"
        path.write_text(render(export_rows(store), fmt), encoding="utf-8")
        with Store(tmp_path / f"copy-{fmt}.db") as copy:
            import_file(copy, cfg, path, author="again")
            original = [(p["question"], p["answer"], p["facts"]) for p in export_rows(store)]
            copied = [(p["question"], p["answer"], p["facts"]) for p in export_rows(copy)]
            assert copied == original
