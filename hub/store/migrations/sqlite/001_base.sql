-- The embedded store's tables as of its first versioned schema. Every statement is idempotent, so
-- a database from before schema versions is brought here by running this file once more.
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    urgency TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_status ON actions(status, created_at);

CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    action_id TEXT NOT NULL REFERENCES actions(id),
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    address TEXT NOT NULL,
    participant_id TEXT,
    language TEXT NOT NULL DEFAULT 'nl',
    urgency_rank INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    owner TEXT,
    lease_until REAL,
    provider_id TEXT,
    reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (action_id, channel, kind, seq, address)
);
-- A row changes status twice on its way out (queued -> sending -> sent); only the two small partial
-- indexes below follow it, so a fan-out rewrites as few index entries as it can.
-- Lookups by action use the unique key, which starts with action_id.
DROP INDEX IF EXISTS deliveries_due;
DROP INDEX IF EXISTS deliveries_action;
DROP INDEX IF EXISTS deliveries_provider;
CREATE INDEX IF NOT EXISTS deliveries_queue ON deliveries(channel, urgency_rank, next_at, id) WHERE status='queued';
CREATE INDEX IF NOT EXISTS deliveries_inflight ON deliveries(channel, lease_until) WHERE status='sending';
CREATE INDEX IF NOT EXISTS deliveries_provider_id ON deliveries(channel, provider_id) WHERE provider_id IS NOT NULL;
-- Lookups by contact address (a reply, a provider report) need the action that reached it: only
-- start rows are indexed; update and closing rows repeat a start row's address and participant.
DROP INDEX IF EXISTS deliveries_address;
CREATE INDEX IF NOT EXISTS deliveries_start_address ON deliveries(channel, address) WHERE kind='start';
CREATE INDEX IF NOT EXISTS deliveries_participant ON deliveries(participant_id);

CREATE TABLE IF NOT EXISTS participants (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0  -- the participants generation of the last write of this row
);
-- (no index on generation: it made every insert twice as slow; the replay after a crash scans the
-- table instead, under a second at national scale, while the snapshot file is read)

-- An erased (or renamed) participant's id and the generation of its removal: no personal data, only
-- what a copy of the index behind the store needs to drop them (see participant_changes).
CREATE TABLE IF NOT EXISTS participant_tombstones (
    id TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS participant_tombstones_generation ON participant_tombstones(generation);

-- Which state of the participants table a derived copy (the audience index snapshot) reflects: a
-- random id for this database and a generation that every change of a participant's data bumps, in
-- the transaction of the change itself (triggers, so that any writer bumps it). The same triggers
-- stamp each written row with the new generation and leave a tombstone for each removed id, so a
-- copy at an older generation can catch up with the changes since. 'participant_changes_since': the
-- generation from which row generations and tombstones are complete (a database from before they
-- existed, or whose older tombstones were pruned, cannot replay from earlier).
CREATE TABLE IF NOT EXISTS store_meta (
    key TEXT PRIMARY KEY,
    value NOT NULL
);
INSERT OR IGNORE INTO store_meta (key, value) VALUES ('database_id', lower(hex(randomblob(16))));
INSERT OR IGNORE INTO store_meta (key, value) VALUES ('participants_generation', 0);
INSERT OR IGNORE INTO store_meta (key, value) VALUES ('participant_changes_since', 0);
DROP TRIGGER IF EXISTS participants_generation_insert;
DROP TRIGGER IF EXISTS participants_generation_update;
DROP TRIGGER IF EXISTS participants_generation_delete;
CREATE TRIGGER IF NOT EXISTS participants_written_insert AFTER INSERT ON participants BEGIN
    UPDATE store_meta SET value = value + 1 WHERE key = 'participants_generation';
    UPDATE participants SET generation = (SELECT value FROM store_meta WHERE key = 'participants_generation')
        WHERE rowid = NEW.rowid;
    DELETE FROM participant_tombstones WHERE id = NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS participants_written_update AFTER UPDATE OF id, data ON participants BEGIN
    UPDATE store_meta SET value = value + 1 WHERE key = 'participants_generation';
    UPDATE participants SET generation = (SELECT value FROM store_meta WHERE key = 'participants_generation')
        WHERE rowid = NEW.rowid;
    INSERT OR REPLACE INTO participant_tombstones (id, generation)
        SELECT OLD.id, value FROM store_meta WHERE key = 'participants_generation' AND OLD.id <> NEW.id;
    DELETE FROM participant_tombstones WHERE id = NEW.id AND OLD.id <> NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS participants_written_delete AFTER DELETE ON participants BEGIN
    UPDATE store_meta SET value = value + 1 WHERE key = 'participants_generation';
    INSERT OR REPLACE INTO participant_tombstones (id, generation)
        SELECT OLD.id, value FROM store_meta WHERE key = 'participants_generation';
END;

CREATE TABLE IF NOT EXISTS tips (
    id INTEGER PRIMARY KEY,
    action_id TEXT NOT NULL REFERENCES actions(id),
    text TEXT NOT NULL,
    channel TEXT,
    participant_id TEXT,
    sender TEXT,
    photo BLOB,
    photo_type TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tips_action ON tips(action_id, id);

CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    verb TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_subject ON audit(subject, id);

CREATE TABLE IF NOT EXISTS records (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (channel, key)
);

CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    action_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT,
    text TEXT NOT NULL,
    html TEXT,
    extra TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_action ON outbox(action_id, id);
