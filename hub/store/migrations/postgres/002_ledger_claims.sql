-- The ledger's claim state apart from its rows, so that a claim and an outcome rewrite a ledger row
-- in place (a heap-only update: no index entry written) instead of adding an entry to each of its
-- indexes twice per message.
--
-- * deliveries_pending holds one narrow row per ledger row still to be sent: queued (owner NULL) or
--   leased to a hub process (owner, lease_until). Claims take its rows with FOR UPDATE SKIP LOCKED;
--   an outcome deletes the row, a retry gives it back. A ledger row is 'queued' or 'sending' exactly
--   while it has a row here, and every change of that state goes through this row (its lock decides
--   between a claim, a cancellation and a requeue).
-- * delivery_receipts maps a provider's message id to the ledger row it belongs to (provider status
--   reports), so no index of deliveries reads a column that claims or outcomes change.
-- * deliveries keeps each row's status, attempts and provider id as before (every reader of the
--   ledger sees what it saw), without the indexes on them; its owner and lease_until columns stay
--   empty (a row's lease is its pending row). It leaves 55 % of each page free: a claim or an outcome
--   changes every row of a page in one statement, and each new version must fit beside the old one.

CREATE TABLE deliveries_pending (
    id BIGINT PRIMARY KEY,              -- deliveries.id
    channel TEXT NOT NULL,
    urgency_rank SMALLINT NOT NULL,
    next_at DOUBLE PRECISION NOT NULL,
    owner TEXT,
    lease_until DOUBLE PRECISION
);
CREATE INDEX deliveries_pending_due ON deliveries_pending(channel, urgency_rank, next_at, id) WHERE owner IS NULL;

CREATE TABLE delivery_receipts (
    channel TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    id BIGINT NOT NULL                  -- deliveries.id
);
CREATE INDEX delivery_receipts_provider_id ON delivery_receipts(channel, provider_id);

-- what an existing ledger has in flight and the provider ids it recorded
INSERT INTO deliveries_pending (id, channel, urgency_rank, next_at, owner, lease_until)
    SELECT id, channel, urgency_rank, next_at, owner, lease_until FROM deliveries
    WHERE status = 'sending' AND owner IS NOT NULL;
INSERT INTO deliveries_pending (id, channel, urgency_rank, next_at)
    SELECT id, channel, urgency_rank, next_at FROM deliveries
    WHERE status = 'queued' OR (status = 'sending' AND owner IS NULL);
UPDATE deliveries SET status = 'queued' WHERE status = 'sending' AND owner IS NULL;
UPDATE deliveries SET owner = NULL, lease_until = NULL WHERE owner IS NOT NULL OR lease_until IS NOT NULL;
INSERT INTO delivery_receipts (channel, provider_id, id)
    SELECT channel, provider_id, id FROM deliveries WHERE provider_id IS NOT NULL;

DROP INDEX deliveries_queue;
DROP INDEX deliveries_inflight;
DROP INDEX deliveries_provider_id;
ALTER TABLE deliveries SET (fillfactor = 45);
