-- The routing rules in force, by version (the highest is in force). On a shared store every hub of
-- the cluster follows it (hub.rules_cluster); the embedded store keeps the same table.
CREATE TABLE IF NOT EXISTS routing_rules (
    version INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    loaded_at REAL NOT NULL
);
