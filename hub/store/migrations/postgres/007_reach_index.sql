-- Evaluation: how often each participant was reached in a period is counted per action of the period
-- (hub.store.reach). The embedded store needs an index for it (deliveries_reach); PostgreSQL does not:
-- the ledger's unique key (action_id, channel, kind, ...) finds an action's start rows, and an index
-- holding a row's status would cost every claim and outcome its heap-only update (see 002). This
-- version keeps both backends' schema versions in step.
SELECT 1;
