-- The trainer's tables: where a run trains, how far it got, what it generated, and the nightly job.

-- Where a run's process lives (a Slurm job runs on another host), its log, and its last checkpoint,
-- so a killed run can be reaped, followed and resumed.
ALTER TABLE runs ADD COLUMN runner TEXT NOT NULL DEFAULT 'inprocess'
    CHECK (runner IN ('inprocess', 'local', 'slurm'));
ALTER TABLE runs ADD COLUMN job_id TEXT;
ALTER TABLE runs ADD COLUMN host TEXT;
ALTER TABLE runs ADD COLUMN log_path TEXT;
ALTER TABLE runs ADD COLUMN checkpoint_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;

-- Each validation of a run as it happens (the bot and `uchi train` show progress from here).
CREATE TABLE run_validations (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    step INTEGER NOT NULL,
    epoch REAL NOT NULL,
    train_loss REAL,
    val_loss REAL,
    general_loss REAL,
    best INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, step)
);

-- Text the base model generated once for training (replay answers, question phrasings), reused by every run.
CREATE TABLE generations (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('replay', 'phrasing')),
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    output TEXT NOT NULL,
    backend TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- `uchi nightly`: one row per night, trained or skipped, and why.
CREATE TABLE nightly_runs (
    id INTEGER PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('running', 'skipped', 'succeeded', 'failed')),
    reason TEXT NOT NULL DEFAULT '',
    new_pairs INTEGER,
    run_id INTEGER REFERENCES runs (id),
    eval_id INTEGER REFERENCES evals (id),
    posted INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
