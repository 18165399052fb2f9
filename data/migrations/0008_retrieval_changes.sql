-- A counter bumped by every change to a pair retrieval can see, so that the in-memory embedding index
-- checks one row before a search instead of scanning `pairs` (31 ms of every search at 100k pairs).
CREATE TABLE retrieval_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n INTEGER NOT NULL
);
INSERT INTO retrieval_changes (id, n) VALUES (1, 0);
CREATE TRIGGER retrieval_changes_insert AFTER INSERT ON pairs BEGIN
    UPDATE retrieval_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER retrieval_changes_delete AFTER DELETE ON pairs BEGIN
    UPDATE retrieval_changes SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER retrieval_changes_update AFTER UPDATE OF status, question, answer ON pairs BEGIN
    UPDATE retrieval_changes SET n = n + 1 WHERE id = 1;
END;
-- An edited pair's embedding describes its old text: drop it so that the next search encodes the new one.
CREATE TRIGGER pair_embeddings_stale AFTER UPDATE OF question, answer ON pairs BEGIN
    DELETE FROM pair_embeddings WHERE pair_id = new.id;
END;
-- How many pairs hold each trigram, so that a query can keep its rarest trigrams (data/retrieval.py).
CREATE VIRTUAL TABLE pairs_vocab USING fts5vocab(pairs_index, 'row');
