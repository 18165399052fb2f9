-- A trigram full-text index over every pair, kept in step by triggers, so that approving, editing or
-- deleting a pair changes retrieval at once (the query keeps only approved pairs). Trigrams need no
-- morphological analyser for Japanese.
CREATE VIRTUAL TABLE pairs_index USING fts5(question, answer, content='pairs', content_rowid='id', tokenize='trigram');
INSERT INTO pairs_index (rowid, question, answer) SELECT id, question, answer FROM pairs;
CREATE TRIGGER pairs_index_insert AFTER INSERT ON pairs BEGIN
    INSERT INTO pairs_index (rowid, question, answer) VALUES (new.id, new.question, new.answer);
END;
CREATE TRIGGER pairs_index_delete AFTER DELETE ON pairs BEGIN
    INSERT INTO pairs_index (pairs_index, rowid, question, answer) VALUES ('delete', old.id, old.question, old.answer);
END;
CREATE TRIGGER pairs_index_update AFTER UPDATE OF question, answer ON pairs BEGIN
    INSERT INTO pairs_index (pairs_index, rowid, question, answer) VALUES ('delete', old.id, old.question, old.answer);
    INSERT INTO pairs_index (rowid, question, answer) VALUES (new.id, new.question, new.answer);
END;
-- The pairs an answer was given with, shown as its sources.
CREATE TABLE answer_sources (
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    pair_id INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (answer_id, pair_id)
);
-- Sentence embeddings of pairs (question + answer), computed lazily at query time for any approved pair
-- that lacks one; `model` names the encoder so that a new encoder recomputes them.
CREATE TABLE pair_embeddings (
    pair_id INTEGER PRIMARY KEY REFERENCES pairs (id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    vector BLOB NOT NULL
);
