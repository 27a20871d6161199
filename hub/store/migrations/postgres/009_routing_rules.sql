-- The routing rules in force, by version (the highest is in force): every hub of the cluster follows
-- it, woken by NOTIFY burgerhub_rules and checking now and then (hub.rules_cluster).
CREATE TABLE routing_rules (
    version BIGINT PRIMARY KEY,
    text TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    loaded_at DOUBLE PRECISION NOT NULL
);
