-- The source an answer quoted: the best retrieved pair, shown verbatim beside the model's words when it is
-- similar enough to the question (retrieval.quote), so a person sees the approved answer itself.
ALTER TABLE answer_sources ADD COLUMN quoted INTEGER NOT NULL DEFAULT 0 CHECK (quoted IN (0, 1));
