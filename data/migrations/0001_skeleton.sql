-- The skeleton's tables.
CREATE TABLE pairs (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT NOT NULL DEFAULT '',
    facts TEXT NOT NULL DEFAULT '[]',
    source TEXT NOT NULL,
    author TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    split TEXT NOT NULL CHECK (split IN ('train', 'heldout')),
    question_key TEXT NOT NULL UNIQUE,
    reviewed_by TEXT,
    reviewed_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX pairs_status_split ON pairs (status, split);
CREATE TABLE paraphrases (
    id INTEGER PRIMARY KEY,
    pair_id INTEGER NOT NULL REFERENCES pairs (id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (pair_id, question)
);
CREATE TABLE snapshots (
    hash TEXT PRIMARY KEY,
    pair_ids TEXT NOT NULL,
    n_pairs INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    snapshot TEXT NOT NULL REFERENCES snapshots (hash),
    base_model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    params TEXT NOT NULL,
    pid INTEGER,
    adapter_version TEXT,
    error TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE adapters (
    version TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    snapshot TEXT NOT NULL REFERENCES snapshots (hash),
    base_model TEXT NOT NULL,
    path TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE evals (
    id INTEGER PRIMARY KEY,
    adapter_version TEXT NOT NULL REFERENCES adapters (version),
    production_version TEXT,
    metrics TEXT NOT NULL,
    passed INTEGER NOT NULL,
    reasons TEXT NOT NULL,
    report_path TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE aliases (
    name TEXT PRIMARY KEY,
    version TEXT REFERENCES adapters (version),
    updated_at TEXT NOT NULL
);
CREATE TABLE promotions (
    id INTEGER PRIMARY KEY,
    alias TEXT NOT NULL,
    from_version TEXT,
    to_version TEXT,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    forced INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE answers (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    adapter_version TEXT,
    served_model TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    asker TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE TABLE ratings (
    id INTEGER PRIMARY KEY,
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    user TEXT NOT NULL,
    value INTEGER NOT NULL CHECK (value IN (-1, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (answer_id, user)
);
