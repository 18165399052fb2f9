-- Which pairs changed in a way retrieval can see, in order, so that the in-memory embedding index applies
-- only those (a full reload took 1 s at 100k pairs) and checks one row before a search instead of scanning
-- `pairs` (31 ms at 100k). The last 10,000 changes are kept; an index further behind reloads everything.
CREATE TABLE retrieval_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pair_id INTEGER NOT NULL
);
CREATE TRIGGER retrieval_changes_insert AFTER INSERT ON pairs BEGIN
    INSERT INTO retrieval_changes (pair_id) VALUES (new.id);
END;
CREATE TRIGGER retrieval_changes_delete AFTER DELETE ON pairs BEGIN
    INSERT INTO retrieval_changes (pair_id) VALUES (old.id);
END;
CREATE TRIGGER retrieval_changes_update AFTER UPDATE OF status, question, answer ON pairs BEGIN
    INSERT INTO retrieval_changes (pair_id) VALUES (new.id);
END;
CREATE TRIGGER retrieval_changes_prune AFTER INSERT ON retrieval_changes BEGIN
    DELETE FROM retrieval_changes WHERE id <= new.id - 10000;
END;
-- An edited pair's embedding describes its old text: drop it so that the next search encodes the new one.
CREATE TRIGGER pair_embeddings_stale AFTER UPDATE OF question, answer ON pairs BEGIN
    DELETE FROM pair_embeddings WHERE pair_id = new.id;
END;
-- How many pairs hold each trigram, so that a query can keep its rarest trigrams (data/retrieval.py).
CREATE VIRTUAL TABLE pairs_vocab USING fts5vocab(pairs_index, 'row');
