-- Single-use keys spent by any process of a cluster (a console ticket's nonce): the primary key makes
-- spending atomic, so a key is accepted once however many hubs see it; rows go once past ``until``.
CREATE TABLE IF NOT EXISTS spent_once (
    key TEXT PRIMARY KEY,
    until REAL NOT NULL
);
