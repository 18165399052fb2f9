-- Dataset quality and safety: the near-duplicate index, merged submissions and votes, conflicts,
-- deletions and the adapters they leave needing retraining.

-- MinHash LSH bands of each pair's question: pairs sharing a (band, hash) are near-duplicate candidates.
CREATE TABLE question_bands (
    pair_id INTEGER NOT NULL REFERENCES pairs (id) ON DELETE CASCADE,
    band INTEGER NOT NULL,
    hash INTEGER NOT NULL,
    PRIMARY KEY (pair_id, band)
);
CREATE INDEX question_bands_lookup ON question_bands (band, hash);
-- An edited question is indexed again on the next insert.
CREATE TRIGGER question_bands_stale AFTER UPDATE OF question ON pairs BEGIN
    DELETE FROM question_bands WHERE pair_id = NEW.id;
END;

-- Rate limits and the author cap count by author and time.
CREATE INDEX pairs_author ON pairs (author, created_at);

-- A submission that repeated an existing pair (same question, agreeing answer): kept, redacted, as a record;
-- merged_from is the id the repeat had when two stored pairs were merged.
CREATE TABLE pair_merges (
    id INTEGER PRIMARY KEY,
    pair_id INTEGER NOT NULL REFERENCES pairs (id) ON DELETE CASCADE,
    merged_from INTEGER,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    author TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX pair_merges_author ON pair_merges (author, created_at);

-- Endorsements: each other author who submitted the same pair, carried over when pairs merge.
CREATE TABLE pair_votes (
    pair_id INTEGER NOT NULL REFERENCES pairs (id) ON DELETE CASCADE,
    user TEXT NOT NULL,
    value INTEGER NOT NULL CHECK (value IN (-1, 1)),
    created_at TEXT NOT NULL,
    PRIMARY KEY (pair_id, user)
);

-- Two pairs answering the same question differently. While open and both approved, neither is trained.
CREATE TABLE conflicts (
    id INTEGER PRIMARY KEY,
    pair_a INTEGER NOT NULL REFERENCES pairs (id) ON DELETE CASCADE,
    pair_b INTEGER NOT NULL REFERENCES pairs (id) ON DELETE CASCADE,
    similarity REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolution TEXT,
    resolved_by TEXT,
    resolved_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (pair_a, pair_b)
);
CREATE INDEX conflicts_status ON conflicts (status);

-- Every `uchi data forget`: what was asked, by whom, and how many rows went; never the deleted text.
CREATE TABLE deletions (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    pair_ids TEXT NOT NULL,
    counts TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

-- Adapters whose snapshot held data that has since been deleted: their weights still carry it.
CREATE TABLE retrain_needed (
    adapter_version TEXT NOT NULL REFERENCES adapters (version),
    deletion_id INTEGER NOT NULL REFERENCES deletions (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (adapter_version, deletion_id)
);
