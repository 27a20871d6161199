-- Evaluation: how often each participant was reached in a period is counted from the start rows of the
-- period's actions that reached someone (hub.store.reach). This index holds the start rows that were
-- sent or delivered, per action in participant order, so that the count reads the index alone (a few
-- bytes per row, in action order, no status to test) instead of every ledger row's page. It leaves
-- out rows in flight (sending): a claim does not touch it, and a row enters it once, when its start
-- message is marked sent (and is rewritten if the provider later reports it delivered). An action
-- with start rows still in flight when a report is drawn has those rows read from the ledger instead
-- (bench/README.md, evaluation, measures what the index costs claims and outcomes).
CREATE INDEX IF NOT EXISTS deliveries_reach ON deliveries(action_id, participant_id)
    WHERE kind='start' AND status IN ('sent','delivered');
