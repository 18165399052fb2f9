-- Serving: canaries, and which route (alias) and canary gave each answer, so ratings count per version.

-- A canary: the candidate alias answers a share of questions while production answers the rest.
CREATE TABLE canaries (
    id INTEGER PRIMARY KEY,
    version TEXT NOT NULL REFERENCES adapters (version),
    production_version TEXT REFERENCES adapters (version),
    share REAL NOT NULL CHECK (share > 0 AND share < 1),
    actor TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT CHECK (outcome IN ('promoted', 'stopped', 'rolled back')),
    detail TEXT NOT NULL DEFAULT ''
);
-- At most one canary runs at a time.
CREATE UNIQUE INDEX canaries_running ON canaries ((ended_at IS NULL)) WHERE ended_at IS NULL;

-- 'production' or 'candidate'; NULL for answers given before this migration.
ALTER TABLE answers ADD COLUMN alias TEXT;
-- The canary running when the answer was given (both arms), NULL outside canaries.
ALTER TABLE answers ADD COLUMN canary_id INTEGER REFERENCES canaries (id);
CREATE INDEX answers_canary ON answers (canary_id, alias);
