-- The Slack bot's tables. A correction is a pending pair linked to the answer it corrects.
ALTER TABLE pairs ADD COLUMN answer_id INTEGER REFERENCES answers (id);

-- Where each answer was posted: a rating or correction button is honoured only on the answer's own message.
CREATE TABLE answer_messages (
    answer_id INTEGER PRIMARY KEY REFERENCES answers (id),
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    thread_ts TEXT,
    UNIQUE (channel, ts)
);

-- A thumbs-down plus a correction: chosen = the correction, rejected = the bot's answer (redacted like pairs).
CREATE TABLE preference_pairs (
    id INTEGER PRIMARY KEY,
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    pair_id INTEGER REFERENCES pairs (id),
    prompt TEXT NOT NULL,
    chosen TEXT NOT NULL,
    rejected TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Refused and forced actions, and admin decisions taken in Slack: who, what, on what, why.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL CHECK (outcome IN ('refused', 'forced', 'done')),
    detail TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX audit_actor ON audit (actor, created_at);

-- Slack retries an event and sends app_mention and message for one message: the first claim wins.
CREATE TABLE event_claims (
    key TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE INDEX event_claims_created ON event_claims (created_at);

-- The eval report message carrying Promote / Reject: a button is honoured only for the version it was posted with.
CREATE TABLE report_messages (
    eval_id INTEGER PRIMARY KEY REFERENCES evals (id),
    version TEXT NOT NULL REFERENCES adapters (version),
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    decision TEXT CHECK (decision IN ('promoted', 'rejected')),
    decided_by TEXT,
    decided_at TEXT,
    UNIQUE (channel, ts)
);
