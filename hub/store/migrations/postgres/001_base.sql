-- The shared store on PostgreSQL: the same tables as the embedded store, plus what several hub
-- processes need to work together (processes' heartbeats, one rate budget per channel).
-- Times are seconds since the epoch (double precision), as in the embedded store.

CREATE TABLE actions (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    urgency TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX actions_status ON actions(status, created_at);

CREATE TABLE deliveries (
    id BIGSERIAL PRIMARY KEY,
    action_id TEXT NOT NULL REFERENCES actions(id),
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    address TEXT NOT NULL,
    participant_id TEXT,
    language TEXT NOT NULL DEFAULT 'nl',
    urgency_rank SMALLINT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    owner TEXT,
    lease_until DOUBLE PRECISION,
    provider_id TEXT,
    reason TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    UNIQUE (action_id, channel, kind, seq, address)
);
CREATE INDEX deliveries_queue ON deliveries(channel, urgency_rank, next_at, id) WHERE status='queued';
CREATE INDEX deliveries_inflight ON deliveries(channel, lease_until) WHERE status='sending';
CREATE INDEX deliveries_provider_id ON deliveries(channel, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX deliveries_start_address ON deliveries(channel, address) WHERE kind='start';
CREATE INDEX deliveries_participant ON deliveries(participant_id);

-- Participants and the generation that every change of one bumps (see hub.store.postgres):
-- writers of participants are serialised by a transaction lock, so generations are handed out in
-- commit order and a follower that read generation G has seen every change up to G.
CREATE TABLE participants (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX participants_generation ON participants(generation);

CREATE TABLE participant_tombstones (
    id TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);
CREATE INDEX participant_tombstones_generation ON participant_tombstones(generation);

CREATE SEQUENCE participants_generation_seq;

-- store_meta: database_id, participants_generation, participant_changes_since, schema_version
INSERT INTO store_meta (key, value) VALUES
    ('database_id', md5(random()::text || clock_timestamp()::text)),
    ('participants_generation', '0'),
    ('participant_changes_since', '0')
ON CONFLICT (key) DO NOTHING;

CREATE FUNCTION burgerhub_participants_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- one writer of participants at a time, until it commits: generations follow commit order
    PERFORM pg_advisory_xact_lock(7301000001);
    RETURN NULL;
END $$;

CREATE FUNCTION burgerhub_participant_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.generation := nextval('participants_generation_seq');
    IF TG_OP = 'INSERT' THEN
        DELETE FROM participant_tombstones WHERE id = NEW.id;
    ELSIF OLD.id <> NEW.id THEN
        INSERT INTO participant_tombstones (id, generation) VALUES (OLD.id, NEW.generation)
            ON CONFLICT (id) DO UPDATE SET generation = excluded.generation;
        DELETE FROM participant_tombstones WHERE id = NEW.id;
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION burgerhub_participant_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO participant_tombstones (id, generation) VALUES (OLD.id, nextval('participants_generation_seq'))
        ON CONFLICT (id) DO UPDATE SET generation = excluded.generation;
    RETURN OLD;
END $$;

CREATE FUNCTION burgerhub_participants_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last BIGINT;
BEGIN
    SELECT last_value INTO last FROM participants_generation_seq;
    UPDATE store_meta SET value = last::text
        WHERE key = 'participants_generation' AND value::bigint < last;
    IF FOUND THEN
        PERFORM pg_notify('burgerhub_participants', last::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER participants_lock BEFORE INSERT OR UPDATE OR DELETE ON participants
    FOR EACH STATEMENT EXECUTE FUNCTION burgerhub_participants_lock();
CREATE TRIGGER participants_written BEFORE INSERT OR UPDATE OF id, data ON participants
    FOR EACH ROW EXECUTE FUNCTION burgerhub_participant_written();
CREATE TRIGGER participants_removed AFTER DELETE ON participants
    FOR EACH ROW EXECUTE FUNCTION burgerhub_participant_removed();
CREATE TRIGGER participants_stamp AFTER INSERT OR UPDATE OR DELETE ON participants
    FOR EACH STATEMENT EXECUTE FUNCTION burgerhub_participants_stamp();

CREATE TABLE tips (
    id BIGSERIAL PRIMARY KEY,
    action_id TEXT NOT NULL REFERENCES actions(id),
    text TEXT NOT NULL,
    channel TEXT,
    participant_id TEXT,
    sender TEXT,
    photo BYTEA,
    photo_type TEXT,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX tips_action ON tips(action_id, id);

CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    verb TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit(subject, id);

CREATE TABLE records (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (channel, key)
);

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL,
    channel TEXT NOT NULL,
    action_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT,
    text TEXT NOT NULL,
    html TEXT,
    extra TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX outbox_action ON outbox(action_id, id);

CREATE TABLE photos (
    name TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);

-- Every running hub process, renewed every few seconds: the rows a process that stopped renewing
-- holds in flight are given back to the queue without waiting for their leases.
CREATE TABLE hub_processes (
    owner TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    seen_at DOUBLE PRECISION NOT NULL
);

-- One token bucket per channel for the whole cluster: a provider account's rate does not grow with
-- the number of hub processes.
CREATE TABLE rate_buckets (
    channel TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
