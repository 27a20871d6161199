-- Uploaded photos live in the store (not in one process's data folder), so any hub serves them.
CREATE TABLE IF NOT EXISTS photos (
    name TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at REAL NOT NULL
);
