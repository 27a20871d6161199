-- Evaluation: how often each participant was reached in a period is counted from the start rows of the
-- period's actions that reached someone (hub.store.reach). This index holds just those rows, per action
-- in participant order, so that the count reads the index alone (a few bytes per row, in action order,
-- no status to test) instead of every ledger row's page. A row enters it when its start message goes
-- out (queued -> sending), is rewritten at each later status change and leaves it if the message
-- fails: claims and outcomes pay for it (bench/README.md, evaluation, measures how much).
CREATE INDEX IF NOT EXISTS deliveries_reach ON deliveries(action_id, participant_id)
    WHERE kind='start' AND status IN ('sending','sent','delivered');
