-- Proving contacts and signing in without a password (hub.verification).
-- A pending proof: a code sent to a phone number, or a link sent to an e-mail address. Only the HMAC
-- of the code or link token is kept; a row is deleted when used, replaced or expired, and with
-- its participant when they are erased.
CREATE TABLE verifications (
    id TEXT PRIMARY KEY,             -- HMAC of the link token, or of (participant, number) for a code
    purpose TEXT NOT NULL,           -- 'phone', 'email', 'signup', 'signin'
    participant_id TEXT,             -- none yet for a sign-up
    target TEXT NOT NULL,            -- the E.164 number or the e-mail address being proven
    secret_hash TEXT NOT NULL,       -- HMAC of the code or of the link token
    data TEXT NOT NULL DEFAULT '{}', -- what a sign-up needs afterwards (language)
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX verifications_participant ON verifications(participant_id);
CREATE INDEX verifications_expires ON verifications(expires_at);

-- Sliding-window counters of sensitive requests (codes and links sent, per number, per address and
-- per client). Keys are HMACs, never a number or address in clear.
CREATE TABLE rate_hits (
    key TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX rate_hits_key ON rate_hits(key, at);

-- A participant's signed-in devices: a bearer token (only its hash kept) that expires.
CREATE TABLE participant_sessions (
    token_hash TEXT PRIMARY KEY,
    participant_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX participant_sessions_participant ON participant_sessions(participant_id);

-- Participants who capped the actions that may reach them in any 7 days (most set none): read when
-- an action's audience is chosen, with the starts the ledger holds for them in the last 7 days.
CREATE TABLE participant_caps (
    participant_id TEXT PRIMARY KEY,
    per_week INTEGER NOT NULL
);
