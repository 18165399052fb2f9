-- Eval results per (system, task, items), reused by later gates: versions are immutable, so a score is too.
CREATE TABLE eval_cache (
    key TEXT PRIMARY KEY,
    system TEXT NOT NULL,
    task TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- Blind side-by-side votes: a reviewer saw two answers to the same question in random order.
CREATE TABLE sbs_votes (
    id INTEGER PRIMARY KEY,
    eval_id INTEGER NOT NULL REFERENCES evals (id),
    item INTEGER NOT NULL,
    voter TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('candidate', 'production', 'tie')),
    created_at TEXT NOT NULL,
    UNIQUE (eval_id, item, voter)
);
