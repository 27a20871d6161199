-- Evaluation: how often each participant was reached in a period is counted from the start rows of the
-- period's actions. This index holds, per action, who each start row went to and its status, so that
-- count reads the index alone (a few bytes per row, in action order) instead of every ledger row's page.
-- Its key changes with a row's status; the entry moves within its action's participant, on the same page.
CREATE INDEX IF NOT EXISTS deliveries_reach ON deliveries(action_id, participant_id, status) WHERE kind='start';
