-- Where each evaluation paraphrase came from, so that the eval report and the gate count evidence per source:
-- import (the import file), reviewer (typed in the review or teach form), employee (an employee's own question
-- whose answer cited the pair and got a thumbs up; offered to reviewers, `suggested` until confirmed) and
-- generated (reworded by the base model for evaluation only, never human-written). `origin` keeps the old
-- free-form source (e.g. import:handbook.csv); `answer_id` the employee's answer, so forgetting it forgets this.
CREATE TABLE paraphrases_sourced (
    id INTEGER PRIMARY KEY,
    pair_id INTEGER NOT NULL REFERENCES pairs (id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('import', 'reviewer', 'employee', 'generated')),
    status TEXT NOT NULL DEFAULT 'confirmed' CHECK (status IN ('suggested', 'confirmed', 'rejected')),
    origin TEXT NOT NULL DEFAULT '',
    answer_id INTEGER REFERENCES answers (id) ON DELETE CASCADE,
    reviewed_by TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (pair_id, question)
);
INSERT INTO paraphrases_sourced (id, pair_id, question, source, origin, created_at)
    SELECT id, pair_id, question, CASE WHEN source LIKE 'import%' OR source = 'sample' THEN 'import' ELSE 'reviewer' END,
           source, created_at FROM paraphrases;
DROP TABLE paraphrases;
ALTER TABLE paraphrases_sourced RENAME TO paraphrases;
CREATE INDEX paraphrases_status ON paraphrases (status, source);
