-- Evaluation: each ended action's delivery figures, kept once its ledger has settled (ended, nothing
-- queued or in flight, no change for a while). They are the ledger's final counts, not a copy that
-- follows it: they outlive the ledger rows a retention period removes. Counts only, no personal data.
CREATE TABLE IF NOT EXISTS action_figures (
    action_id TEXT PRIMARY KEY REFERENCES actions(id),
    kept_at REAL NOT NULL,
    figures TEXT NOT NULL
);
-- reports select actions by the time they started
CREATE INDEX IF NOT EXISTS actions_created ON actions(created_at);
-- Where participants live, counted per grid cell (counts only) at a stated time and participants
-- generation: reading every participant record takes seconds for millions, so a report reuses the
-- count while the participants are unchanged or the count is less than an hour old.
CREATE TABLE IF NOT EXISTS participant_cells (
    step REAL PRIMARY KEY,
    database_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    counted_at REAL NOT NULL,
    cells TEXT NOT NULL
);
