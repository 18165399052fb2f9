-- The generation cache also keeps the eval's own rewordings (evals/rewording.py), made apart from training's
-- phrasings; SQLite cannot widen a CHECK in place, so the table is rebuilt with its rows.
CREATE TABLE generations_new (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('replay', 'phrasing', 'eval-rewording')),
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    output TEXT NOT NULL,
    backend TEXT NOT NULL,
    created_at TEXT NOT NULL
);
INSERT INTO generations_new SELECT key, kind, model, prompt, output, backend, created_at FROM generations;
DROP TABLE generations;
ALTER TABLE generations_new RENAME TO generations;
