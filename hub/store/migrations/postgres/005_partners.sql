-- Organisations that issue actions, their people's tokens (hashed), the CAP messages that came in or
-- went out per action, and what the public overview shows per action type.
CREATE TABLE IF NOT EXISTS organisations (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE IF NOT EXISTS organisation_tokens (
    id TEXT PRIMARY KEY,
    organisation TEXT NOT NULL REFERENCES organisations(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS organisation_tokens_org ON organisation_tokens(organisation);

-- an action's organisation is kept in its data; this index serves each organisation its own list
CREATE INDEX IF NOT EXISTS actions_organisation ON actions(((data::jsonb) ->> 'organisation'), created_at);

CREATE TABLE IF NOT EXISTS cap_messages (
    sender TEXT NOT NULL,
    identifier TEXT NOT NULL,
    sent TEXT NOT NULL,
    action_id TEXT NOT NULL REFERENCES actions(id),
    version INTEGER NOT NULL,
    msg_type TEXT NOT NULL,
    organisation TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (sender, identifier)
);
CREATE INDEX IF NOT EXISTS cap_messages_action ON cap_messages(action_id, version);

CREATE TABLE IF NOT EXISTS public_policies (
    action_type TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
